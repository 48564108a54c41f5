import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "data" / "benchmarks"  # carried in the repository


@pytest.fixture(autouse=True)
def no_search_server(monkeypatch):
    """A search in a test never starts (or talks to) a warm search server left running after it."""
    monkeypatch.setenv("CODESIFT_SERVER", "off")


@pytest.fixture
def tiny_recipe_path() -> Path:
    return REPO / "recipes" / "tiny.yaml"


@pytest.fixture
def local_ray(monkeypatch):
    """A local Ray for one test: no auth token, a short temp dir (Unix socket paths must stay under 107 bytes),
    and its session folder removed afterwards."""
    pytest.importorskip("ray")
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    shutil.rmtree(ray_tmp, ignore_errors=True)
