"""The pipeline's `index` stage: embeds `index.paths` with the run's exported model into the stage folder."""

import json
import sys
import types
from pathlib import Path

import pytest

from codesift.config import load_recipe
from codesift.index import CodeIndex
from codesift.runs import MANIFEST, RunDir, write_json
from codesift.runtime.fake import HashEncoder
from codesift.stages import STAGES

from conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "repo_search" / "code"


def test_index_stage_builds_a_searchable_index(tmp_path, monkeypatch):
    loaded = []
    fake = types.ModuleType("codesift.runtime.onnx")
    fake.load_encoder = lambda path, **kw: loaded.append(Path(path)) or HashEncoder(32)
    monkeypatch.setitem(sys.modules, "codesift.runtime.onnx", fake)
    overrides = [f"index.paths=[{FIXTURE}]", "index.example_queries=[area of a circle]"]
    run = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", overrides), tmp_path)
    export = run.stage_dir("export")
    export.mkdir(parents=True)
    write_json(export / MANIFEST, {"outputs_hash": "x"})  # a finished export stage, as far as the index cares
    outcome = run.run_stage(STAGES["index"], log=lambda _: None)
    summary = outcome.manifest["summary"]
    assert loaded == [export] and summary["files"] == 3 and summary["chunks"] == 16 and summary["generation"] == 1
    index = CodeIndex.open(run.stage_dir("index"), encoder=HashEncoder(32))
    assert index.search(["area of a circle"], 1, encoder=HashEncoder(32))[0][0].symbol == "circle_area"
    examples = json.loads((run.stage_dir("index") / "examples.json").read_text())
    assert [e["query"] for e in examples] == ["area of a circle"] and len(examples[0]["results"]) == 3
    assert examples[0]["results"][0]["symbol"] == "circle_area"
    assert run.run_stage(STAGES["index"], log=lambda _: None).skipped


def test_index_stage_needs_paths(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "codesift.runtime.onnx", types.ModuleType("codesift.runtime.onnx"))
    run = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", ["index.paths=[]"]), tmp_path)
    run.stage_dir("export").mkdir(parents=True)
    write_json(run.stage_dir("export") / MANIFEST, {"outputs_hash": "x"})
    with pytest.raises(ValueError, match="index.paths is empty"):
        run.run_stage(STAGES["index"], log=lambda _: None)
