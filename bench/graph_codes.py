"""One HNSW graph, walked over other vector codes and memory orders: which makes the walk cheaper at equal recall?

The question (issue 8): at 400k-1M vectors the graph walk is bound by reading vectors, so fewer bytes per vector
(fp16, bf16, int8) or neighbours stored near each other (a breadth-first order of the bottom layer, against the
corpus order the vectors came in and a random one) might buy latency. Every variant reuses the graph built once
over the float vectors (M=16, efConstruction=200; cached beside the .npz), so only the codes or the order differ.
int8 is faiss's direct signed 8-bit code of the vectors scaled by 127 (no per-dimension range), with and without
an exact re-rank of k_factor x 10 candidates. Latency is one query at a time on one thread, as in `codesift bench
index`; the plain graph is measured first and last, since this VM's speed drifts. Usage:
    python bench/graph_codes.py runs/bench-index/codesift-units-400k.npz --ef 96,128,192
    python bench/graph_codes.py runs/bench-index/codesift-windows-1m.npz --codes fp16 --orders '' \
        --grow runs/bench-index/codesift-units-400k.hnsw16.faiss
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from pathlib import Path

import faiss
import numpy as np

K = 10


def measure(name: str, index: faiss.Index, queries: np.ndarray, truth: np.ndarray, efs: list[int],
            to_original: np.ndarray | None = None, k_factor: int = 0) -> None:
    for ef in efs:
        params = faiss.SearchParametersHNSW(efSearch=ef)
        if k_factor:
            params = faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=params)
        faiss.omp_set_num_threads(2)
        found = index.search(queries, K, params=params)[1]
        if to_original is not None:
            found = to_original[found]
        recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])
        faiss.omp_set_num_threads(1)
        times = []
        for q in queries:
            start = time.perf_counter()
            index.search(q[None], K, params=params)
            times.append((time.perf_counter() - start) * 1000)
        print(f"{name:30s} efSearch {ef:4d}: recall@10 {recall:.4f} p50 {np.percentile(times, 50):.3f} ms "
              f"p95 {np.percentile(times, 95):.3f} ms", flush=True)
    if to_original is None and not k_factor:
        print(f"{name:30s} serialized: {faiss.serialize_index(index).nbytes / 2**20:,.0f} MiB", flush=True)


def breadth_first(graph: faiss.IndexHNSW) -> np.ndarray:
    """Bottom-layer breadth-first order from the entry point (new slot -> old slot, as permute_entries wants)."""
    hnsw = graph.hnsw
    offsets = faiss.vector_to_array(hnsw.offsets).astype(np.int64)
    neighbours = faiss.vector_to_array(hnsw.neighbors)
    bottom = neighbours[offsets[:-1, None] + np.arange(hnsw.cum_nb_neighbors(0), hnsw.cum_nb_neighbors(1))]
    seen, order = np.zeros(graph.ntotal, bool), []
    for start in [hnsw.entry_point, *range(graph.ntotal)]:
        if seen[start]:
            continue
        seen[start], queue = True, deque([start])
        while queue:
            node = queue.popleft()
            order.append(node)
            for n in bottom[node]:
                if n >= 0 and not seen[n]:
                    seen[n] = True
                    queue.append(n)
    return np.array(order, dtype=np.int64)


def same_graph(graph: faiss.IndexHNSW, vectors: np.ndarray, code: int) -> faiss.IndexHNSWSQ:
    index = faiss.IndexHNSWSQ(vectors.shape[1], code, graph.hnsw.nb_neighbors(1), faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:1000])
    index.storage.add(vectors)
    index.hnsw = graph.hnsw  # a copy of the links
    index.ntotal = graph.ntotal
    return index


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vectors", type=Path, help=".npz with documents and queries (bench/real_index_vectors.py)")
    p.add_argument("--grow", type=Path, help="a cached graph over the first documents of this file (e.g. the 400k "
                   "sample's): add the rest to it instead of building from scratch, as incremental indexing does")
    p.add_argument("--ef", default="96,128,192")
    p.add_argument("--codes", default="fp16,bf16,int8", help="codes besides float32 (default %(default)s)")
    p.add_argument("--orders", default="breadth-first,random", help="memory orders besides the corpus's "
                   "(default %(default)s; breadth-first also runs fp16)")
    args = p.parse_args()
    codes, orders = set(filter(None, args.codes.split(","))), set(filter(None, args.orders.split(",")))
    efs = [int(e) for e in args.ef.split(",")]
    with np.load(args.vectors) as z:
        documents, queries = np.ascontiguousarray(z["documents"]), np.ascontiguousarray(z["queries"])
    faiss.omp_set_num_threads(2)
    exact = faiss.IndexFlatIP(documents.shape[1])
    exact.add(documents)
    truth = exact.search(queries, K)[1]
    del exact
    cache = args.vectors.with_suffix(".hnsw16.faiss")
    if cache.exists():
        graph = faiss.read_index(str(cache))
    else:
        start = time.perf_counter()
        if args.grow:
            graph = faiss.read_index(str(args.grow))
            if not np.array_equal(graph.reconstruct_n(0, min(1000, graph.ntotal)), documents[:1000][:graph.ntotal]):
                raise SystemExit(f"{args.grow} is not a graph over the first documents of {args.vectors}")
            print(f"growing {args.grow} ({graph.ntotal:,} vectors)", flush=True)
        else:
            graph = faiss.IndexHNSWFlat(documents.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = 200
        graph.add(documents[graph.ntotal :])
        faiss.write_index(graph, str(cache))
        print(f"graph over {len(documents):,} x {documents.shape[1]} built in {time.perf_counter() - start:.0f} s")
    measure("float32 (corpus order)", graph, queries, truth, efs)
    for name, code in (("fp16", faiss.ScalarQuantizer.QT_fp16), ("bf16", faiss.ScalarQuantizer.QT_bf16)):
        if name in codes:
            measure(name, same_graph(graph, documents, code), queries, truth, efs)
    if "int8" in codes:
        int8_direct(graph, documents, queries, truth, efs)
    if "breadth-first" in orders:
        order = breadth_first(graph)
        fp16 = same_graph(graph, documents, faiss.ScalarQuantizer.QT_fp16)
        graph.permute_entries(order)
        fp16.permute_entries(order)
        measure("float32 (breadth-first order)", graph, queries, truth, efs, order)
        measure("fp16 (breadth-first order)", fp16, queries, truth, efs, order)
    else:
        order = np.arange(graph.ntotal, dtype=np.int64)
    if "random" in orders:
        shuffle = np.random.default_rng(0).permutation(graph.ntotal).astype(np.int64)
        graph.permute_entries(shuffle)
        measure("float32 (random order)", graph, queries, truth, efs, order[shuffle])
    measure("float32 (corpus order), again", faiss.read_index(str(cache)), queries, truth, efs)


def int8_direct(graph: faiss.IndexHNSW, documents: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                efs: list[int]) -> None:
    """faiss's direct signed 8-bit code of the vectors x 127 (queries scaled alike), alone and re-ranked x4."""
    scaled = np.clip(np.round(documents * 127), -127, 127).astype(np.float32)
    codes = same_graph(graph, scaled, faiss.ScalarQuantizer.QT_8bit_direct_signed)
    scale = faiss.LinearTransform(documents.shape[1], documents.shape[1], True)
    faiss.copy_array_to_vector((127 * np.eye(documents.shape[1], dtype=np.float32)).ravel(), scale.A)
    faiss.copy_array_to_vector(np.zeros(documents.shape[1], np.float32), scale.b)
    scale.is_trained = True
    int8 = faiss.IndexPreTransform(scale, codes)
    measure("int8 direct", int8, queries, truth, efs)
    measure("int8 direct, re-ranked x4", faiss.IndexRefineFlat(int8, faiss.swig_ptr(documents)), queries, truth,
            efs, k_factor=4)


if __name__ == "__main__":
    main()
