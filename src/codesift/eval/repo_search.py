"""The repository-search benchmark (`data/benchmarks/repo-search`): loading, scoring, run files.

A set is `repos.json` (name, language, benchmark_root) + `annotations/<name>.json` (queries with targets) +
`<name>/<benchmark_root>/` (the folder a user would search). The protocol is the set's README's, the same as the
reference scorer the set was published with (`repo_bench/score.py`, a development tool kept outside the
repository; figures agree on the same run file, checked in BENCHMARKS.md):
- a query's targets are `relevant` + `secondary`; a hit (path, start_line, end_line) hits a target when one path
  is a '/'-suffix of the other and, if the target has a span, the line ranges overlap;
- each target's rank is that of the first of the top 10 hits that hits it; NDCG@10 with binary relevance and
  IDCG = min(10, #targets) hits at ranks 1..n;
- headline = mean over repositories of each repository's mean NDCG@10; the span view uses line spans, the file
  view (`file_level`) ignores them and counts targets sharing a file once.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

K = 10
VIEWS = ("span", "file")
# The split rules are tuned on (one repository per language); the other six only report.
TUNE_REPOS = ("pytest", "fastify", "microsoft-signalr", "echo", "jackson-core", "reqwest")


@dataclass(frozen=True)
class Target:
    path: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class Query:
    qid: str  # '<repo>#<position in its annotation file>', as run files name it
    repo: str
    language: str
    text: str
    category: str
    targets: tuple[Target, ...]  # span view; `file_targets` is the file view


@dataclass(frozen=True)
class Repo:
    name: str
    language: str
    corpus: Path  # the folder a user would search


@dataclass(frozen=True)
class RepoSearchSet:
    root: Path
    repos: dict[str, Repo]
    queries: list[Query]

    def of(self, repo: str) -> list[Query]:
        return [q for q in self.queries if q.repo == repo]


def load_repo_search(root: str | Path, repos: Iterable[str] | None = None) -> RepoSearchSet:
    """The set in `root` (holding repos.json and annotations/), optionally only some repositories."""
    root = Path(root)
    listing = root / "repos.json"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing}: repo-search set not found (set --benchmarks-dir or $CODESIFT_BENCHMARKS "
                                "to the folder holding repo-search/)")
    known = {}
    for item in json.loads(listing.read_text(encoding="utf-8")):
        corpus = root / item["name"] / (item.get("benchmark_root") or "")
        known[item["name"]] = Repo(item["name"], item["language"], corpus)
    wanted = list(known) if repos is None else list(repos)
    if unknown := [name for name in wanted if name not in known]:
        raise ValueError(f"unknown repo-search repositories {unknown}; the set has {sorted(known)}")
    selected = {name: known[name] for name in wanted}
    queries = []
    for name, repo in selected.items():
        if not repo.corpus.is_dir():
            raise FileNotFoundError(f"{repo.corpus}: corpus folder of repo-search repository {name!r} not found")
        items = json.loads((root / "annotations" / f"{name}.json").read_text(encoding="utf-8"))
        for i, item in enumerate(items):
            targets = tuple(_target(t) for t in [*item.get("relevant", []), *item.get("secondary", [])])
            if not targets:
                raise ValueError(f"{root}/annotations/{name}.json item {i}: no targets")
            queries.append(Query(f"{name}#{i}", name, repo.language, item["query"], _category(item), targets))
    return RepoSearchSet(root, selected, queries)


def _target(raw: Any) -> Target:
    if isinstance(raw, str):
        return Target(raw)
    start, end = raw.get("start_line"), raw.get("end_line")
    return Target(str(raw["path"]), None if start is None else int(start), None if end is None else int(end))


def _category(item: dict[str, Any]) -> str:
    if isinstance(item.get("category"), str) and item["category"]:
        return item["category"]
    text = item["query"].strip()
    return "symbol" if " " not in text else "architecture" if text.lower().startswith("how ") else "semantic"


def file_targets(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    """The file view's targets: spans dropped, one target per file."""
    return tuple(dict.fromkeys(Target(t.path) for t in targets))


def _norm(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def hits_target(path: str, start: int | None, end: int | None, target: Target) -> bool:
    a, b = _norm(path), _norm(target.path)
    if not (a == b or a.endswith("/" + b) or b.endswith("/" + a)):
        return False
    if target.start_line is None or target.end_line is None or start is None or end is None:
        return True  # a hit without lines, or a target without a span, is the whole file
    return not (end < target.start_line or start > target.end_line)


def target_ranks(hits: list[tuple[str, int | None, int | None]], targets: tuple[Target, ...]) -> list[int | None]:
    """Each target's rank: that of the first of the top K hits that hits it (None when none does)."""
    ranks = []
    for target in targets:
        ranks.append(next((i for i, (p, s, e) in enumerate(hits[:K], 1) if hits_target(p, s, e, target)), None))
    return ranks


def ndcg(ranks: list[int | None], n_targets: int) -> float:
    """NDCG@K with binary relevance: several targets found by one hit count once."""
    found = {r for r in ranks if r is not None and 1 <= r <= K}
    dcg = sum(1 / math.log2(r + 1) for r in found)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(K, n_targets)))
    return dcg / idcg if idcg else 0.0


def score_run(bench: RepoSearchSet, hits_by_qid: dict[str, list[dict[str, Any]]], view: str) -> dict[str, Any]:
    """One view's scores: headline (mean of repository means), by category and language (means of repository
    means), per repository and per query. A query without hits scores 0."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    per_query = []
    for q in bench.queries:
        targets = file_targets(q.targets) if view == "file" else q.targets
        hits = [(h["path"], h.get("start_line"), h.get("end_line")) for h in hits_by_qid.get(q.qid, [])]
        per_query.append({"qid": q.qid, "repo": q.repo, "language": q.language, "category": q.category,
                          "ndcg10": ndcg(target_ranks(hits, targets), len(targets))})
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in per_query:
        by_repo[row["repo"]].append(row)
    repos = {}
    for name, rows in by_repo.items():
        cats: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            cats[row["category"]].append(row["ndcg10"])
        repos[name] = {"language": bench.repos[name].language, "queries": len(rows),
                       "ndcg10": _mean(r["ndcg10"] for r in rows),
                       "by_category": {c: _mean(v) for c, v in sorted(cats.items())}}
    by_language = defaultdict(list)
    for row in repos.values():
        by_language[row["language"]].append(row["ndcg10"])
    categories = sorted({row["category"] for row in per_query})
    return {
        "ndcg10": _mean(r["ndcg10"] for r in repos.values()),
        "by_category": {c: _mean(r["by_category"][c] for r in repos.values() if c in r["by_category"])
                        for c in categories},
        "by_language": {lang: _mean(v) for lang, v in sorted(by_language.items())},
        "repos": repos,
        "per_query": {row["qid"]: round(row["ndcg10"], 6) for row in per_query},
    }


def subset_mean(scores: dict[str, Any], repos: Iterable[str]) -> float:
    """The headline over some repositories only (the tuning or the reporting half)."""
    return _mean(scores["repos"][r]["ndcg10"] for r in repos if r in scores["repos"])


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def write_run_file(path: Path, tool: str, bench: RepoSearchSet, hits_by_qid: dict[str, list[dict[str, Any]]],
                   latency_ms: dict[str, float], index_ms: dict[str, float]) -> None:
    """A run file in `repo_bench/score.py`'s format (paths relative to each corpus folder), so the reference scorer
    can check our figures."""
    lines = [json.dumps({"type": "meta", "tool": tool})]
    lines += [json.dumps({"type": "repo", "repo": name, "index_ms": round(index_ms[name], 1)})
              for name in bench.repos if name in index_ms]
    for q in bench.queries:
        hits = [{"path": h["path"], "start_line": h.get("start_line"), "end_line": h.get("end_line")}
                for h in hits_by_qid.get(q.qid, [])]
        lines.append(json.dumps({"type": "query", "qid": q.qid, "repo": q.repo, "hits": hits,
                                 "latency_ms": round(latency_ms.get(q.qid, 0.0), 3)}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
