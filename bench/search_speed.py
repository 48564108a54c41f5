"""How fast search is where a user waits: the first index of a repository, a warm query, a warm `codesift search`
process, and the update after one file changes. Each repository is copied to a temporary folder first (the update
edits a file).

For each folder:
- index: `codesift index build` as a process (wall, start-up and imports included; the median of three builds),
  and the update's own phases from its report (walk + parse + chunk; embed, the worker's busy time, which overlaps
  chunking; add; save);
- warm query: the ranking pipeline in process over an open index (query embedding included), p50 / p95;
- `codesift search QUERY FOLDER` with the index cached (it refreshes: a stat walk), wall, median of 5: a cold
  process (no search server), and answered by the warm search server;
- one changed file: the largest code file edited four times, `CodeIndex.update` in process after each (the first
  after opening, then the median of the other three), and `codesift index update` as a process.

    python bench/search_speed.py OUT.md [FOLDER ...] [--model models/static]   (default: the repo-search corpora)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from codesift.eval.benchmarks import benchmarks_dir
from codesift.eval.repo_eval import load_set
from codesift.index.code_index import CodeIndex
from codesift.index.commands import load_model
from codesift.launcher import socket_path, stop_server
from codesift.ranking import search
from codesift.runs import machine_info

CLI = [sys.executable, "-m", "codesift.launcher"]  # what the `codesift` command runs
GENERIC = ["parse the configuration file", "retry a request after a timeout", "Router", "where are errors logged"]


def wall(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(CLI + args, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def measure(folder: Path, queries: list[str], model: str, work: Path) -> dict:
    copy = Path(shutil.copytree(folder, work / "repo"))
    builds = []  # three first builds, each into a new folder: the median is reported (runs vary by ~0.2 s)
    for n in range(3):
        index_dir = work / f"idx{n}"
        builds.append(wall(["index", "build", str(copy), "--index", str(index_dir), "--model", model]))
    build_s, out = sorted(builds)[1]
    report = json.loads(out.splitlines()[-1])
    encoder = load_model(model)
    index = CodeIndex.open(index_dir, encoder=encoder)
    for query in queries[:3]:
        search(index, [query], 10, encoder=encoder)  # first queries load the BM25 and file-level data
    times = []
    for query in queries:
        start = time.perf_counter()
        search(index, [query], 10, encoder=encoder)
        times.append((time.perf_counter() - start) * 1000)
    search_args = ["search", queries[0], str(copy), "--index", str(index_dir), "--model", model]
    os.environ["CODESIFT_SERVER"] = "off"
    cold = [wall(search_args)[0] for _ in range(5)]
    os.environ["CODESIFT_SERVER"] = "on"
    wall(search_args)  # starts the warm search server
    for _ in range(100):
        if socket_path().exists():
            break
        time.sleep(0.1)
    wall(search_args)  # its first answer loads the model and the index
    process = [wall(search_args)[0] for _ in range(5)]
    stop_server()
    target = max((p for p in copy.rglob("*") if p.is_file() and p.suffix in {".py", ".ts", ".js", ".go", ".java",
                                                                           ".rs"}), key=lambda p: p.stat().st_size)
    updates = []  # the first after opening reads the chunk texts; later ones are what an open index pays
    for n in range(4):
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"\n// edit {n}\n" if target.suffix != ".py" else f"\n\ndef added_{n}():\n    return {n}\n")
        start = time.perf_counter()
        update = index.update(None, encoder)
        updates.append(time.perf_counter() - start)
    with target.open("a", encoding="utf-8") as fh:
        fh.write("\n// and one more\n" if target.suffix != ".py" else "\n\ndef added_again():\n    return 2\n")
    update_process_s = wall(["index", "update", "--index", str(index_dir), "--model", model])[0]
    return {
        "files": report["files"], "chunks": report["chunks"], "build_process_s": build_s,
        "build_in_process_s": report["seconds"], "chunk_s": report["chunk_seconds"],
        "embed_s": report["embed_seconds"], "add_s": report["add_seconds"], "save_s": report["save_seconds"],
        "query_p50_ms": float(np.percentile(times, 50)), "query_p95_ms": float(np.percentile(times, 95)),
        "cold_process_s": statistics.median(cold), "warm_process_s": statistics.median(process),
        "update_first_s": updates[0], "update_one_file_s": statistics.median(updates[1:]),
        "update_chunks_embedded": update.chunks_embedded, "update_process_s": update_process_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "static"))
    parser.add_argument("--benchmarks-dir")
    args = parser.parse_args()
    if args.folders:
        targets = {f"{f.parent.name}/{f.name}": (f, GENERIC) for f in args.folders}
    else:
        bench = load_set(benchmarks_dir(args.benchmarks_dir))
        targets = {name: (repo.corpus, [q.text for q in bench.of(name)]) for name, repo in bench.repos.items()}
    rows = {}
    os.environ["CODESIFT_CACHE"] = tempfile.mkdtemp(prefix="codesift-speed-")  # the bench's own server
    for name, (folder, queries) in targets.items():
        with tempfile.TemporaryDirectory() as tmp:
            rows[name] = measure(folder, queries, args.model, Path(tmp))
        print(name, json.dumps({k: round(v, 3) for k, v in rows[name].items()}), flush=True)
    write(rows, args)


def write(rows: dict, args) -> None:
    info = machine_info()
    lines = [f"Command: `python bench/search_speed.py {args.out} {' '.join(map(str, args.folders))} "
             f"--model {args.model}`  ", f"Machine: {info.get('cpu', platform.processor())}, {info['cpus']} cores", "",
             "| repository | files | chunks | index build, process (s) | in process: chunk / embed / add / save (s) "
             "| warm query p50 / p95 (ms) | `codesift search` cold / warm server (s) | one changed file: update in "
             "process, first / then / as a process (s) |", "|---|---:|---:|---:|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['files']} | {r['chunks']} | {r['build_process_s']:.2f} | {r['chunk_s']:.2f} / "
                     f"{r['embed_s']:.2f} / {r['add_s']:.2f} / {r['save_s']:.2f} | {r['query_p50_ms']:.1f} / "
                     f"{r['query_p95_ms']:.1f} | {r['cold_process_s']:.2f} / {r['warm_process_s']:.2f} | "
                     f"{r['update_first_s']:.2f} / {r['update_one_file_s']:.2f} / "
                     f"{r['update_process_s']:.2f} |")
    means = {k: statistics.fmean(r[k] for r in rows.values()) for k in next(iter(rows.values()))}
    lines.append(f"| mean | {means['files']:.0f} | {means['chunks']:.0f} | {means['build_process_s']:.2f} | "
                 f"{means['chunk_s']:.2f} / {means['embed_s']:.2f} / {means['add_s']:.2f} / {means['save_s']:.2f} | "
                 f"{means['query_p50_ms']:.1f} / {means['query_p95_ms']:.1f} | {means['cold_process_s']:.2f} / "
                 f"{means['warm_process_s']:.2f} | "
                 f"{means['update_first_s']:.2f} / {means['update_one_file_s']:.2f} / {means['update_process_s']:.2f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
