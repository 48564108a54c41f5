"""`codesift bench index`: HNSW efSearch sweep -- recall@10 against exact search, QPS, single-query latency, build
time and memory -- at each requested size, with a recall-vs-latency plot.

Vectors. Uniform noise has no neighbourhood structure and says little about real embeddings, so the default
documents are sampled from a Gaussian mixture fitted to real embeddings -- all-MiniLM-L6-v2 (384-d, the model ours
stands in for) on the 6,267 CoSQA code functions -- and the queries are the real MiniLM embeddings of the 1,000
CoSQA dev+test queries. The mixture (`fit_mixture`) has 256 k-means centres, the pooled residuals' top-64
principal directions, and isotropic noise for the remaining variance scaled by 0.5: the scale at which the
samples' local intrinsic dimensionality (MLE, k=20) comes out at or just above the real embeddings' (without it
the samples are easier than the real thing, with all of it much harder). The sweep also runs on the real
embeddings and on as many mixture samples, with both LIDs in the report, so the calibration can be checked.
The real embeddings are encoded once and cached (`--real FILE.npz`; any model's vectors of any corpus can stand
in, e.g. codesift's of 200k default-corpus units from bench/real_index_vectors.py); `--vectors clustered` uses a
synthetic mixture instead (no model needed).

`--library faiss-ivfpq` measures the alternative to a graph: an inverted file (k-means cells found through a small
HNSW over the centres, searched with a beam of 2 x nprobe) with 4-bit fast-scan PQ codes of two dimensions each,
re-ranked exactly with the float vectors (`IVF{nlist}_HNSW32,PQ{d/2}x4fs,RFlat`); its sweep values are nprobe
(cells scanned) instead of efSearch, with `--refine` x k candidates re-ranked.

Latency is one query per call on one thread (`faiss.omp_set_num_threads(1)`), as a service calls it, both as
wall-clock time and as the thread's CPU time (which leaves out time the scheduler gave other processes: on a shared
machine the wall-clock tail is mostly preemption); QPS is one batched call over all queries on every core. Index
MiB is the serialized index (vectors or SQ8 codes plus the graph), about what it holds in memory. The faiss graphs
are built and searched through `HNSWVectors`, the call `codesift search` makes, so its own per-query work is in
the figures (it once counted 1M live flags per query: 0.55 ms that timing faiss alone did not show); they sit on
huge pages as in the index (`codesift.index.hugepages`; `--small-pages` times the same graph without them too,
and each row reports the huge-page MiB of the mappings holding its graph: smaps counts by mapping, so at 1M the
copy on small pages showed 6 of 870 MiB, the advised graph 854); hnswlib keeps its graph in one allocation
Python cannot reach, so it runs on small pages.
Figures go to OUT/results.json, OUT/report.md and OUT/recall_latency.png (copy them into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

OUT = "runs/bench-index"
REAL = "runs/bench-index/minilm-cosqa.npz"
HNSW_FAISS = {"faiss": "float32", "faiss-fp16": "fp16", "faiss-sq8": "int8"}  # the HNSWVectors codec of each
EFS = "16,24,32,48,64,96,128,192,256,384,512"


def configure(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--sizes", default="100000,1000000",
                   help="comma-separated vector counts (default %(default)s; '': only the real and fitted sweeps)")
    p.add_argument("--ef", default=EFS, help="efSearch values to sweep (default %(default)s)")
    p.add_argument("--queries", type=int, default=1000, help="queries per size (default %(default)s)")
    p.add_argument("--k", type=int, default=10, help="recall@k (default %(default)s)")
    p.add_argument("--m", type=int, default=16, help="HNSW degree (default %(default)s)")
    p.add_argument("--ef-construction", type=int, default=200, help="HNSW build beam (default %(default)s)")
    p.add_argument("--library", default="faiss-fp16",
                   help="faiss-fp16 (the index's default: the graph over half-float vectors), faiss (float32), "
                   "hnswlib, faiss-ivfpq (--ef values are then nprobe), or a comma-separated list (default %(default)s)")
    p.add_argument("--nlist", type=int, default=None,
                   help="faiss-ivfpq cells (default: the power of two nearest 4 x sqrt(n))")
    p.add_argument("--refine", type=int, default=16, help="faiss-ivfpq: re-rank refine x k candidates exactly")
    p.add_argument("--int8", action="store_true", help="also measure faiss SQ8 with float rescoring")
    p.add_argument("--small-pages", action="store_true",
                   help="also time each faiss graph on small (4 KiB) pages: a copy without the huge-page advice the "
                   "index gives its buffers, queried alternately with it (library label '... 4k-pages')")
    p.add_argument("--vectors", choices=["real-fit", "clustered"], default="real-fit",
                   help="mixture fitted to real MiniLM embeddings (default) or a synthetic mixture")
    p.add_argument("--real", default=REAL, help="cached real embeddings, .npz of documents and queries (MiniLM on "
                   "CoSQA, encoded when missing; bench/real_index_vectors.py writes codesift's on its corpus)")
    p.add_argument("--no-fit-check", action="store_true",
                   help="skip the mixture's calibration check (a sweep over as many mixture samples as real vectors): "
                   "halves the time of a sweep over a large --real file")
    p.add_argument("--dim", type=int, default=384, help="dimension for --vectors clustered (default %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build and batch-search threads")
    p.add_argument("--filters", default="0.5,0.2,0.1,0.05,0.02,0.01",
                   help="filter selectivities to time at the first size, graph vs exact ('' skips; default %(default)s)")
    p.add_argument("--filter-ef", type=int, default=64, help="efSearch for the filtered searches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=OUT, help="output folder (default %(default)s)")
    p.add_argument("--combine", metavar="RESULTS.json,...",
                   help="measure nothing: merge earlier runs' results.json into one report and plot in --out")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from codesift.index.commands import quiet_libraries
    from codesift.log import get_logger
    from codesift.runs import machine_info, package_versions

    quiet_libraries()
    log = get_logger("codesift.bench.index")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        return combine([Path(f) for f in args.combine.split(",")], out)
    rng = np.random.default_rng(args.seed)
    efs = [int(e) for e in args.ef.split(",")]
    libraries = [lib.strip() for lib in args.library.split(",")]
    results: dict[str, Any] = {
        "command": "codesift bench index " + " ".join(_argv(args)), "machine": machine_info(),
        "load_average_start": os.getloadavg(), "versions": package_versions(), "vectors": args.vectors,
        "m": args.m, "ef_construction": args.ef_construction, "k": args.k, "threads": args.threads, "runs": [],
    }
    if args.vectors == "real-fit":
        real = load_real(Path(args.real))
        docs = fit_mixture(real["documents"], 256, rng)
        real_queries = real["queries"][rng.permutation(len(real["queries"]))[: args.queries]]
        queries = lambda n: real_queries[:n]  # noqa: E731
        n_real = len(real["documents"])
        fit_check = not args.no_fit_check
        sample = docs(n_real) if fit_check else None
        results["real"] = {"documents": n_real, "queries": len(real["queries"]),
                           "source": "all-MiniLM-L6-v2 on CoSQA code functions and dev+test queries"
                           if Path(args.real) == Path(REAL) else args.real,
                           "lid_real": round(lid(real["documents"]), 1),
                           "lid_mixture": round(lid(sample), 1) if fit_check else None}
        log.info("local intrinsic dimensionality (MLE, k=20): real %.1f, mixture %s", results["real"]["lid_real"],
                 results["real"]["lid_mixture"])
        # Sanity check: the sweep on the real embeddings and on as many mixture samples (same real queries).
        for library in libraries:
            results["runs"] += sweep(real["documents"], real_queries, library, efs, args, log, "real")
            if fit_check:
                results["runs"] += sweep(sample, real_queries, library, efs, args, log, f"real-fit-{n_real}")
    else:
        docs = queries = synthetic_mixture(args.dim, rng)
    for n, size in enumerate(int(s) for s in args.sizes.split(",") if s):  # "": the real sweeps alone
        data, q = docs(size), queries(args.queries)
        if n == 0 and args.filters:
            results["filters"] = filtered(data, q[:200], [float(f) for f in args.filters.split(",")], args, log, rng)
        for library in libraries:
            results["runs"] += sweep(data, q, library, efs, args, log, f"{args.vectors}-{size}")
        if args.int8:
            results["runs"] += sweep(data, q, "faiss-sq8", efs, args, log, f"{args.vectors}-{size}")
        del data
    results["load_average_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(report(results))
    plot(results, out / "recall_latency.png")
    print(report(results))
    return 0


# --- data ---------------------------------------------------------------------------------------------------------


def load_real(path: Path) -> dict[str, Any]:
    """MiniLM embeddings of the CoSQA pool and queries, encoded once (a few minutes on 2 cores) and cached."""
    import numpy as np

    if not path.is_file():
        from codesift.eval.benchmarks import benchmarks_dir, load_cosqa
        from codesift.eval.systems import DenseSystem, minilm_dir

        dev, test = (load_cosqa(benchmarks_dir(), split) for split in ("dev", "test"))
        model = DenseSystem(minilm_dir(), "minilm")
        documents = model.encode(sorted(set(dev.corpus.values())))
        queries = model.encode(list(dev.queries.values()) + list(test.queries.values()))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, documents=documents, queries=queries)
    with np.load(path) as f:
        return {"documents": f["documents"].astype(np.float32), "queries": f["queries"].astype(np.float32)}


def fit_mixture(x, clusters: int, rng, rank: int = 64, rest_scale: float = 0.5):
    """A sampler of unit vectors like `x`: k-means centres, cluster sizes as weights, and the pooled residuals'
    top-`rank` principal directions (with their variances) plus isotropic noise carrying `rest_scale` of the
    remaining per-dimension spread, as the within-cluster distribution."""
    import faiss
    import numpy as np

    km = faiss.Kmeans(x.shape[1], clusters, niter=25, seed=int(rng.integers(1 << 30)), verbose=False)
    km.train(x)
    _, assign = km.index.search(x, 1)
    assign = assign[:, 0]
    centres = km.centroids
    resid = x - centres[assign]
    _, s, vt = np.linalg.svd(resid - resid.mean(0), full_matrices=False)
    var = s**2 / len(x)
    basis, scale = vt[:rank], np.sqrt(var[:rank])
    rest = rest_scale * np.sqrt(var[rank:].mean()) if len(var) > rank else 0.0
    weights = np.bincount(assign, minlength=clusters) / len(x)

    def sample(n: int):
        out = np.empty((n, x.shape[1]), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            c = rng.choice(clusters, m, p=weights)
            z = rng.standard_normal((m, rank)).astype(np.float32) * scale
            noise = rng.standard_normal((m, x.shape[1])).astype(np.float32) * rest
            v = centres[c] + z @ basis + noise
            out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    return sample


def lid(x, k: int = 20, sample: int = 2000) -> float:
    """Median maximum-likelihood local intrinsic dimensionality (Levina-Bickel) over `sample` points' k-NN."""
    import faiss
    import numpy as np

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, _ = index.search(x[:sample], k + 1)
    dist = np.sqrt(np.maximum(2 - 2 * sims[:, 1:], 1e-12))  # unit vectors: |a - b|^2 = 2 - 2 a.b
    return float(np.median(-1 / np.mean(np.log(dist[:, :-1] / dist[:, -1:]), axis=1)))


def synthetic_mixture(dim: int, rng, clusters: int = 1000):
    """A mixture without real data: 1,000 random centres, within-cluster spread on a power-law spectrum."""
    import numpy as np

    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    spectrum = (np.arange(1, dim + 1) ** -0.8).astype(np.float32)
    mix = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32) * spectrum[:, None] * 3.0

    def sample(n: int):
        out = np.empty((n, dim), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            v = centres[rng.integers(0, clusters, m)] + rng.standard_normal((m, dim)).astype(np.float32) @ mix
            out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    return sample


# --- measurement --------------------------------------------------------------------------------------------------


def sweep(data, queries, library: str, efs: list[int], args, log, dataset: str) -> list[dict[str, Any]]:
    """Build one index over `data`, then measure every efSearch; one result dict per ef and variant (the index, and
    with --small-pages its copy on small pages)."""
    import faiss
    import numpy as np

    n, dim = data.shape
    k = args.k
    t0 = time.perf_counter()
    truth = np.empty((len(queries), k), dtype=np.int64)
    faiss.omp_set_num_threads(args.threads)
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    _, truth[:] = flat.search(queries, k)
    exact_batch_s = time.perf_counter() - t0
    del flat
    log.info("%s: exact top-%d of %d queries over %d x %d in %.1fs", dataset, k, len(queries), n, dim, exact_batch_s)

    t0 = time.perf_counter()
    index = _build(library, data, args)
    build_s = time.perf_counter() - t0
    memory = _index_bytes(library, index)
    log.info("%s: %s built in %.1fs (%.0f MiB)", dataset, library, build_s, memory / 2**20)
    variants = {library: index}
    if library in HNSW_FAISS and args.small_pages:  # a copy in fresh allocations, which nothing advises
        variants[f"{library} 4k-pages"] = copy.copy(index)
        variants[f"{library} 4k-pages"].index = faiss.clone_index(index.index)
    huge_mib = {name: variant.stats()["huge_page_mib"] if library in HNSW_FAISS else 0.0
                for name, variant in variants.items()}
    rows = []
    for ef in efs:
        searches = {name: _searcher(library, variant, k, ef, args.refine) for name, variant in variants.items()}
        found, batch_s = {}, {}
        _threads(library, index, args.threads)
        for name, search in searches.items():
            t0 = time.perf_counter()
            found[name] = search(queries)
            batch_s[name] = time.perf_counter() - t0
        _threads(library, index, 1)
        latencies = {name: np.empty(len(queries)) for name in searches}
        cpu = {name: np.empty(len(queries)) for name in searches}
        order = list(searches.items())
        for i in range(len(queries)):
            q = queries[i : i + 1]
            # Variants alternate query by query, so drift hits them alike, and take turns going first, since the
            # first search of a query ran ~15% slower than the second on the same small graph (cold caches).
            for name, search in order[i % len(order) :] + order[: i % len(order)]:
                c0, t0 = time.thread_time(), time.perf_counter()
                search(q)
                latencies[name][i], cpu[name][i] = time.perf_counter() - t0, time.thread_time() - c0
        for name in searches:
            hits = [len(set(f) & set(t)) for f, t in zip(found[name], truth)]
            lat, cpu_s = latencies[name], cpu[name]
            row = {
                "dataset": dataset, "library": name, "n": n, "dim": dim, "ef_search": ef,
                f"recall@{k}": round(float(np.mean(hits)) / k, 4),
                "qps_batch": round(len(queries) / batch_s[name], 1),
                "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 4),
                "p95_ms": round(float(np.percentile(lat, 95)) * 1e3, 4),
                "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 4),
                "cpu_p50_ms": round(float(np.percentile(cpu_s, 50)) * 1e3, 4),
                "cpu_p95_ms": round(float(np.percentile(cpu_s, 95)) * 1e3, 4),
                "qps_single_thread": round(len(queries) / lat.sum(), 1),
                "build_s": round(build_s, 1), "index_mib": round(memory / 2**20, 1), "huge_page_mib": huge_mib[name],
                "exact_batch_qps": round(len(queries) / exact_batch_s, 1), "load_average": os.getloadavg()[0],
            }
            rows.append(row)
            log.info("%s %s ef=%d: recall@%d %.4f, p50 %.3f ms, p95 %.3f ms (CPU %.3f), %.0f QPS batched", dataset,
                     name, ef, k, row[f"recall@{k}"], row["p50_ms"], row["p95_ms"], row["cpu_p95_ms"],
                     row["qps_batch"])
    return rows


def _build(library: str, data, args):
    import faiss
    import numpy as np

    if library == "hnswlib":
        import hnswlib

        index = hnswlib.Index("ip", data.shape[1])
        index.init_index(len(data), args.m, args.ef_construction, random_seed=args.seed)
        index.add_items(data, num_threads=args.threads)
        return index
    faiss.omp_set_num_threads(args.threads)
    if library in HNSW_FAISS:
        from codesift.index.vectors import HNSWVectors

        index = HNSWVectors(data.shape[1], args.m, args.ef_construction, HNSW_FAISS[library])
        index.add(np.arange(len(data)), data)  # ids = rows, so results compare with exact search as they are
        return index
    if library == "faiss-ivfpq":
        nlist = args.nlist or ivf_cells(len(data))
        index = faiss.index_factory(data.shape[1], f"IVF{nlist}_HNSW32,PQ{data.shape[1] // 2}x4fs,RFlat",
                                    faiss.METRIC_INNER_PRODUCT)
        index.train(data[: 64 * nlist])  # 64 points per cell: k-means cost, not quality, grows past that
        index.add(data)
        return index
    raise ValueError(f"unknown library {library!r}: faiss, faiss-fp16, faiss-sq8, faiss-ivfpq or hnswlib")


def _searcher(library: str, index, k: int, ef: int, refine: int):
    import faiss

    if library in HNSW_FAISS:  # int8 (faiss-sq8): 4 x k SQ8 candidates rescored with the float vectors
        return lambda q: index.search(q, k, ef)[0]
    if library == "hnswlib":
        index.set_ef(max(ef, k))
        return lambda q: index.knn_query(q, k, num_threads=1 if len(q) == 1 else -1)[0]
    if library == "faiss-ivfpq":
        # The HNSW over the centres needs a beam of its own: at its default (16) it misses cells it should probe
        # (on real vectors that capped recall at 0.86 at nprobe 256, against 0.97 for exact cell assignment).
        cells = faiss.SearchParametersHNSW(efSearch=2 * ef)
        ivf = faiss.SearchParametersIVF(nprobe=ef, quantizer_params=cells)
        params = faiss.IndexRefineSearchParameters(k_factor=refine, base_index_params=ivf)
        params.keep = (cells, ivf)  # SWIG holds raw pointers: keep the nested parameters alive with the outer one
        return lambda q: index.search(q, k, params=params)[1]
    raise ValueError(f"unknown library {library!r}")


def ivf_cells(n: int) -> int:
    """The usual inverted-file size, ~4 sqrt(n) cells, as a power of two."""
    import math

    return 2 ** max(4, round(math.log2(4 * math.sqrt(n))))


def _threads(library: str, index, n: int) -> None:
    import faiss

    if library != "hnswlib":
        faiss.omp_set_num_threads(n)


def _index_bytes(library: str, index) -> int:
    """The index's own size (vectors or codes + graph), serialized: what it holds in memory, give or take."""
    import tempfile

    import faiss

    if library == "hnswlib":
        with tempfile.TemporaryDirectory() as tmp:
            index.save_index(f"{tmp}/index.bin")
            return os.path.getsize(f"{tmp}/index.bin")
    return faiss.serialize_index(index.index if library in HNSW_FAISS else index).nbytes


def _argv(args: argparse.Namespace) -> list[str]:
    skip = {"handler", "command", "bench", "log_level"}
    return [f"--{k.replace('_', '-')}={v}" if not isinstance(v, bool) else f"--{k.replace('_', '-')}"
            for k, v in sorted(vars(args).items()) if k not in skip and v not in (None, False)]


def filtered(data, queries, selectivities: list[float], args, log, rng) -> list[dict[str, Any]]:
    """CodeIndex's filtered search (`HNSWVectors.search(allowed=...)`) at each selectivity, forced through the graph
    (ID selector, efSearch widened as the filter narrows) and forced exact, to place `exact_filter_max`. Allowed
    ids are a random subset: the graph's worst case (a real repo or language filter keeps whole neighbourhoods)."""
    import faiss
    import numpy as np

    from codesift.config import IndexConfig
    from codesift.index.vectors import HNSWVectors, exact_search

    faiss.omp_set_num_threads(args.threads)
    ids = np.arange(len(data), dtype=np.int64)
    index = HNSWVectors(data.shape[1], args.m, args.ef_construction, IndexConfig().vectors)  # the index's codes
    index.add(ids, data)
    faiss.omp_set_num_threads(1)
    rows = []
    for share in selectivities:
        allowed = np.sort(rng.choice(ids, max(args.k, int(share * len(ids))), replace=False))
        truth, _ = exact_search(data[allowed], allowed, queries, args.k)
        row = {"selectivity": share, "allowed": len(allowed), "n": len(data), "ef_search": args.filter_ef}
        for mode, exact_max in (("graph", 0), ("exact", len(data))):
            index.exact_max = exact_max
            lat, cpu, found = np.empty(len(queries)), np.empty(len(queries)), []
            for i in range(len(queries)):
                c0, t0 = time.thread_time(), time.perf_counter()
                got, _ = index.search(queries[i : i + 1], args.k, args.filter_ef, allowed)
                lat[i], cpu[i] = time.perf_counter() - t0, time.thread_time() - c0
                found.append(got[0])
            hits = [len(set(f) & set(t)) for f, t in zip(found, truth)]
            row[f"{mode}_recall"] = round(float(np.mean(hits)) / args.k, 4)
            row[f"{mode}_p50_ms"] = round(float(np.percentile(lat, 50)) * 1e3, 3)
            row[f"{mode}_p95_ms"] = round(float(np.percentile(lat, 95)) * 1e3, 3)
            row[f"{mode}_cpu_p95_ms"] = round(float(np.percentile(cpu, 95)) * 1e3, 3)
        log.info("filter %.2f (%d ids): graph recall %.3f p95 %.2f ms; exact p95 %.2f ms", share, len(allowed),
                 row["graph_recall"], row["graph_p95_ms"], row["exact_p95_ms"])
        rows.append(row)
    return rows


def combine(files: list[Path], out: Path) -> int:
    """One report and plot over several runs (e.g. the 100k and the 1M run, which are too long to repeat)."""
    runs = [json.loads(f.read_text()) for f in files]
    merged = {**runs[-1], "runs": [r for run in runs for r in run["runs"]],
              "filters": next((run["filters"] for run in runs if run.get("filters")), None),
              "command": " ; ".join(run["command"] for run in runs),
              "load_average_start": runs[0]["load_average_start"], "load_average_end": runs[-1]["load_average_end"]}
    seen, unique = set(), []
    for r in merged["runs"]:  # the real-embedding sanity sweeps appear in every run: keep the first
        key = (r["dataset"], r["library"], r["ef_search"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    merged["runs"] = unique
    (out / "results.json").write_text(json.dumps(merged, indent=2) + "\n")
    (out / "report.md").write_text(report(merged))
    plot(merged, out / "recall_latency.png")
    print(report(merged))
    return 0


# --- output -------------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    k = results["k"]
    m = results["machine"]
    lines = [
        f"`{results['command']}`", "",
        f"Machine: {m.get('cpu')} ({m.get('cpus')} CPUs, {m.get('memory_gib')} GiB); load average "
        f"{results['load_average_start'][0]:.2f} at start, {results['load_average_end'][0]:.2f} at end. "
        f"M={results['m']}, efConstruction={results['ef_construction']}, {results['threads']} build/batch threads.",
        *([f"Data: {results['vectors']}; real embeddings: {results['real']['documents']:,} documents, "
           f"{results['real']['queries']:,} queries ({results['real']['source']}); local intrinsic dimensionality "
           f"real {results['real']['lid_real']}, mixture {results['real']['lid_mixture']}."]
          if results.get("real") else [f"Data: {results['vectors']}."]),
        "", f"| data | library | n | build s | index MiB | on huge pages MiB | efSearch | recall@{k} | p50 ms | p95 ms "
            "| p99 ms | CPU p50 ms | CPU p95 ms | QPS (1 thread) | QPS (batch) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(f"| {r['dataset']} | {r['library']} | {r['n']:,} | {r['build_s']} | {r['index_mib']:.0f} | "
                     f"{r.get('huge_page_mib', '-')} | {r['ef_search']} | {r[f'recall@{k}']:.4f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
                     f"{r['p99_ms']:.3f} | {r['cpu_p50_ms']:.3f} | {r['cpu_p95_ms']:.3f} | "
                     f"{r['qps_single_thread']:.0f} | {r['qps_batch']:.0f} |")
    if results.get("filters"):
        f0 = results["filters"][0]
        lines += ["", f"Filtered search over {f0['n']:,} vectors (random allowed subsets, efSearch {f0['ef_search']}, "
                      "1 thread):", "",
                  "| kept | ids | graph recall | graph p50 ms | graph p95 ms | graph CPU p95 ms | exact p50 ms "
                  "| exact p95 ms | exact CPU p95 ms |", "|---|---|---|---|---|---|---|---|---|"]
        for r in results["filters"]:
            lines.append(f"| {r['selectivity']:.0%} | {r['allowed']:,} | {r['graph_recall']:.4f} | "
                         f"{r['graph_p50_ms']:.3f} | {r['graph_p95_ms']:.3f} | {r['graph_cpu_p95_ms']:.3f} | "
                         f"{r['exact_p50_ms']:.3f} | {r['exact_p95_ms']:.3f} | {r['exact_cpu_p95_ms']:.3f} |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = results["k"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results["runs"]:
        series.setdefault((r["dataset"], r["library"]), []).append(r)
    for (dataset, library), rows in series.items():
        ax.plot([r["p95_ms"] for r in rows], [r[f"recall@{k}"] for r in rows], marker="o",
                label=f"{dataset} {library}")
        for r in rows:
            ax.annotate(str(r["ef_search"]), (r["p95_ms"], r[f"recall@{k}"]), fontsize=6,
                        textcoords="offset points", xytext=(2, -7))
    ax.axhline(0.98, color="grey", lw=0.6, ls="--")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("p95 single-query latency (ms, 1 thread)")
    ax.set_ylabel(f"recall@{k} vs exact search")
    ax.set_title(f"HNSW efSearch sweep (M={results['m']}, efC={results['ef_construction']}; labels: efSearch, "
                 "nprobe for IVF)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
