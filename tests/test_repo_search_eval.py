"""The repository-search benchmark: its protocol's scoring by hand, and `codesift eval --benchmarks repo-search`
on a two-repository set written here (weightless hashing encoder, the BM25 anchor)."""

import json
import math
from pathlib import Path

import pytest

from codesift.cli import main
from codesift.eval.repo_anchors import anchor_tokens, blank_line_blocks
from codesift.eval.repo_search import Target, hits_target, load_repo_search, ndcg, score_run, target_ranks


def make_set(root: Path) -> Path:
    files = {
        "alpha/corpus/pkg/tls.py": "def handshake(sock):\n    # negotiate the tls session\n    return sock\n\n\n"
                                   "def close(sock):\n    return None\n",
        "alpha/corpus/pkg/util.py": "def area(r):\n    return 3.14 * r * r\n",
        "beta/corpus/src/router.ts": "export function matchRoute(path: string) {\n  return path.split('/')\n}\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "repos.json").write_text(json.dumps([
        {"name": "alpha", "language": "python", "benchmark_root": "corpus"},
        {"name": "beta", "language": "typescript", "benchmark_root": "corpus"}]))
    (root / "annotations").mkdir()
    (root / "annotations" / "alpha.json").write_text(json.dumps([
        {"query": "negotiate tls session", "relevant": [{"path": "pkg/tls.py", "start_line": 1, "end_line": 3}],
         "category": "semantic"},
        {"query": "area", "relevant": ["pkg/util.py"], "secondary": [{"path": "pkg/tls.py", "start_line": 6,
                                                                      "end_line": 7}], "category": "symbol"}]))
    (root / "annotations" / "beta.json").write_text(json.dumps([
        {"query": "matchRoute", "relevant": [{"path": "src/router.ts", "start_line": 1, "end_line": 3}]}]))
    return root


def test_protocol_by_hand():
    assert hits_target("/abs/corpus/pkg/tls.py", 2, 2, Target("pkg/tls.py", 1, 3))  # '/'-suffix, overlap
    assert not hits_target("pkg/tls.py", 4, 5, Target("pkg/tls.py", 1, 3))
    assert not hits_target("xpkg/tls.py", 1, 3, Target("pkg/tls.py", 1, 3))  # a suffix at a '/' only
    assert hits_target("pkg/tls.py", None, None, Target("pkg/tls.py", 1, 3))  # a hit without lines: whole file
    targets = (Target("a.py", 1, 5), Target("a.py", 10, 12), Target("b.py"))
    hits = [("c.py", 1, 2), ("a.py", 1, 12), ("b.py", 3, 4)]
    ranks = target_ranks(hits, targets)
    assert ranks == [2, 2, 3]  # one hit covering two targets counts once
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg(ranks, len(targets)) == pytest.approx(expected)
    assert ndcg([None], 1) == 0.0


def test_views_repository_means_and_categories(tmp_path):
    bench = load_repo_search(make_set(tmp_path))
    assert [q.qid for q in bench.queries] == ["alpha#0", "alpha#1", "beta#0"]
    assert bench.queries[2].category == "symbol"  # inferred: one word
    hits = {"alpha#0": [{"path": "pkg/tls.py", "start_line": 6, "end_line": 7}],  # right file, wrong function
            "beta#0": [{"path": "src/router.ts", "start_line": 1, "end_line": 3}]}
    span, file = score_run(bench, hits, "span"), score_run(bench, hits, "file")
    # alpha#1: no record scores 0; alpha#0 finds the file, not the function
    assert span["repos"]["alpha"]["ndcg10"] == 0.0 and span["ndcg10"] == pytest.approx(0.5)
    assert file["repos"]["alpha"]["ndcg10"] == pytest.approx(0.5) and file["ndcg10"] == pytest.approx(0.75)
    assert span["by_category"] == {"semantic": 0.0, "symbol": pytest.approx(0.5)}
    assert span["by_language"] == {"python": 0.0, "typescript": 1.0}
    with pytest.raises(ValueError, match="unknown repo-search"):
        load_repo_search(tmp_path, ["gamma"])


def test_blocks_anchor_chunks_and_tokens():
    lines = ["a = 1", "b = 2", "", "def f():", "    return 1", "", "", "x" * 800]
    assert blank_line_blocks(lines, 20) == [(1, 2), (4, 4), (5, 5), (8, 8)]
    assert blank_line_blocks(lines) == [(1, 5), (8, 8)]  # merged up to 750 characters
    assert anchor_tokens("parseJSON read_file") == ["parsejson", "parse", "json", "read_file", "read", "file"]


def test_eval_command_writes_both_views_and_a_run_file_per_system(tmp_path, capsys):
    make_set(tmp_path / "set")
    out = tmp_path / "out"
    code = main(["eval", "--benchmarks", "repo-search", "--systems", "search:hash:64,dense:hash:64,bm25-blocks",
                 "--benchmarks-dir", str(tmp_path / "set"), "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"search:hash:64", "dense:hash:64", "bm25-blocks"}
    for result in metrics.values():
        assert {"span", "file", "index_s_mean", "latency_p50_ms"} <= set(result)
        assert result["file"]["ndcg10"] >= result["span"]["ndcg10"]
    assert metrics["search:hash:64"]["span"]["per_query"]["beta#0"] == 1.0  # the identifier's definition
    run = [json.loads(line) for line in (out / "runs" / "search-hash-64.jsonl").read_text().splitlines()]
    assert {r["type"] for r in run} == {"meta", "repo", "query"} and len([r for r in run if r["type"] == "query"]) == 3
    assert (out / "report.md").read_text().startswith("# Repository search") and (out / "repo_search.png").stat().st_size
    assert "| search:hash:64 |" in capsys.readouterr().out
    code = main(["eval", "--benchmarks", "repo-search,cosqa-test", "--systems", "bm25-blocks",
                 "--benchmarks-dir", str(tmp_path / "set"), "--out", str(out)])
    assert code == 2
