"""The ranking pipeline: understand -> gather candidates -> code-aware features -> fuse -> diversify -> hits.

Every score is in standard-deviation units of the query's own candidates (each side standardized as in the z-score
fusion, `index.lexical`), so a boost of 1.0 lifts a chunk by one standard deviation whatever the model or the
repository. `RankingSettings` holds the weights; their values were chosen on six repositories of the repo-search
set (one per language) and checked on the other six (BENCHMARKS.md, "Repository search").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from codesift.index.code_index import CodeIndex, Filters, Hit
from codesift.ranking.candidates import Candidates, gather
from codesift.ranking.features import definition_match, path_penalty
from codesift.ranking.query import QueryInfo, understand
from codesift.runtime.base import Encoder


DEMOTE = {"test": 1.0, "example": 1.0, "vendored": 1.0, "generated": 1.0, "compat": 0.5}


@dataclass(frozen=True)
class RankingSettings:
    candidates: int = 100  # taken from each side before fusion
    # Fusion weights. With the static model stemmed BM25 outweighs it (0.4/0.6 beat 0.7/0.3 by +0.022 span);
    # separate weights for identifier queries changed nothing measurable (the definition match decides those).
    dense: float = 0.4
    lexical: float = 0.6
    definition: float = 3.0  # the chunk defines the queried identifier (identifier queries)
    embedded_definition: float = 1.0  # ... an identifier written inside a sentence
    file_lexical: float = 0.6  # the whole file's BM25 score (standardized over the files)
    file_dense: float = 0.6  # the whole file's cosine score (standardized over the files)
    demote: Mapping[str, float] = field(default_factory=lambda: dict(DEMOTE))  # path kind -> subtracted score
    same_file: float = 1.5  # subtracted per better hit already taken from the same file


DEFAULT = RankingSettings()


def search(index: CodeIndex, queries: Sequence[str], top_k: int = 10, *, encoder: Encoder | None = None,
           vectors: np.ndarray | None = None, filters: Filters | None = None, dense_only: bool = False,
           files: bool = False, ef_search: int | None = None, settings: RankingSettings = DEFAULT
           ) -> list[list[Hit]]:
    """The best `top_k` chunks (or files, with `files`) for each query, best first. Query vectors come from
    `vectors` (n x dim, L2-normalized; the service embeds through its batcher) or from `encoder`. `dense_only`:
    the model alone (nearest vectors, no BM25 and no ranking rules), to see the model's own quality. `ef_search`: the
    HNSW beam (default: the index's)."""
    queries = list(queries)
    if dense_only:
        return index.search(queries, top_k, encoder=encoder, vectors=vectors, filters=filters, hybrid=False,
                            ef_search=ef_search)
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if vectors is None:
        if encoder is None:
            raise ValueError("search needs query vectors or an encoder")
        vectors = encoder.encode(queries, kind="query").vectors if queries else np.zeros((0, index.backend.dim))
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (len(queries), index.backend.dim):
        raise ValueError(f"expected {len(queries)} query vectors of dim {index.backend.dim}, got {vectors.shape}")
    ef = ef_search or index.config.ef_search
    return [rank(index, understand(q), v, top_k, filters, files, ef, settings) for q, v in zip(queries, vectors)]


def rank(index: CodeIndex, query: QueryInfo, vector: np.ndarray, top_k: int, filters: Filters | None,
         files: bool, ef_search: int, settings: RankingSettings) -> list[Hit]:
    found = gather(index, query, vector, max(settings.candidates, top_k), filters, ef_search)
    if found is None:
        return []
    scores = fuse(found, query, settings)
    if files:
        return _file_hits(index, found, scores, top_k)
    order = diversify(found.paths, scores, top_k, settings.same_file)
    return index.hits(found.ids[order], scores[order])


def fuse(found: Candidates, query: QueryInfo, s: RankingSettings) -> np.ndarray:
    """Each candidate's score: weighted standardized dense and BM25 scores plus the code-aware features."""
    score = s.dense * found.dense_z + s.lexical * found.lexical_z
    if query.names:
        score += (s.definition if query.is_symbol else s.embedded_definition) * definition_match(found, query)
    score += s.file_lexical * found.file_lexical_z + s.file_dense * found.file_dense_z
    score -= path_penalty(found.paths, s.demote)
    return score


def diversify(paths: np.ndarray, scores: np.ndarray, top_k: int, same_file: float) -> np.ndarray:
    """Greedy top-k where each hit loses `same_file` for every better hit already taken from its file: a page of
    results covers several files unless one file is far ahead."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    taken: list[int] = []
    per_file: dict[str, int] = {}
    adjusted = scores.copy()
    pending = list(order)
    while pending and len(taken) < top_k:
        best = max(pending, key=lambda i: (adjusted[i] - same_file * per_file.get(paths[i], 0), -i))
        adjusted[best] -= same_file * per_file.get(paths[best], 0)
        taken.append(best)
        per_file[paths[best]] = per_file.get(paths[best], 0) + 1
        pending.remove(best)
        if len(pending) > 4 * top_k:  # only the best few can still make the page
            pending = pending[: 4 * top_k]
    scores[taken] = adjusted[taken]
    return np.array(taken, dtype=np.int64)


def _file_hits(index: CodeIndex, found: Candidates, scores: np.ndarray, top_k: int) -> list[Hit]:
    """One hit per file, its best chunk's lines, ranked by that chunk's score (file evidence is in it already)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    best: dict[tuple[str, str], int] = {}
    for i in order:
        best.setdefault((found.repos[i], found.paths[i]), int(i))
        if len(best) == top_k:
            break
    chosen = np.array(list(best.values()), dtype=np.int64)
    return index.hits(found.ids[chosen], scores[chosen])
