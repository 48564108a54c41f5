"""The closing searches of `codesift run`: the example queries through `codesift search`'s default model."""

import shutil
from pathlib import Path

from codesift.index.demo import show_default_search

FIXTURE = Path(__file__).parent / "fixtures" / "repo_search" / "code"


def test_default_search_answers_the_examples_with_the_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CODESIFT_MODEL", raising=False)
    repo = shutil.copytree(FIXTURE, tmp_path / "code")
    show_default_search(["reverse a string", "area of a circle"], [str(repo)])
    out = capsys.readouterr().out
    assert "The same searches with `codesift search" in out and "models/" in out
    first_hits = [block.splitlines()[1] for block in out.split("\nsearch: ")[1:]]
    assert "code/web/slugify.js:39  reverseString" in first_hits[0]
    assert "code/geometry.py" in first_hits[1] and "circle_area" in first_hits[1]
    assert list((tmp_path / "cache" / "index").iterdir())  # the index `codesift search` reuses


def test_default_search_is_skipped_with_the_reason(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("CODESIFT_MODEL", str(tmp_path / "no-model"))
    show_default_search(["anything"], [str(tmp_path)])
    assert capsys.readouterr().out == ""
    assert "skipped the example searches" in caplog.text and "no ONNX model" in caplog.text
