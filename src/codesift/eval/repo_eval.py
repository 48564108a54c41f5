"""`codesift eval --benchmarks repo-search`: the real search stack on the repository-search set, beside its anchors.

Systems (`--systems`, comma-separated):
- `search` — exactly what `codesift search QUERY FOLDER` runs (walk, chunking, index, ranking, fusion) with the
  default search model; `search:MODEL_DIR` with another model;
- `dense` / `dense:MODEL_DIR` — the model alone through the same stack (no BM25, no ranking rules), so the model's
  own progress shows apart from the ranking;
- `bm25-blocks` and `semble` — the anchors (`repo_anchors`).
Each repository is indexed from scratch (timed: index build in process; a second system of the same model reuses
that index, so its index time is a refresh), then each query is answered alone (timed: query latency in process,
embedding included). Writes per system a run file in the reference scorer's format,
and `metrics.json`, `report.md` and `repo_search.png` for both views.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from codesift.eval.repo_search import TUNE_REPOS, VIEWS, RepoSearchSet, score_run, subset_mean, write_run_file
from codesift.log import get_logger

log = get_logger(__name__)

ANCHORS = ("bm25-blocks", "semble")
TOP_K = 10


class CodesiftSearch:
    """`codesift search` over one folder: a fresh index in a temporary folder, the search command's ranking."""

    def __init__(self, model: str | None = None, dense_only: bool = False, workdir: Path | None = None):
        from codesift.index.commands import load_model, model_name

        self.encoder = load_model(model)
        self.dense_only = dense_only
        self.name = f"{'dense' if dense_only else 'search'}:{model_name(model)}"
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="codesift-repo-eval-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir / model_name(model).replace(":", "-")

    def index(self, folder: Path) -> None:
        """Build the folder's index; one built earlier in this run with the same model is reused (as a cached
        `codesift search` index is), so `search` and `dense` of one model embed each repository once."""
        from codesift.index.code_index import CodeIndex

        self._index = CodeIndex.open_or_create(self.workdir / folder.parent.name, self.encoder)
        self._index.update([folder], self.encoder)

    def search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        from codesift.ranking import search

        hits = search(self._index, [query], top_k, encoder=self.encoder, dense_only=self.dense_only)[0]
        return [h.to_json() for h in hits]


def build_system(spec: str, workdir: Path | None = None):
    kind, _, arg = spec.partition(":")
    if kind in ("search", "dense"):
        return CodesiftSearch(arg or None, dense_only=kind == "dense", workdir=workdir)
    if kind == "bm25-blocks" and not arg:
        from codesift.eval.repo_anchors import BlocksBM25

        return BlocksBM25()
    if kind == "semble" and not arg:
        from codesift.eval.repo_anchors import Semble

        return Semble()
    raise ValueError(f"unknown repo-search system {spec!r}; expected search[:MODEL_DIR], dense[:MODEL_DIR], "
                     f"{', '.join(ANCHORS)}")


def run_system(system, bench: RepoSearchSet) -> dict[str, Any]:
    """Index each repository, answer its queries one at a time; hits, latencies and index times."""
    hits, latency, index_ms = {}, {}, {}
    for name, repo in bench.repos.items():
        t0 = time.perf_counter()
        system.index(repo.corpus)
        index_ms[name] = (time.perf_counter() - t0) * 1000
        for q in bench.of(name):
            t0 = time.perf_counter()
            hits[q.qid] = system.search(q.text, TOP_K)
            latency[q.qid] = (time.perf_counter() - t0) * 1000
        log.info("%s: %s indexed in %.2fs, %d queries", system.name, name, index_ms[name] / 1000, len(bench.of(name)))
    return {"hits": hits, "latency_ms": latency, "index_ms": index_ms}


def evaluate_repo_search(specs: list[str], bench: RepoSearchSet, out_dir: str | Path) -> dict[str, Any]:
    """Run every system, score both views, write run files, metrics.json, report.md and the plot."""
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    workdir = tempfile.TemporaryDirectory(prefix="codesift-repo-eval-")
    for spec in dict.fromkeys(specs):
        system = build_system(spec, Path(workdir.name))
        ran = run_system(system, bench)
        safe = system.name.replace("/", "_").replace(":", "-")
        write_run_file(out / "runs" / f"{safe}.jsonl", system.name, bench, ran["hits"], ran["latency_ms"],
                       ran["index_ms"])
        lat = sorted(ran["latency_ms"].values())
        results[system.name] = {
            "spec": spec, **{view: score_run(bench, ran["hits"], view) for view in VIEWS},
            "index_s_mean": statistics.fmean(ran["index_ms"].values()) / 1000,
            "index_s": {k: round(v / 1000, 3) for k, v in ran["index_ms"].items()},
            "latency_p50_ms": statistics.median(lat), "latency_p95_ms": lat[int(0.95 * (len(lat) - 1))],
        }
        for view in VIEWS:
            s = results[system.name][view]
            s["tune_ndcg10"] = subset_mean(s, TUNE_REPOS)
            s["report_ndcg10"] = subset_mean(s, [r for r in bench.repos if r not in TUNE_REPOS])
    from codesift.eval.repo_report import print_table, write_report

    print_table(results)
    write_report(results, bench, out)
    return results


def load_set(root: Path, repos: list[str] | None = None) -> RepoSearchSet:
    from codesift.eval.repo_search import load_repo_search

    return load_repo_search(root / "repo-search" if (root / "repo-search").is_dir() else root, repos)
