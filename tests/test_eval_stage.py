import json
import logging
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesift.cli import main
from codesift.config import RecipeError, load_recipe
from codesift.eval import stage
from codesift.eval.benchmarks import load_repo_benchmark
from codesift.eval.retrieval import run_one
from codesift.eval.systems import BM25System, minilm_dir
from codesift.runs import StageContext

from conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "repo_search"
REPO_SPEC = f"repo:{FIXTURE / 'code'}:{FIXTURE / 'queries.json'}"


@pytest.fixture(autouse=True)
def restore_logging():
    """`main` points the root logger at this test's captured stderr; later tests must not write to it."""
    handlers, level = logging.getLogger().handlers[:], logging.getLogger().level
    yield
    logging.getLogger().handlers[:] = handlers
    logging.getLogger().setLevel(level)


class CorpusOrder(BM25System):
    """Ranks documents in corpus order, so the fixture's ranks can be worked out by hand."""

    def index(self, texts):
        self.n = len(texts)

    def score(self, queries):
        return np.tile(np.arange(self.n, 0, -1, dtype=np.float32), (len(queries), 1))


def test_repo_search_scorer_on_the_fixture():
    bench = load_repo_benchmark(FIXTURE / "code", FIXTURE / "queries.json")
    # corpus order: README.md:1-5, geometry.py x7 (1-5, 8-10, 13-16, 19-20, 22-24, 26-28, 30-31), slugify.js x2
    dcg = lambda ranks: sum(1 / math.log2(r + 1) for r in ranks)  # noqa: E731
    expected = [
        dcg([3]),  # circle_area is chunk 3
        dcg([7]),  # dot
        dcg([9]),  # slugify, inside the first window
        dcg([9, 10]) / dcg([1, 2]),  # the span crosses both windows: two relevant chunks
        dcg([5, 6, 7, 8]) / dcg([1, 2, 3, 4]),  # the class: header and three methods
        dcg([1]),  # README
    ]
    result = run_one(CorpusOrder(), bench)
    assert result["ndcg@10"] == pytest.approx(np.mean(expected))
    assert result["mrr"] == pytest.approx(np.mean([1 / 3, 1 / 7, 1 / 9, 1 / 9, 1 / 5, 1]))


def test_cli_standalone_writes_json_markdown_and_plots(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["eval", "--systems", "bm25", "--benchmarks", REPO_SPEC, "--out", str(out)]) == 0
    assert "repo:code" in capsys.readouterr().out  # the table
    results = json.loads((out / "metrics.json").read_text())
    m = results["benchmarks"]["repo:code"]["results"]["bm25"]
    assert 0 < m["ndcg@10"] <= 1 and len(m["ci95"]["ndcg@10"]) == 2
    assert {p.name for p in out.iterdir()} == {"metrics.json", "report.md", "scores.png", "recall_repo-code.png"}
    assert "![scores](scores.png)" in (out / "report.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["eval"], "give a RECIPE to run the stage, or --systems"),
    (["eval", "recipes/tiny.yaml", "--systems", "bm25"], "--systems cannot be combined with a RECIPE"),
])
def test_cli_eval_needs_exactly_one_mode(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("views, message", [
    ("doc=x", "'x' is not a number"),
    ("title=1", "expected 'off' or 'doc=W,name=W'"),
])
def test_cli_refuses_bad_document_views(tmp_path, capsys, views, message):
    argv = ["eval", "--systems", "bm25", "--benchmarks", REPO_SPEC, "--document-views", views, "--out", str(tmp_path)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_document_views_are_not_for_repo_search(tmp_path, capsys):
    argv = ["eval", "--systems", "dense", "--benchmarks", "repo-search", "--document-views", "off"]
    assert main(argv) == 2
    assert "--document-views is for the retrieval benchmarks" in capsys.readouterr().err


def test_cli_reports_a_bad_system(tmp_path, capsys):
    assert main(["eval", "--systems", "bm26", "--benchmarks", REPO_SPEC, "--out", str(tmp_path)]) == 2
    assert "unknown system 'bm26'" in capsys.readouterr().err


def test_recipe_repo_benchmark_needs_its_files(tiny_recipe_path):
    with pytest.raises(RecipeError, match="needs eval.repo_folder and eval.repo_queries"):
        load_recipe(tiny_recipe_path, ["eval.benchmarks=[repo]"])


def test_stage_evaluates_the_trained_model_and_baselines(tmp_path, tiny_recipe_path):
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    rows = [
        ("read a file into a string", "def read(p):\n    return open(p).read()", "python"),
        ("write text to a file", "def write(p, s):\n    open(p, 'w').write(s)", "python"),
        ("add two numbers", "func Add(a, b int) int { return a + b }", "go"),
        ("reverse a slice", "func Reverse(s []int) { slices.Reverse(s) }", "go"),
    ]
    pq.write_table(pa.Table.from_pylist([
        {"query": q, "code": c, "pair_type": "doc-body", "language": lang, "repo": "r", "path": "p", "symbol": "s",
         "split": "test"} for q, c, lang in rows
    ]), pairs / "pairs.parquet")
    train = tmp_path / "train"
    train.mkdir()
    (train / "model").symlink_to(minilm_dir())  # stands in for a trained checkpoint: same folder format
    recipe = load_recipe(tiny_recipe_path, [
        "eval.benchmarks=[heldout, repo]", "eval.baselines=[bm25, hybrid:bm25+model]",
        f"eval.repo_folder={FIXTURE / 'code'}", f"eval.repo_queries={FIXTURE / 'queries.json'}",
        "export.document_views.name=0.3",
    ])
    out = tmp_path / "eval"
    summary = stage.run(StageContext(recipe, out, {"pairs": pairs, "train": train}))
    assert set(summary) == {"heldout.mrr", "heldout-go.mrr", "heldout-python.mrr", "repo:code.mrr"}
    assert summary["heldout.mrr"] == 1.0  # four easy queries
    results = json.loads((out / "metrics.json").read_text())
    assert set(results["systems"]) == {"model", "bm25", "hybrid:bm25+model"}
    assert results["systems"]["model"]["document_views"] == {"doc": 0.0, "name": 0.3}  # as the export will embed
    assert set(results["benchmarks"]["heldout"]["results"]["model"]["breakdown"]["language"]) == {"go", "python"}


def test_stage_needs_a_model_folder(tmp_path, tiny_recipe_path):
    ctx = StageContext(load_recipe(tiny_recipe_path), tmp_path / "eval", {"pairs": tmp_path, "train": tmp_path})
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model folder"):
        stage.run(ctx)
