"""How much of a graph walk's speed is faiss's instruction set? One HNSW index (as `codesift search` builds it:
fp16 codes on huge pages) searched with faiss's AVX-512 kernels and with its AVX2 ones, alternating query by query
(the order flipping each query) on one thread. It tells whether latency measured on an AVX-512 VM carries over to
the AVX2-only VMs some sessions get: if the kernels barely matter, the difference is the core and memory. Usage:
    python bench/faiss_simd.py runs/bench-index/codesift-windows-1m.npz runs/bench-index/real-1m-fp16-index
(the index folder is built from the .npz's documents and saved there when missing: ~7 min at 1M on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from codesift.index.vectors import HNSWVectors

K = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vectors", type=Path, help=".npz with documents and queries (bench/real_index_vectors.py)")
    parser.add_argument("index", type=Path, help="HNSWVectors folder: loaded, or built and saved when missing")
    parser.add_argument("--ef", default="96,128,192")
    args = parser.parse_args()
    data = np.load(args.vectors)
    documents, queries = data["documents"], data["queries"]
    faiss.omp_set_num_threads(2)
    if (args.index / "hnsw.json").exists():
        index = HNSWVectors.load(args.index)
    else:
        start = time.perf_counter()
        index = HNSWVectors(documents.shape[1], codec="fp16")
        index.add(np.arange(len(documents)), documents)
        print(f"built in {time.perf_counter() - start:.0f} s", flush=True)
        index.save(args.index)
    print(f"{index.stats()['huge_page_mib']} MiB on huge pages", flush=True)
    truth = faiss.knn(queries, documents, K, metric=faiss.METRIC_INNER_PRODUCT)[1]
    faiss.omp_set_num_threads(1)
    levels = {"AVX512": faiss.SIMDLevel_AVX512, "AVX2": faiss.SIMDLevel_AVX2}
    levels = {name: level for name, level in levels.items() if faiss.SIMDConfig.is_simd_level_available(level)}
    for ef in (int(e) for e in args.ef.split(",")):
        times = {name: [] for name in levels}
        found = {name: [] for name in levels}
        for i, query in enumerate(queries):
            for name in list(levels) if i % 2 == 0 else list(levels)[::-1]:
                faiss.SIMDConfig.set_level(levels[name])
                start = time.perf_counter()
                ids, _ = index.search(query[None], K, ef)
                times[name].append((time.perf_counter() - start) * 1000)
                found[name].append(ids[0])
        for name in levels:
            recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found[name], truth)])
            print(f"efSearch {ef:4d} {name:7s} recall@{K} {recall:.4f} p50 {np.percentile(times[name], 50):.3f} ms "
                  f"p95 {np.percentile(times[name], 95):.3f} ms", flush=True)


if __name__ == "__main__":
    main()
