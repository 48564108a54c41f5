"""Benchmarks as plain dicts (queries, corpus, qid -> relevant ids) and the loaders that build them.

Each loader follows its benchmark's published protocol (see data/benchmarks/README.md), so our numbers are
comparable to published ones: CoSQA ranks each query against the whole 6,267-function pool, CodeSearchNet Ruby
ranks test docstrings against test + valid functions, the held-out set ranks each query against all test units.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesift.config import HELDOUT_TYPES
from codesift.eval.chunks import Chunk, chunk_folder
from codesift.runs import REPO_ROOT

BENCHMARKS_ENV = "CODESIFT_BENCHMARKS"
DEFAULT_BENCHMARKS_DIR = "data/benchmarks"  # carried in the repository
NAMED = ("cosqa-dev", "cosqa-test", "csn-ruby")


@dataclass
class Benchmark:
    """Queries ranked against a corpus; `meta` (per query) and `doc_meta` (per document) feed breakdowns."""

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    meta: dict[str, dict[str, str]] = field(default_factory=dict)
    doc_meta: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.queries or not self.corpus:
            raise ValueError(f"benchmark '{self.name}' is empty ({len(self.queries)} queries, {len(self.corpus)} docs)")
        for qid in self.queries:
            rel = self.relevant.get(qid)
            if not rel:
                raise ValueError(f"benchmark '{self.name}': query {qid!r} has no relevant document")
            if missing := rel - self.corpus.keys():
                raise ValueError(f"benchmark '{self.name}': query {qid!r} points at unknown docs {sorted(missing)}")


def benchmarks_dir(explicit: str | Path | None = None, configured: str = DEFAULT_BENCHMARKS_DIR) -> Path:
    """Where the benchmark files are: `explicit` (a CLI flag), else $CODESIFT_BENCHMARKS (this machine's
    location wins over a recipe's), else `configured` relative to the repository root (data/benchmarks, carried
    in the repository)."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(BENCHMARKS_ENV):
        return Path(env)
    return (REPO_ROOT / configured).resolve()


def load_cosqa(root: str | Path, split: str) -> Benchmark:
    """CoSQA dev or test: 500 web queries, each with one gold function in the 6,267-function pool."""
    if split not in ("dev", "test"):
        raise ValueError(f"CoSQA split must be 'dev' or 'test', got {split!r}")
    folder = Path(root) / "cosqa"
    pool = _read_json(folder / "code_idx_map.txt")
    items = _read_json(folder / f"cosqa-retrieval-{split}-500.json")
    corpus = {str(idx): code for code, idx in pool.items()}
    try:
        queries = {item["idx"]: item["doc"] for item in items}
        relevant = {item["idx"]: {str(item["retrieval_idx"])} for item in items}
    except (KeyError, TypeError) as e:
        raise ValueError(
            f"{folder}/cosqa-retrieval-{split}-500.json: each item needs idx, doc, retrieval_idx ({e})"
        ) from None
    meta = {qid: {"language": "python", "pair_type": "web-query"} for qid in queries}
    return Benchmark(f"cosqa-{split}", queries, corpus, relevant, meta)


def load_csn_ruby(root: str | Path) -> Benchmark:
    """CodeSearchNet Ruby: test docstrings against test + valid functions, tokens joined by spaces
    (GraphCodeBERT protocol). Ruby is not a training language, so this measures transfer."""
    folder = Path(root) / "csn-ruby"
    queries, corpus, relevant = {}, {}, {}
    for split in ("test", "valid"):
        for i, row in enumerate(_read_jsonl(folder / f"{split}.jsonl")):
            docid = f"{split}-{i}"
            try:
                corpus[docid] = " ".join(row["code_tokens"])
                if split == "test":
                    queries[docid] = " ".join(row["docstring_tokens"])
                    relevant[docid] = {docid}
            except (KeyError, TypeError) as e:
                raise ValueError(
                    f"{folder}/{split}.jsonl row {i + 1}: needs code_tokens and docstring_tokens ({e})"
                ) from None
    meta = {qid: {"language": "ruby", "pair_type": "doc-code"} for qid in queries}
    return Benchmark("csn-ruby", queries, corpus, relevant, meta)


def read_pair_split(pairs_parquet: str | Path, split: str):
    """One split of the pairs stage's Parquet file (a pyarrow Table: query, code, pair_type, language, repo, path,
    symbol, split), with a clear error for a missing or unreadable file and for an empty split."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(pairs_parquet)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pairs file not found; run the pairs stage first")
    columns = ["query", "code", "pair_type", "language", "repo", "path", "symbol", "split"]
    try:
        table = pq.read_table(path, columns=columns)
    except Exception as e:  # pyarrow raises several types for a bad file or a missing column
        raise ValueError(f"{path}: cannot read columns {columns}: {e}") from None
    table = table.filter(pc.equal(table["split"], split))
    if table.num_rows == 0:
        raise ValueError(f"{path}: no pairs with split == {split!r}")
    return table


def load_heldout(pairs_parquet: str | Path, split: str = "test") -> Benchmark:
    """Test-split pairs: each query against every test unit. Identical code becomes one document, and one query text
    (per language) with several units is one query with several relevant documents. `split="val"` gives the same
    benchmark over the validation repositories (named "val"), which training uses to pick checkpoints. Only the
    `HELDOUT_TYPES` pairs count."""
    rows = [r for r in read_pair_split(pairs_parquet, split).to_pylist() if r["pair_type"] in HELDOUT_TYPES]
    corpus: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    doc_meta: dict[str, dict[str, str]] = {}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["code"] not in doc_ids:
            docid = doc_ids[row["code"]] = f"u{len(doc_ids)}"
            corpus[docid] = row["code"]
            doc_meta[docid] = {"language": row["language"]}
        grouped[row["query"], row["language"]].append(row)
    queries, relevant, meta = {}, {}, {}
    for n, ((text, language), group) in enumerate(grouped.items()):
        qid = f"q{n}"
        queries[qid] = text
        relevant[qid] = {doc_ids[r["code"]] for r in group}
        meta[qid] = {"language": language, "pair_type": "+".join(sorted({r["pair_type"] for r in group}))}
    return Benchmark("heldout" if split == "test" else split, queries, corpus, relevant, meta, doc_meta)


def by_language(bench: Benchmark) -> list[Benchmark]:
    """One benchmark per language: its queries against only that language's documents."""
    out = []
    for language in sorted({m["language"] for m in bench.doc_meta.values()}):
        docs = {d for d, m in bench.doc_meta.items() if m["language"] == language}
        qids = [q for q in bench.queries if bench.meta[q]["language"] == language]
        if not qids:
            continue
        out.append(Benchmark(
            f"{bench.name}-{language}",
            {q: bench.queries[q] for q in qids},
            {d: bench.corpus[d] for d in bench.corpus if d in docs},
            {q: bench.relevant[q] & docs for q in qids},
            {q: bench.meta[q] for q in qids},
            {d: bench.doc_meta[d] for d in docs},
        ))
    return out


def load_repo_benchmark(folder: str | Path, queries_json: str | Path) -> Benchmark:
    """Repository search: queries against the chunks of a code folder. A chunk is relevant when its path is a
    target's and, if the target gives a line span, its lines overlap that span (binary relevance).

    `queries_json` holds `[{"query": "...", "relevant": ["a/b.py", {"path": "c.go", "start_line": 3,
    "end_line": 9}]}, ...]`: paths relative to `folder`, lines 1-based and inclusive."""
    folder, queries_json = Path(folder), Path(queries_json)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: repository folder not found")
    items = _read_json(queries_json)
    if not isinstance(items, list) or not items:
        raise ValueError(f"{queries_json}: expected a non-empty JSON list of {{query, relevant}} objects")
    chunks = chunk_folder(folder)
    by_path: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_path[chunk.path].append(chunk)
    queries, relevant = {}, {}
    for n, item in enumerate(items):
        where = f"{queries_json}: item {n}"
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise ValueError(f"{where}: needs a non-empty 'query' string")
        targets = item.get("relevant")
        if not isinstance(targets, list) or not targets:
            raise ValueError(f"{where}: 'relevant' must be a non-empty list of paths or {{path, start_line, end_line}}")
        hits: set[str] = set()
        for target in targets:
            path, span = _parse_target(target, where)
            if path not in by_path:
                raise ValueError(f"{where}: target {path!r} is not a chunked file under {folder}")
            found = {c.id for c in by_path[path] if span is None or (c.start_line <= span[1] and span[0] <= c.end_line)}
            if not found:
                raise ValueError(f"{where}: lines {span[0]}-{span[1]} of {path!r} fall in no chunk (past the end?)")
            hits |= found
        qid = f"q{n}"
        queries[qid], relevant[qid] = item["query"], hits
    corpus = {c.id: c.text for c in chunks}
    doc_meta = {c.id: {"language": c.language} for c in chunks}
    return Benchmark(f"repo:{folder.resolve().name}", queries, corpus, relevant, {}, doc_meta)


def load_benchmarks(specs: list[str], root: str | Path) -> list[Benchmark]:
    """Benchmarks from names: cosqa-dev, cosqa-test, csn-ruby, repo:FOLDER:QUERIES.json, heldout:PAIRS.parquet
    (the held-out set adds one benchmark per language), val:PAIRS.parquet (the validation repositories' pairs, for
    choosing settings without touching the test split)."""
    out: list[Benchmark] = []
    for spec in specs:
        if spec in ("cosqa-dev", "cosqa-test"):
            out.append(load_cosqa(root, spec.removeprefix("cosqa-")))
        elif spec == "csn-ruby":
            out.append(load_csn_ruby(root))
        elif spec.startswith("repo:") and spec.count(":") >= 2:
            folder, queries = spec.removeprefix("repo:").rsplit(":", 1)
            out.append(load_repo_benchmark(folder, queries))
        elif spec.startswith("heldout:"):
            mixed = load_heldout(spec.removeprefix("heldout:"))
            out += [mixed, *by_language(mixed)]
        elif spec.startswith("val:"):
            out.append(load_heldout(spec.removeprefix("val:"), "val"))
        else:
            raise ValueError(
                f"unknown benchmark {spec!r}; expected one of {', '.join(NAMED)}, "
                "repo:FOLDER:QUERIES.json, heldout:PAIRS.parquet or val:PAIRS.parquet"
            )
    return out


def _parse_target(target: Any, where: str) -> tuple[str, tuple[int, int] | None]:
    if isinstance(target, str):
        return target, None
    if isinstance(target, dict) and isinstance(target.get("path"), str):
        start, end = target.get("start_line"), target.get("end_line")
        if start is None and end is None:
            return target["path"], None
        if isinstance(start, int) and isinstance(end, int) and 1 <= start <= end:
            return target["path"], (start, end)
    raise ValueError(f"{where}: bad target {target!r}; use a path or {{path, start_line, end_line}}, 1 <= start <= end")


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: benchmark file not found (set --benchmarks-dir or ${BENCHMARKS_ENV} to the folder with it)"
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: benchmark file not found (set --benchmarks-dir or ${BENCHMARKS_ENV} to the folder with it)"
        ) from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} line {n}: not valid JSON: {e}") from None
    return rows
