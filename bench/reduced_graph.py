"""An HNSW graph over PCA-reduced vectors, its candidates re-ranked with the full vectors, against the plain graph.

The question (issue 8): can a cheaper graph walk (fewer dimensions per distance, fewer cache lines per vector) reach
recall@10 >= 0.98 under 1 ms where the full 384-dim graph cannot? Same M/efConstruction as the index; PCA trained on
the first 100k documents; `k_factor` x 10 graph candidates re-ranked exactly (faiss IndexRefineFlat). Latency is one
query at a time on one thread, as in `codesift bench index`. Usage:
    python bench/reduced_graph.py runs/bench-index/codesift-units-400k.npz --dims 128,192,384
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

K = 10


def single_query_ms(index: faiss.Index, queries: np.ndarray) -> tuple[float, float]:
    faiss.omp_set_num_threads(1)
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None], K)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def build(documents: np.ndarray, dim: int, m: int, ef_construction: int) -> tuple[faiss.Index, faiss.IndexHNSW]:
    """(searchable index, its HNSW part): the plain graph at full width, else PCA -> graph -> exact re-rank."""
    graph = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = ef_construction
    if dim == documents.shape[1]:
        graph.add(documents)
        return graph, graph
    pca = faiss.PCAMatrix(documents.shape[1], dim)
    pca.train(documents[:100_000])
    reduced = faiss.IndexPreTransform(pca, graph)
    reduced.add(documents)
    refined = faiss.IndexRefineFlat(reduced, faiss.swig_ptr(documents))
    return refined, graph


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vectors", help=".npz with documents and queries (bench/real_index_vectors.py)")
    p.add_argument("--dims", default="128,192,384", help="graph widths; the full width is the plain graph")
    p.add_argument("--ef", default="48,64,96,128,192")
    p.add_argument("--k-factors", default="2,4,8", help="re-ranked candidates per result")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    with np.load(args.vectors) as z:
        documents, queries = np.ascontiguousarray(z["documents"]), np.ascontiguousarray(z["queries"])
    faiss.omp_set_num_threads(args.threads)
    exact = faiss.IndexFlatIP(documents.shape[1])
    exact.add(documents)
    truth = exact.search(queries, K)[1]
    print(f"{len(documents):,} documents x {documents.shape[1]}, {len(queries):,} queries", flush=True)
    for dim in (int(d) for d in args.dims.split(",")):
        start = time.perf_counter()
        index, graph = build(documents, dim, args.m, args.ef_construction)
        print(f"dim {dim}: built in {time.perf_counter() - start:.0f} s", flush=True)
        k_factors = [1] if dim == documents.shape[1] else [int(k) for k in args.k_factors.split(",")]
        for ef in (int(e) for e in args.ef.split(",")):
            graph.hnsw.efSearch = ef
            for k_factor in k_factors:
                if k_factor > 1:
                    index.k_factor = k_factor
                faiss.omp_set_num_threads(args.threads)
                found = index.search(queries, K)[1]
                recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])
                p50, p95 = single_query_ms(index, queries)
                print(f"dim {dim} efSearch {ef} k_factor {k_factor}: recall@10 {recall:.4f} p50 {p50:.3f} ms "
                      f"p95 {p95:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
