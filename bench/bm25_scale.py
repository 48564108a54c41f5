"""The BM25 side of a hybrid search at collection scale: per-query time of each step `CodeIndex` runs for it.

A hybrid query scores every chunk with BM25 (`BM25Index.scores`), keeps the best positive ones as candidates
(`top_candidates`), and standardizes by the best `hybrid_candidates` scores, zeros included. That reference used to
come from a partition of every chunk's score (`top_scores`, as the eval harness does over a pool of thousands);
`top_reference` reads it off the candidates. Both are timed here, and checked equal, over N windows of 256
characters of the data stage's units (first windows of every unit, then second ones...) with held-out docstring
queries. Usage:
    python bench/bm25_scale.py runs/small-gpu 1000000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from codesift.eval.benchmarks import read_pair_split
from codesift.eval.systems import top_scores
from codesift.index.lexical import BM25Index, top_candidates, top_reference

WINDOW = 256
CANDIDATES = 100  # IndexConfig.hybrid_candidates


def windows(code: list[str], n: int) -> list[str]:
    texts, w = [], 0
    while len(texts) < n:
        longer = [c[w * WINDOW : (w + 1) * WINDOW] for c in code if len(c) > w * WINDOW + WINDOW // 4]
        if not longer:
            raise SystemExit(f"the units hold only {len(texts):,} windows")
        texts += longer[: n - len(texts)]
        w += 1
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with data/units.parquet and pairs/pairs.parquet")
    parser.add_argument("n", type=int, help="windows to index")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    code = pq.read_table(args.run / "data" / "units.parquet", columns=["code"])["code"].to_pylist()
    texts = windows(code, args.n)
    start = time.perf_counter()
    bm25 = BM25Index.build(texts)
    print(f"BM25 over {len(texts):,} windows built in {time.perf_counter() - start:.0f} s", flush=True)
    queries = read_pair_split(args.run / "pairs" / "pairs.parquet", "test")["query"].to_pylist()[: args.queries]
    steps = {"scores": [], "top_candidates": [], "top_reference": [], "top_scores (before)": []}
    for query in queries:
        t0 = time.perf_counter()
        scores = bm25.scores(query)
        t1 = time.perf_counter()
        candidates = top_candidates(scores, CANDIDATES)
        t2 = time.perf_counter()
        reference = top_reference(scores, candidates, CANDIDATES, len(scores))
        t3 = time.perf_counter()
        before = top_scores(scores, CANDIDATES)
        t4 = time.perf_counter()
        np.testing.assert_array_equal(np.sort(reference), np.sort(before))
        for times, seconds in zip(steps.values(), (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times.append(seconds * 1000)
    for step, times in steps.items():
        print(f"{step:20s} p50 {np.percentile(times, 50):7.2f} ms  p95 {np.percentile(times, 95):7.2f} ms")
    now = np.array(steps["scores"]) + np.array(steps["top_candidates"]) + np.array(steps["top_reference"])
    before = now - np.array(steps["top_reference"]) + np.array(steps["top_scores (before)"])
    for name, total in (("BM25 side, now", now), ("BM25 side, before", before)):
        print(f"{name:20s} p50 {np.percentile(total, 50):7.2f} ms  p95 {np.percentile(total, 95):7.2f} ms")


if __name__ == "__main__":
    main()
