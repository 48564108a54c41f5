"""CI smoke: `codesift run` on a micro recipe, every stage from raw files to example searches (issue 10).

A micro model (2 x 32) on five standard-library packages, each its own repository so that the pairs stage can
hold repositories out. The numbers it reaches mean nothing; the test proves the stages fit together: each one
reads what the previous wrote, and the run ends with an int8 model, an eval report and an index that answers.
"""

import json
import shutil
import sysconfig
from pathlib import Path

from codesift.cli import main

from conftest import BENCHMARKS, REPO

PACKAGES = ("json", "email", "http", "logging", "concurrent", "importlib", "urllib", "xml")
MICRO = [
    "data.allow_unknown_license=true", "data.workers=1", "pairs.val_fraction=0.2", "pairs.test_fraction=0.2",
    "tokenizer.vocab_size=1024", "model.layers=2", "model.hidden=32", "model.heads=2", "model.intermediate=64",
    "model.max_seq_len=64", "pretrain.steps=4", "pretrain.batch_size=4", "pretrain.seq_len=64",
    "pretrain.warmup_steps=1", "pretrain.checkpoint_every=2", "pretrain.val_windows=4", "train.steps=3",
    "train.batch_size=16", "train.chunk_size=8", "train.warmup_steps=1", "train.rounds=2", "train.code_max_len=64",
    "train.eval_max_queries=20", "train.eval_max_docs=100", "train.checkpoint_every=2", "mine.pool_size=150",
    "mine.rank_window=[1, 30]", "eval.benchmarks=[heldout]", "eval.max_seq_len=64",
    # the gate's own behaviour is tested in test_export; an untrained micro model moves MRR by chance
    "export.gate_benchmarks=[heldout]", "export.gate_texts=32", "export.max_mrr_drop=100",
    "export.calibration_texts=16",
]
QUERY = "parse an email address"


def stdlib_repos(root: Path) -> list[dict]:
    """Standard-library packages copied out as separate repositories (no LICENSE file: allow_unknown_license)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for name in PACKAGES:
        shutil.copytree(stdlib / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "test*"))
        sources.append({"kind": "local", "path": str(root / name), "name": name})
    return sources


def test_micro_recipe_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))  # the closing searches with the default model
    monkeypatch.setenv("CODESIFT_MODEL", "hash:64")
    sources = stdlib_repos(tmp_path / "src")
    overrides = MICRO + [f"data.sources={json.dumps(sources)}", f"data.decontaminate_against={BENCHMARKS}",
                         f"eval.benchmarks_dir={BENCHMARKS}", f"index.paths=[{tmp_path / 'src' / 'email'}]",
                         f"index.example_queries=[{QUERY}]"]
    args = ["run", str(REPO / "recipes" / "tiny.yaml"), "--run-dir", str(tmp_path / "runs")]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0

    run = tmp_path / "runs" / "tiny"
    for stage in ("data", "pairs", "tokenizer", "pretrain", "train", "eval", "export", "index"):
        assert (run / stage / "manifest.json").exists(), f"stage {stage} left no manifest"
    splits = json.loads((run / "pairs" / "manifest.json").read_text())["summary"]
    assert splits["pairs"] > 100
    assert (run / "export" / "model.int8.onnx").exists() and (run / "export" / "tokenizer.json").exists()
    assert json.loads((run / "export" / "gate.json").read_text())["passed"]
    report = (run / "eval" / "report.md").read_text()
    assert "bm25" in report
    examples = json.loads((run / "index" / "examples.json").read_text())
    assert examples[0]["query"] == QUERY and len(examples[0]["results"]) == 3
    assert all(hit["path"].endswith(".py") for hit in examples[0]["results"])

    printed = capsys.readouterr().out
    assert f"search: {QUERY}" in printed and str(run / "eval" / "report.md") in printed
    assert printed.count(f"search: {QUERY}") == 2 and "The same searches with `codesift search" in printed

    assert main(args) == 0  # a second run finds every stage up to date
    assert "search: " in capsys.readouterr().out

    from codesift.runtime.onnx import load_encoder

    model = tmp_path / "model"
    package = ["package", str(REPO / "recipes" / "tiny.yaml"), "--run-dir", str(tmp_path / "runs"), "--out", str(model)]
    assert main(package + [a for item in overrides for a in ("--set", item)]) == 0
    assert sorted(p.name for p in model.glob("*.onnx")) == ["model.int8.onnx"]  # the gated default only
    card = (model / "README.md").read_text()
    assert "| model |" in card and "| BM25 |" in card and "## Recipe" in card and "Pretraining" in card
    runtime = load_encoder(model).encode(["open a mailbox"], kind="query").vectors
    assert runtime.shape == (1, 32)
    from sentence_transformers import SentenceTransformer  # the package is a sentence-transformers folder too

    torch_side = SentenceTransformer(str(model), device="cpu", local_files_only=True).encode(["open a mailbox"])
    assert float(torch_side[0] @ runtime[0]) > 0.99
