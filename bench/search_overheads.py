"""What `HNSWVectors.search` adds around faiss at 1M vectors, unfiltered and with a filter.

Two costs hid here that `codesift bench index` did not see while it timed faiss alone: the search counted the live
flags on every query (0.55 ms at 1M, more than the walk), and a filtered search rebuilt the filter's slots and
bitmap whenever the ids array was a new object (CodeIndex made one per call). Timed one query at a time on one
thread over a saved index (bench/faiss_simd.py builds one): faiss's own search, `HNSWVectors.search`, and a 50%
filter passed as the same array every time (as CodeIndex now does) and as a fresh copy of it each time. Usage:
    python bench/search_overheads.py runs/bench-index/codesift-windows-1m.npz runs/bench-index/real-1m-fp16-index
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from codesift.index.vectors import HNSWVectors

K, EF = 10, 128


def timed(search, queries: np.ndarray) -> str:
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query[None])
        times.append((time.perf_counter() - start) * 1000)
    return f"p50 {np.percentile(times, 50):6.3f} ms  p95 {np.percentile(times, 95):6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors", type=Path, help=".npz with the queries (bench/real_index_vectors.py)")
    parser.add_argument("index", type=Path, help="a saved HNSWVectors folder over the .npz's documents")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    queries = np.load(args.vectors)["queries"][: args.queries]
    index = HNSWVectors.load(args.index)
    faiss.omp_set_num_threads(1)
    params = faiss.SearchParametersHNSW(efSearch=EF)
    ids = index.ids[index.live]
    allowed = ids[np.random.default_rng(0).random(len(ids)) < 0.5]
    print(f"{len(index):,} vectors, efSearch {EF}, {len(queries)} queries, one at a time")
    for _ in range(2):  # twice: the machine's drift shows as the difference between the passes
        print(f"  faiss alone                 {timed(lambda q: index.index.search(q, K, params=params), queries)}")
        print(f"  HNSWVectors.search          {timed(lambda q: index.search(q, K, EF), queries)}")
        print(f"  50% filter, same ids array  {timed(lambda q: index.search(q, K, EF, allowed), queries)}")
        print(f"  50% filter, fresh ids array {timed(lambda q: index.search(q, K, EF, allowed.copy()), queries)}")


if __name__ == "__main__":
    main()
