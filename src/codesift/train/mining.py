"""Hard-negative mining and consistency filtering with a trained checkpoint.

Embed the pool's queries and distinct codes, search the codes with faiss, and for each query take candidates
from a rank window (skipping the very top, where unlabeled true answers gather). A candidate is a false negative
and dropped when it is a positive of the query (or of an identical query), a near duplicate of the positive
(cosine >= `duplicate_cosine` between the two codes), or scores within the relative margin of the positive
(score > positive - (1 - margin) x |positive|, i.e. margin x positive for positive scores). `per_query`
survivors are sampled. Consistency filtering (CodeSage v2) keeps a pair only when its positive ranks within the
top k for its own query; ranks count distinct codes, ignoring the query's other positives.

`mine_negatives` is pure numpy + faiss on embeddings; `mine_pool` embeds `Examples` with an `Embedder` and maps
the result back to example indices (used between training rounds and by `codesift mine`).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from codesift.log import get_logger

log = get_logger(__name__)

FLAT_MAX_DOCS = 50_000  # `index: auto` searches exactly up to this many codes, with HNSW above


@dataclass
class Mined:
    """Per query: chosen negative doc indices, whether its positive is in its top k, and its positive's rank."""

    negatives: list[np.ndarray]
    consistent: np.ndarray
    positive_rank: np.ndarray  # 0-based among non-positive docs (capped at the searched depth)
    stats: dict[str, Any] = field(default_factory=dict)


def search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int, index: str = "auto",
           threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner-product neighbours (scores, doc ids), best first: exact with faiss ('flat') or torch matmuls
    ('torch': on a GPU this beats an HNSW build and stays exact), or HNSW ('hnsw')."""
    import torch

    k = min(k, len(doc_emb))
    if index == "auto":
        index = "torch" if torch.cuda.is_available() else "flat" if len(doc_emb) <= FLAT_MAX_DOCS else "hnsw"
    if index == "torch":
        return _torch_search(query_emb, doc_emb, k, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if index not in ("flat", "hnsw"):
        raise ValueError(f"unknown index kind {index!r}; use auto, flat, hnsw or torch")
    import faiss

    if threads:
        faiss.omp_set_num_threads(threads)
    dim = doc_emb.shape[1]
    if index == "flat":
        ann = faiss.IndexFlatIP(dim)
    else:
        ann = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        ann.hnsw.efConstruction = 200
        ann.hnsw.efSearch = max(2 * k, 128)
    ann.add(np.ascontiguousarray(doc_emb, dtype=np.float32))
    scores, ids = ann.search(np.ascontiguousarray(query_emb, dtype=np.float32), k)
    return scores, ids


def _torch_search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int, device, block: int = 4096):
    """Exact top-k by blocks of queries against all codes (fp32 scores)."""
    import torch

    docs = torch.from_numpy(np.ascontiguousarray(doc_emb, dtype=np.float32)).to(device)
    scores, ids = [], []
    for start in range(0, len(query_emb), block):
        q = torch.from_numpy(np.ascontiguousarray(query_emb[start : start + block], dtype=np.float32)).to(device)
        top = torch.topk(q @ docs.T, k, dim=1)
        scores.append(top.values.cpu().numpy())
        ids.append(top.indices.cpu().numpy())
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores), np.concatenate(ids).astype(np.int64)


def mine_negatives(
    query_emb: np.ndarray, doc_emb: np.ndarray, positive: np.ndarray, other_positives: list[set[int]] | None = None,
    rank_window: tuple[int, int] = (3, 100), margin: float = 0.95, per_query: int = 1,
    duplicate_cosine: float = 0.98, consistency_top_k: int | None = None, seed: int = 0,
    index: Literal["auto", "flat", "hnsw", "torch"] = "auto",
) -> Mined:
    """Negatives (doc indices) per query from L2-normalized embeddings.

    positive: (Q,) the doc index of each query's own positive; other_positives: per query, further doc indices
    that also answer it (identical query text elsewhere), never used as its negatives.
    """
    t0 = time.perf_counter()
    n_queries, n_docs = len(query_emb), len(doc_emb)
    if len(positive) != n_queries:
        raise ValueError(f"{len(positive)} positives for {n_queries} queries")
    if n_queries == 0 or n_docs == 0:
        raise ValueError(f"nothing to mine: {n_queries} queries, {n_docs} documents")
    if not 0 <= rank_window[0] < rank_window[1]:
        raise ValueError(f"rank window must be [start, end) with 0 <= start < end, got {list(rank_window)}")
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], got {margin}")
    others = other_positives or [set() for _ in range(n_queries)]
    extra = max((len(o) for o in others), default=0) + 1
    depth = max(rank_window[1], (consistency_top_k or 0) + extra)
    scores, ids = search(query_emb, doc_emb, depth, index)
    pos_score = np.einsum("qd,qd->q", query_emb, doc_emb[positive])
    threshold = pos_score - (1 - margin) * np.abs(pos_score)
    rng = np.random.default_rng(seed)
    drops: Counter[str] = Counter()
    negatives, ranks = [], np.empty(n_queries, dtype=np.int64)
    for q in range(n_queries):
        own = others[q] | {int(positive[q])}
        row_ids, row_scores = ids[q], scores[q]
        valid = row_ids >= 0  # faiss pads with -1 when fewer results exist
        is_pos = np.isin(row_ids, list(own)) & valid
        ranks[q] = int(np.sum(valid & ~is_pos & (row_scores > pos_score[q])))
        window = np.zeros(len(row_ids), dtype=bool)
        window[rank_window[0] : rank_window[1]] = True
        cand = window & valid
        drops["positive"] += int(np.sum(cand & is_pos))
        cand &= ~is_pos
        above = cand & (row_scores > threshold[q])
        drops["margin"] += int(above.sum())
        cand &= ~above
        if cand.any() and duplicate_cosine < 1:
            cid = row_ids[cand]
            dup = doc_emb[cid] @ doc_emb[positive[q]] >= duplicate_cosine
            drops["near-duplicate"] += int(dup.sum())
            cand[np.flatnonzero(cand)[dup]] = False
        pool = row_ids[cand]
        take = min(per_query, len(pool))
        negatives.append(np.sort(rng.choice(pool, take, replace=False)) if take else np.zeros(0, np.int64))
    counts = np.array([len(n) for n in negatives])
    consistent = ranks < consistency_top_k if consistency_top_k else np.ones(n_queries, dtype=bool)
    stats = {
        "queries": n_queries, "documents": n_docs, "rank_window": list(rank_window), "margin": margin,
        "per_query": per_query, "dropped": dict(drops), "negatives_mean": float(counts.mean()),
        "queries_without_negative": int((counts == 0).sum()), "queries_with_all": int((counts == per_query).sum()),
        "positive_rank_median": float(np.median(ranks)), "positive_top1": float((ranks == 0).mean()),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if consistency_top_k:
        stats |= {"consistency_top_k": consistency_top_k, "consistent": int(consistent.sum()),
                  "consistent_fraction": float(consistent.mean())}
    return Mined(negatives, consistent, ranks, stats)


@dataclass
class PoolMining:
    """`mine_pool`'s result in example indices."""

    pool: np.ndarray  # example indices that were mined
    negatives: dict[int, np.ndarray]  # example index -> example indices whose code is a hard negative
    consistent: np.ndarray  # per pool entry
    positive_rank: np.ndarray  # per pool entry
    stats: dict[str, Any]


def mine_pool(
    embedder, examples, cfg, pool_size: int | None = None, consistency_top_k: int | None = None, seed: int = 0,
    batch_size: int = 64, bf16: bool = False, pool_seed: int | None = None,
) -> PoolMining:
    """Embed a sample of `pool_size` examples (all when None; drawn with `pool_seed`, default `seed`, so rounds
    can share one pool) with `embedder` and mine them with the settings of `cfg` (a `MineConfig`; negatives
    sampled with `seed`). Codes are embedded once per distinct content."""
    n = len(examples)
    pool = np.arange(n) if pool_size is None or pool_size >= n else np.sort(
        np.random.default_rng([seed if pool_seed is None else pool_seed, 1]).choice(n, pool_size, replace=False))
    doc_of: dict[int, int] = {}
    doc_example: list[int] = []
    for i in pool:
        cid = int(examples.code_ids[i])
        if cid not in doc_of:
            doc_of[cid] = len(doc_example)
            doc_example.append(int(i))
    positive = np.array([doc_of[int(examples.code_ids[i])] for i in pool], dtype=np.int64)
    by_query: dict[int, set[int]] = defaultdict(set)
    for i, d in zip(pool, positive, strict=True):
        by_query[int(examples.query_ids[i])].add(int(d))
    others = [by_query[int(examples.query_ids[i])] - {int(d)} for i, d in zip(pool, positive, strict=True)]
    t0 = time.perf_counter()
    query_emb = embedder.encode([examples.queries[i] for i in pool], batch_size=batch_size, bf16=bf16)
    doc_emb = embedder.encode([examples.codes[i] for i in doc_example], batch_size=batch_size, bf16=bf16)
    embed_s = time.perf_counter() - t0
    log.info("mining: embedded %d queries and %d codes in %.1fs", len(pool), len(doc_example), embed_s)
    mined = mine_negatives(
        query_emb, doc_emb, positive, others, tuple(cfg.rank_window), cfg.margin, cfg.per_query,
        cfg.duplicate_cosine, consistency_top_k, seed, cfg.index,
    )
    doc_example_arr = np.array(doc_example, dtype=np.int64)
    negatives = {int(i): doc_example_arr[neg] for i, neg in zip(pool, mined.negatives, strict=True) if len(neg)}
    stats = mined.stats | {"pool": len(pool), "embed_seconds": round(embed_s, 2)}
    log.info("mining: %s", {k: v for k, v in stats.items() if k != "rank_window"})
    return PoolMining(pool, negatives, mined.consistent, mined.positive_rank, stats)
