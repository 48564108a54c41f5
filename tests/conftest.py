from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO.parent / "shared" / "benchmarks"


@pytest.fixture
def tiny_recipe_path() -> Path:
    return REPO / "recipes" / "tiny.yaml"
