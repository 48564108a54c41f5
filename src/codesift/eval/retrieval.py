"""Systems x benchmarks -> one results dict: metrics, confidence intervals, breakdowns, recall curves, timings.

The results dict is plain JSON data; `report` renders it and later stages (export's quality gate, model selection)
read it back from metrics.json. Metric values are fractions in [0, 1].
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codesift.eval.benchmarks import Benchmark
from codesift.eval.metrics import paired_difference, per_query, recall_curve, relevant_ranks, summarize
from codesift.eval.systems import Retriever
from codesift.log import get_logger
from codesift.runs import machine_info, package_versions

log = get_logger(__name__)

QUERY_BLOCK = 256  # queries scored at once: bounds the score matrix to 256 x corpus floats
CURVE_MAX_K = 100
REFERENCE = "bm25"  # every other system's MRR is also compared with this one's, query by query
LATENCY_QUERIES = 50  # queries also answered one at a time: what a search user waits (encode + exact search)


def evaluate(systems: Mapping[str, Retriever], benchmarks: Sequence[Benchmark]) -> dict[str, Any]:
    """Exact search of every benchmark's queries with every system over the benchmark's whole corpus."""
    out: dict[str, Any] = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "systems": {name: system.describe() for name, system in systems.items()},
        "benchmarks": {},
        "machine": machine_info(),
        "versions": package_versions(),
    }
    for bench in benchmarks:
        entry = {"queries": len(bench.queries), "documents": len(bench.corpus), "results": {}}
        for name, system in systems.items():
            entry["results"][name] = run_one(system, bench)
            m = entry["results"][name]
            log.info("%s on %s: MRR %.1f nDCG@10 %.1f R@1 %.1f R@10 %.1f (index %.1fs, search %.1fs)", name,
                     bench.name, 100 * m["mrr"], 100 * m["ndcg@10"], 100 * m["recall@1"], 100 * m["recall@10"],
                     m["timing"]["index_s"], m["timing"]["search_s"])
        if REFERENCE in entry["results"]:
            reference = reciprocal_ranks(entry["results"][REFERENCE])
            for name, m in entry["results"].items():
                if name != REFERENCE:
                    m[f"mrr_vs_{REFERENCE}"] = paired_difference(reciprocal_ranks(m), reference)
        out["benchmarks"][bench.name] = entry
    return out


def reciprocal_ranks(result: dict[str, Any]) -> np.ndarray:
    """Per-query reciprocal rank of the first relevant item (the query's MRR) from a `run_one` result."""
    return 1.0 / np.asarray(result["first_relevant_ranks"], dtype=np.float64)


def run_one(system: Retriever, bench: Benchmark) -> dict[str, Any]:
    """One system on one benchmark: summary metrics with CIs, per-meta breakdowns, recall curve, timings.

    Timings: encoding throughput over the documents this benchmark added (None when all were encoded before, as
    for CoSQA test after dev), and single-query latency (encode + exact search over the corpus) of the first
    `LATENCY_QUERIES` queries, measured before the batched run (None when an earlier benchmark cached them all)."""
    doc_ids = list(bench.corpus)
    position = {d: i for i, d in enumerate(doc_ids)}
    qids = list(bench.queries)
    encoded, encode_s = getattr(system, "texts_encoded", None), getattr(system, "encode_seconds", 0.0)
    indexed, index_s = getattr(system, "texts_indexed", None), getattr(system, "index_seconds", 0.0)
    t0 = time.perf_counter()
    system.index([bench.corpus[d] for d in doc_ids])
    t1 = time.perf_counter()
    if encoded is None and indexed is not None:  # BM25: indexing is the throughput; a reused index adds none
        new_docs, seconds = system.texts_indexed - indexed, system.index_seconds - index_s
    elif encoded is None:
        new_docs, seconds = len(doc_ids), t1 - t0
    else:
        new_docs, seconds = system.texts_encoded - encoded, system.encode_seconds - encode_s
    latencies = []
    before = None if encoded is None else system.texts_encoded
    for q in qids[:LATENCY_QUERIES]:
        start = time.perf_counter()
        system.score([bench.queries[q]])
        latencies.append(1000 * (time.perf_counter() - start))
    if before is not None and system.texts_encoded == before:
        latencies = []  # every query was cached (an earlier benchmark asked them): no latency to report
    if latencies:
        log.info("%s on %s: %d single-query probes, p50 %.1f ms, p95 %.1f ms", system.name, bench.name,
                 len(latencies), np.percentile(latencies, 50), np.percentile(latencies, 95))
    t2 = time.perf_counter()
    ranks = []
    for start in range(0, len(qids), QUERY_BLOCK):
        block = qids[start : start + QUERY_BLOCK]
        scores = system.score([bench.queries[q] for q in block])
        for row, q in zip(scores, block, strict=True):
            ranks.append(relevant_ranks(row, [position[d] for d in bench.relevant[q]]))
    t3 = time.perf_counter()
    values = per_query(ranks)
    result: dict[str, Any] = summarize(values)
    result["breakdown"] = breakdowns(values, [bench.meta.get(q, {}) for q in qids])
    result["first_relevant_ranks"] = [int(np.min(r)) for r in ranks]  # per query, for paired comparisons
    result["recall_curve"] = recall_curve(ranks, min(CURVE_MAX_K, len(doc_ids))).tolist()
    result["timing"] = {
        "index_s": round(t1 - t0, 3), "search_s": round(t3 - t2, 3),
        "docs_per_s": round(new_docs / seconds, 1) if new_docs and seconds > 0 else None,
        "query_p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "query_p95_ms": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
    }
    return result


def breakdowns(values: dict[str, np.ndarray], meta: list[dict[str, str]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean metrics per value of each meta key (language, pair_type) that takes more than one value."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in sorted({k for m in meta for k in m}):
        labels = np.array([m.get(key, "") for m in meta])
        groups = sorted(set(labels))
        if len(groups) < 2:
            continue
        out[key] = {}
        for group in groups:
            mask = labels == group
            out[key][group] = {"queries": int(mask.sum()), **{n: float(v[mask].mean()) for n, v in values.items()}}
    return out
