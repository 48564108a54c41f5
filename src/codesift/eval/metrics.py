"""Retrieval metrics from the ranks of relevant items: pure numpy, no model or I/O.

Every metric is computed per query first, so the same arrays give the mean, any breakdown (a subset of queries)
and the bootstrap confidence interval. Relevance is binary.

Ties: a relevant item is ranked after every non-relevant item with the same score (pessimistic), so a model that
gives every candidate the same score gets no credit. Ties among relevant items do not matter for binary relevance.
A relevant item that was not retrieved has rank `inf`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (1, 5, 10)
NDCG_K = 10
MRR_K = 10
CI_METRICS = ("mrr", "ndcg@10")
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0


def relevant_ranks(scores: np.ndarray, relevant: Sequence[int] | np.ndarray) -> np.ndarray:
    """1-based ranks of the `relevant` candidates in the exact ranking of one query's `scores`, ties pessimistic."""
    scores = np.asarray(scores)
    relevant = np.unique(np.asarray(relevant, dtype=np.int64))
    if not len(relevant):
        raise ValueError("a query needs at least one relevant item to be scored")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    others = np.ones(len(scores), dtype=bool)
    others[relevant] = False
    rel_scores = np.sort(scores[relevant])[::-1]
    # Non-relevant items scoring >= a relevant one rank above it; the i-th best relevant item also has i-1 above.
    above = np.count_nonzero(scores[others][None, :] >= rel_scores[:, None], axis=1)
    return (above + np.arange(1, len(rel_scores) + 1)).astype(np.float64)


def per_query(ranks: Sequence[np.ndarray], ks: Sequence[int] = KS) -> dict[str, np.ndarray]:
    """Recall@k, MRR (full ranking), MRR@10 and nDCG@10 for each query, from the ranks of its relevant items."""
    if not len(ranks):
        raise ValueError("no queries to score")
    first = np.empty(len(ranks))
    out = {f"recall@{k}": np.empty(len(ranks)) for k in ks}
    ndcg = np.empty(len(ranks))
    discounts = 1.0 / np.log2(np.arange(2, NDCG_K + 2))
    for i, r in enumerate(ranks):
        r = np.asarray(r, dtype=np.float64)
        if not len(r):
            raise ValueError(f"query {i} has no relevant item; it cannot be scored")
        first[i] = r.min()
        for k in ks:
            out[f"recall@{k}"][i] = np.count_nonzero(r <= k) / len(r)
        hits = r[r <= NDCG_K].astype(np.int64)
        ndcg[i] = discounts[hits - 1].sum() / discounts[: min(len(r), NDCG_K)].sum()
    out["mrr"] = 1.0 / first  # 1/inf = 0: nothing relevant retrieved
    out["mrr@10"] = np.where(first <= MRR_K, out["mrr"], 0.0)
    out["ndcg@10"] = ndcg
    return out


def recall_curve(ranks: Sequence[np.ndarray], max_k: int) -> np.ndarray:
    """Mean recall@k for k = 1..max_k (index k-1), for the recall@k plot."""
    ks = np.arange(1, max_k + 1)
    curves = [np.searchsorted(np.sort(np.asarray(r)), ks, side="right") / len(r) for r in ranks]
    return np.mean(curves, axis=0)


def bootstrap_ci(
    values: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over queries; a fixed seed makes reports reproducible."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    block = max(1, 2_000_000 // len(values))  # bound memory: at most ~2M resampled values at a time
    for start in range(0, samples, block):
        n = min(block, samples - start)
        means[start : start + n] = values[rng.integers(0, len(values), size=(n, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, object]:
    """Mean of a - b over the same queries, with the bootstrap 95% interval of that mean: resampling queries
    together keeps their shared difficulty out of the interval, so it is much narrower than either system's own."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values must come from the same queries: {a.shape} vs {b.shape}")
    return {"diff": float((a - b).mean()), "ci95": list(bootstrap_ci(a - b))}


def summarize(values: dict[str, np.ndarray], ci: Sequence[str] = CI_METRICS) -> dict[str, object]:
    """Means of per-query metrics, plus bootstrap 95% intervals for the `ci` metrics."""
    out: dict[str, object] = {name: float(v.mean()) for name, v in values.items()}
    out["ci95"] = {name: list(bootstrap_ci(values[name])) for name in ci}
    return out
