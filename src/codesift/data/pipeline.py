"""The `data` and `pairs` stages: sources -> clean files -> code units -> pairs, with counted drop reasons.

Flow of `data`: read every source (one process; mostly I/O) -> exclusion list and file filters ->
exact file dedup -> shards to workers, which extract units and README sections and compute MinHash
signatures -> near-dup files dropped (keep-first, in source order) -> units decontaminated against the
external benchmarks, then exact- and near-deduplicated -> Parquet + report. Git sources add the definitions
their kept commits changed (codesift.data.commits), decontaminated the same way -> commits.parquet.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from codesift.config import DataConfig, SourceConfig
from codesift.data.commits import commit_units
from codesift.data.dedup import (
    BenchmarkGuard, NearDuplicateFilter, benchmark_texts, exact_key, load_exclusions, minhash_signature, repo_excluded,
)
from codesift.data.english import is_english
from codesift.data.executor import run_tasks
from codesift.data.extract import extract_file, split_markdown
from codesift.data.install import install_default_corpus
from codesift.data.filters import file_drop_reason, unit_drop_reason
from codesift.data.pairs import build_pairs
from codesift.data.report import write_data_report, write_pairs_report
from codesift.data.sources import read_source
from codesift.log import get_logger
from codesift.records import CodeUnit, CommitUnit, DocSection, SourceFile
from codesift.runs import StageContext, atomic_write, resolve_path, write_json

log = get_logger(__name__)
SHARD_BYTES = 4 << 20


@dataclass
class ShardResult:
    """What a worker sends back for one shard of files: units, sections and their dedup keys."""

    file_signatures: list[np.ndarray] = field(default_factory=list)
    units: list[CodeUnit] = field(default_factory=list)
    unit_keys: list[str] = field(default_factory=list)
    unit_signatures: list[np.ndarray] = field(default_factory=list)
    unit_file: list[int] = field(default_factory=list)  # index of the unit's file within the shard
    sections: list[DocSection] = field(default_factory=list)
    section_file: list[int] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def process_shard(task: tuple[list[SourceFile], int, int]) -> ShardResult:
    files, num_perm, shingle_size = task
    out = ShardResult()
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        out.file_signatures.append(minhash_signature(f.text, num_perm, shingle_size))
        if f.language == "markdown":
            sections = split_markdown(f.text, repo=f.repo, path=f.path, license=f.license)
            out.sections.extend(sections)
            out.section_file.extend([i] * len(sections))
            continue
        extraction = extract_file(f.text, f.language, repo=f.repo, path=f.path, license=f.license)
        out.stats["files:syntax-errors"] += extraction.syntax_errors
        out.stats["units:extracted"] += len(extraction.units)
        for unit in extraction.units:
            if reason := unit_drop_reason(unit):
                out.stats[f"drop:{reason}"] += 1
                continue
            if unit.doc and not is_english(unit.doc):
                out.stats["doc:not-english"] += 1
                unit.doc = ""
            out.units.append(unit)
            out.unit_keys.append(exact_key(unit.code))
            out.unit_signatures.append(minhash_signature(unit.code, num_perm, shingle_size))
            out.unit_file.append(i)
    out.seconds = time.perf_counter() - t0
    return out


def read_clean_files(cfg: DataConfig, sources: list[SourceConfig], stats: Counter[str]) -> list[SourceFile]:
    """All files of all sources that pass the exclusion list, the file filters and exact dedup, in order."""
    exclusions = load_exclusions(resolve_path(cfg.exclusion_list))
    seen: set[str] = set()
    kept: list[SourceFile] = []
    for source in sources:
        label = source.name or source.path or source.kind
        for f in tqdm(read_source(source, max_file_bytes=cfg.max_file_bytes, stats=stats), desc=f"read {label}",
                      unit="file", mininterval=2):
            stats[f"read:{source.kind}"] += 1
            stats[f"bytes-read:{source.kind}"] += len(f.text)
            if repo_excluded(f.repo, exclusions):
                stats["drop:excluded-repo"] += 1
                continue
            if reason := file_drop_reason(f, cfg):
                stats[f"drop:{reason}"] += 1
                continue
            key = exact_key(f.text)
            if key in seen:
                stats["drop:exact-dup-file"] += 1
                continue
            seen.add(key)
            kept.append(f)
    return kept


def shard(files: list[SourceFile], target_bytes: int = SHARD_BYTES) -> list[list[SourceFile]]:
    shards, current, size = [], [], 0
    for f in files:
        current.append(f)
        size += len(f.text)
        if size >= target_bytes:
            shards.append(current)
            current, size = [], 0
    if current:
        shards.append(current)
    return shards


def dedup_and_decontaminate(results: list[ShardResult], cfg: DataConfig, guard: BenchmarkGuard | None,
                            stats: Counter[str]) -> tuple[list[CodeUnit], list[DocSection], list[bool]]:
    """Keep-first in source order: near-dup files, then contaminated, exact-dup and near-dup units."""
    file_filter = NearDuplicateFilter(cfg.near_dup_threshold, cfg.minhash_permutations)
    unit_filter = NearDuplicateFilter(cfg.near_dup_threshold, cfg.minhash_permutations)
    seen_units: set[str] = set()
    units: list[CodeUnit] = []
    sections: list[DocSection] = []
    file_kept: list[bool] = []
    for result in tqdm(results, desc="dedup", unit="shard"):
        keep_file = [file_filter.keep(sig) for sig in result.file_signatures]
        stats["drop:near-dup-file"] += keep_file.count(False)
        file_kept.extend(keep_file)
        sections.extend(s for s, i in zip(result.sections, result.section_file) if keep_file[i])
        for unit, key, sig, i in zip(result.units, result.unit_keys, result.unit_signatures, result.unit_file):
            if not keep_file[i]:
                continue
            if guard is not None and guard.contaminated(key, sig):
                stats["drop:benchmark-contaminated"] += 1
            elif key in seen_units:
                stats["drop:exact-dup-unit"] += 1
            elif not unit_filter.keep(sig):
                stats["drop:near-dup-unit"] += 1
            else:
                seen_units.add(key)
                units.append(unit)
    return units, sections, file_kept


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_write(path, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")


def run_data(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.recipe.data
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sources = list(cfg.sources)
    if cfg.corpus:
        sources = install_default_corpus(resolve_path(cfg.corpus), Path(cfg.corpus_cache)) + sources
        timings["install_s"] = time.perf_counter() - t0
    if not sources:
        raise ValueError("the recipe names no data: set data.corpus (e.g. data/corpus.yaml) or data.sources")
    stats: Counter[str] = Counter()

    t0 = time.perf_counter()
    files = read_clean_files(cfg, sources, stats)
    timings["read_filter_s"] = time.perf_counter() - t0
    log.info("read %d clean files (%.1f MB)", len(files), sum(len(f.text) for f in files) / 1e6)

    t0 = time.perf_counter()
    tasks = [(s, cfg.minhash_permutations, cfg.shingle_size) for s in shard(files)]
    results = run_tasks(process_shard, tasks, cfg.executor, cfg.workers, desc="extract")
    timings["extract_s"] = time.perf_counter() - t0
    timings["extract_worker_s"] = sum(r.seconds for r in results)
    for r in results:
        stats.update(r.stats)

    t0 = time.perf_counter()
    guard = benchmark_guard(cfg)
    if guard is not None:
        stats["benchmark-functions"] = len(guard)
    units, sections, file_kept = dedup_and_decontaminate(results, cfg, guard, stats)
    timings["dedup_s"] = time.perf_counter() - t0

    kept_files = [f for f, keep in zip(files, file_kept) if keep]
    write_parquet(ctx.out_dir / "files.parquet", [f.to_row() | {"meta": json.dumps(f.meta)} for f in kept_files])
    write_parquet(ctx.out_dir / "units.parquet", [u.to_row() for u in units])
    write_parquet(ctx.out_dir / "sections.parquet", [s.to_row() for s in sections])
    summary = {"files": len(kept_files), "units": len(units), "documented_units": sum(bool(u.doc) for u in units),
               "sections": len(sections)}
    if git := [s for s in sources if s.kind == "git"]:
        t0 = time.perf_counter()
        changed = read_commit_units(cfg, git, guard, stats)
        timings["commits_s"] = time.perf_counter() - t0
        write_parquet(ctx.out_dir / "commits.parquet", [u.to_row() for u in changed])
        summary["commit_units"] = len(changed)
    summary |= {k: round(v, 1) for k, v in timings.items()}
    write_json(ctx.out_dir / "stats.json", {"counts": dict(sorted(stats.items())), "timings": timings})
    write_data_report(ctx.out_dir, kept_files, units, stats, timings)
    return summary


def benchmark_guard(cfg: DataConfig) -> BenchmarkGuard | None:
    """The external benchmarks' code, which training data must not contain; None (warned) without the folder."""
    bench_dir = resolve_path(cfg.decontaminate_against)
    if not bench_dir.is_dir():
        log.warning("benchmark folder %s not found: training data is NOT decontaminated", bench_dir)
        return None
    return BenchmarkGuard(benchmark_texts(bench_dir), cfg.near_dup_threshold, cfg.minhash_permutations,
                          cfg.shingle_size)


def read_commit_units(cfg: DataConfig, sources: list[SourceConfig], guard: BenchmarkGuard | None,
                      stats: Counter[str]) -> list[CommitUnit]:
    """The definitions the kept commits of git sources changed, minus code matching an external benchmark."""
    exclusions = load_exclusions(resolve_path(cfg.exclusion_list))
    kept = []
    for source in sources:
        for unit in commit_units(source, cfg, exclusions, stats):
            signature = minhash_signature(unit.code, cfg.minhash_permutations, cfg.shingle_size)
            if guard is not None and guard.contaminated(exact_key(unit.code), signature):
                stats["commit-drop-unit:benchmark-contaminated"] += 1
            else:
                kept.append(unit)
    log.info("%d definitions changed by %d kept commits", len(kept), stats["commits:kept"])
    return kept


def read_rows(path: Path, record: type) -> list[Any]:
    return [record(**row) for row in pq.read_table(path).to_pylist()]


def run_pairs(ctx: StageContext) -> dict[str, Any]:
    data_dir = ctx.inputs["data"]
    units = read_rows(data_dir / "units.parquet", CodeUnit)
    sections = read_rows(data_dir / "sections.parquet", DocSection)
    commits = data_dir / "commits.parquet"
    changed = read_rows(commits, CommitUnit) if commits.exists() else []
    files = []
    if "doc-file" in ctx.recipe.pairs.types:  # the files' own docs: only this type reads the (large) file texts
        table = pq.read_table(data_dir / "files.parquet", columns=["repo", "path", "language", "text"])
        files = [tuple(row.values()) for row in table.to_pylist() if row["language"] not in (None, "markdown")]
    # documentation examples are code that the data stage did not decontaminate
    guard = benchmark_guard(ctx.recipe.data) if "doc-example" in ctx.recipe.pairs.types else None
    pairs, stats = build_pairs(units, sections, ctx.recipe.pairs, ctx.recipe.seed,
                               keep_tests=ctx.recipe.data.keep_tests_for_pairs, commits=changed, files=files,
                               contaminated=guard.contains if guard else lambda code: False)
    write_parquet(ctx.out_dir / "pairs.parquet", [p.to_row() for p in pairs])
    write_json(ctx.out_dir / "stats.json", {"counts": dict(sorted(stats.items()))})
    write_pairs_report(ctx.out_dir, pairs, stats)
    return {"pairs": len(pairs), **{k.split(":", 1)[1]: v for k, v in stats.items() if k.startswith("pairs:")}}
