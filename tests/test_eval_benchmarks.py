import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesift.eval.benchmarks import (
    BENCHMARKS_ENV, Benchmark, benchmarks_dir, by_language, load_benchmarks, load_cosqa, load_csn_ruby, load_heldout,
    load_repo_benchmark,
)

from conftest import BENCHMARKS, REPO

FIXTURE = REPO / "tests" / "fixtures" / "repo_search"


@pytest.mark.parametrize("split", ["dev", "test"])
def test_cosqa_follows_the_published_protocol(split):
    b = load_cosqa(BENCHMARKS, split)
    assert b.name == f"cosqa-{split}"
    assert len(b.corpus) == 6267 and len(b.queries) == 500
    assert all(len(rel) == 1 for rel in b.relevant.values())
    first = json.loads((BENCHMARKS / "cosqa" / f"cosqa-retrieval-{split}-500.json").read_text())[0]
    assert b.queries[first["idx"]] == first["doc"]
    assert b.corpus[str(first["retrieval_idx"])] == first["code"]  # the gold id points at the query's function


def test_csn_ruby_pool_is_test_plus_valid():
    b = load_csn_ruby(BENCHMARKS)
    assert len(b.queries) == 1261 and len(b.corpus) == 1261 + 1400
    assert b.relevant["test-0"] == {"test-0"}
    assert b.queries["test-0"].startswith("Outputs the deferred summary")
    assert b.corpus["test-0"].startswith("def print_summary ( status )")


def test_missing_benchmark_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="code_idx_map.txt: benchmark file not found"):
        load_cosqa(tmp_path, "test")
    with pytest.raises(ValueError, match="must be 'dev' or 'test'"):
        load_cosqa(tmp_path, "train")


def test_malformed_json_names_the_file(tmp_path):
    (tmp_path / "csn-ruby").mkdir()
    (tmp_path / "csn-ruby" / "test.jsonl").write_text('{"code_tokens": ["a"], "docstring_tokens": ["b"]}\n{oops\n')
    with pytest.raises(ValueError, match=r"test.jsonl line 2: not valid JSON"):
        load_csn_ruby(tmp_path)
    bad = tmp_path / "queries.json"
    bad.write_text("[{")
    with pytest.raises(ValueError, match="queries.json: not valid JSON"):
        load_repo_benchmark(FIXTURE / "code", bad)


def test_unknown_benchmark_spec():
    with pytest.raises(ValueError, match="unknown benchmark 'cosqa'"):
        load_benchmarks(["cosqa"], BENCHMARKS)


def test_benchmarks_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(BENCHMARKS_ENV, raising=False)
    assert benchmarks_dir() == REPO / "data" / "benchmarks"
    monkeypatch.setenv(BENCHMARKS_ENV, str(tmp_path))
    assert benchmarks_dir() == tmp_path
    assert benchmarks_dir("elsewhere") == type(tmp_path)("elsewhere")


def test_benchmark_refuses_queries_without_relevant_documents():
    with pytest.raises(ValueError, match="no relevant document"):
        Benchmark("b", {"q": "x"}, {"d": "y"}, {"q": set()})
    with pytest.raises(ValueError, match="unknown docs"):
        Benchmark("b", {"q": "x"}, {"d": "y"}, {"q": {"e"}})


def write_pairs(path, rows):
    base = {"pair_type": "doc-body", "repo": "r", "path": "p", "symbol": "s", "split": "test"}
    pq.write_table(pa.Table.from_pylist([{**base, **r} for r in rows]), path)


def test_heldout_uses_test_pairs_and_merges_duplicates(tmp_path):
    path = tmp_path / "pairs.parquet"
    write_pairs(path, [
        {"query": "add numbers", "code": "def add(a, b): return a + b", "language": "python"},
        {"query": "add numbers", "code": "def plus(a, b): return a + b", "language": "python"},
        {"query": "def add(a, b)", "code": "def add(a, b): return a + b", "language": "python",
         "pair_type": "signature-body"},
        {"query": "add numbers", "code": "func Add(a, b int) int { return a + b }", "language": "go"},
        {"query": "train only", "code": "def secret(): pass", "language": "python", "split": "train"},
    ])
    b = load_heldout(path)
    assert len(b.corpus) == 3  # identical code is one document; the train pair is left out
    assert "def secret(): pass" not in b.corpus.values()
    by_text = {(b.queries[q], b.meta[q]["language"]): q for q in b.queries}
    assert len(by_text) == 3
    assert len(b.relevant[by_text["add numbers", "python"]]) == 2  # one query, two relevant units
    assert b.meta[by_text["def add(a, b)", "python"]]["pair_type"] == "signature-body"

    per_lang = {x.name: x for x in by_language(b)}
    assert set(per_lang) == {"heldout-go", "heldout-python"}
    assert len(per_lang["heldout-go"].corpus) == 1 and len(per_lang["heldout-python"].corpus) == 2
    assert len(per_lang["heldout-python"].queries) == 2


def test_heldout_scores_the_docstring_types_alone(tmp_path):
    path = tmp_path / "pairs.parquet"
    write_pairs(path, [
        {"query": "add numbers", "code": "def add(a, b): return a + b", "language": "python"},
        {"query": "add", "code": "def add(a, b): return a + b", "language": "python", "pair_type": "identifier-def"},
        {"query": "math helpers", "code": "import x\ndef add(a, b): return a + b", "language": "python",
         "pair_type": "doc-file"},
    ])
    b = load_heldout(path)
    assert list(b.queries.values()) == ["add numbers"] and list(b.corpus.values()) == ["def add(a, b): return a + b"]


def test_val_spec_is_the_validation_split_alone(tmp_path):
    path = tmp_path / "pairs.parquet"
    write_pairs(path, [
        {"query": "add numbers", "code": "def add(a, b): return a + b", "language": "python", "split": "val"},
        {"query": "sub numbers", "code": "def sub(a, b): return a - b", "language": "python"},
    ])
    (val,) = load_benchmarks([f"val:{path}"], BENCHMARKS)
    assert val.name == "val" and list(val.queries.values()) == ["add numbers"]
    assert list(val.corpus.values()) == ["def add(a, b): return a + b"]


def test_heldout_without_test_pairs(tmp_path):
    path = tmp_path / "pairs.parquet"
    write_pairs(path, [{"query": "q", "code": "c", "language": "python", "split": "train"}])
    with pytest.raises(ValueError, match="no pairs with split == 'test'"):
        load_heldout(path)
    with pytest.raises(FileNotFoundError, match="run the pairs stage"):
        load_heldout(tmp_path / "missing.parquet")


def test_repo_benchmark_maps_targets_to_overlapping_chunks():
    b = load_repo_benchmark(FIXTURE / "code", FIXTURE / "queries.json")
    assert b.name == "repo:code"
    assert len(b.queries) == 6
    rel = {b.queries[q]: b.relevant[q] for q in b.queries}
    assert rel["area of a circle from its radius"] == {"geometry.py:8-10"}
    assert rel["turn a title into a url slug"] == {"web/slugify.js:1-40"}
    assert rel["reverse a string"] == {"web/slugify.js:1-40", "web/slugify.js:41-47"}  # span crosses a window
    assert rel["2-D vector class"] == {"geometry.py:19-20", "geometry.py:22-24", "geometry.py:26-28",
                                       "geometry.py:30-31"}
    assert rel["what is this folder for"] == {"README.md:1-5"}  # a bare path: every chunk of the file


@pytest.mark.parametrize("item, message", [
    ({"relevant": ["README.md"]}, "needs a non-empty 'query'"),
    ({"query": "x", "relevant": []}, "'relevant' must be a non-empty list"),
    ({"query": "x", "relevant": ["nope.py"]}, "'nope.py' is not a chunked file"),
    ({"query": "x", "relevant": [{"path": "README.md", "start_line": 3}]}, "bad target"),
    ({"query": "x", "relevant": [{"path": "README.md", "start_line": 90, "end_line": 99}]}, "fall in no chunk"),
])
def test_repo_benchmark_reports_bad_queries(tmp_path, item, message):
    path = tmp_path / "q.json"
    path.write_text(json.dumps([item]))
    with pytest.raises(ValueError, match=message):
        load_repo_benchmark(FIXTURE / "code", path)
