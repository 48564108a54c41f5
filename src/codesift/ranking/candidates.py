"""Gather candidates from each side: the dense graph's nearest chunks, BM25's best chunks, and for identifier
queries the chunks that define the identifier; each with both sides' scores, standardized."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesift.eval.systems import standardize
from codesift.index.code_index import CodeIndex, Filters
from codesift.index.lexical import top_candidates, top_reference
from codesift.ranking.query import QueryInfo

FILE_REFERENCE = 20  # the best files whose scores standardize the file-level scores


@dataclass(frozen=True)
class Candidates:
    """Parallel arrays, one entry per candidate chunk."""

    ids: np.ndarray
    rows: np.ndarray
    repos: np.ndarray
    paths: np.ndarray
    symbols: np.ndarray
    kinds: np.ndarray
    dense_z: np.ndarray  # cosine, standardized by the dense side's top candidates
    lexical_z: np.ndarray  # BM25, standardized by BM25's top candidates (zeros included, as the harness does)
    file_lexical_z: np.ndarray  # BM25 of the query against the candidate's whole file, standardized over files
    file_dense_z: np.ndarray  # cosine of the query and the file's vector, standardized over files

    def __len__(self) -> int:
        return len(self.ids)


def gather(index: CodeIndex, query: QueryInfo, vector: np.ndarray, n: int, filters: Filters | None,
           ef_search: int) -> Candidates | None:
    """The union of each side's top `n` (and the queried identifier's definitions); None when nothing matches."""
    if len(index.chunks) == 0:
        return None
    n = min(n, len(index.chunks))  # more cannot be found; a huge n (--top-k) would size arrays by it
    mask, allowed = index.filter(filters) if filters else (None, None)
    if allowed is not None and len(allowed) == 0:
        return None
    dense_ids, _ = index.backend.search(vector[None], n, ef_search, allowed)
    dense_ids = dense_ids[0][dense_ids[0] >= 0]
    lexical = index.bm25().scores(query.text)
    lexical_rows = top_candidates(lexical, n, mask)
    c = index.chunks.c
    extra = [index.definitions(name) for name in query.names]
    definition_rows = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
    if mask is not None and len(definition_rows):
        definition_rows = definition_rows[mask[definition_rows]]
    ids = np.union1d(np.union1d(dense_ids, c["id"][lexical_rows]), c["id"][definition_rows])
    if len(ids) == 0:
        return None
    rows = index.chunks.rows(ids)
    dense = index.backend.vectors(ids) @ vector
    dense_z = standardize(dense, dense[np.isin(ids, dense_ids)] if len(dense_ids) else dense)
    searchable = len(lexical) if allowed is None else len(allowed)
    lexical_z = standardize(lexical[rows], top_reference(lexical, lexical_rows, n, searchable))
    file_lexical, file_dense = file_scores(index, query.text, vector, rows)
    return Candidates(ids, rows, c["repo"][rows], c["path"][rows], c["symbol"][rows], c["kind"][rows],
                      dense_z, lexical_z, file_lexical, file_dense)


def file_scores(index: CodeIndex, text: str, vector: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The BM25 and cosine scores of each candidate's whole file, standardized by the best files' scores."""
    level = index.file_level()
    lexical, dense = level.scores(text, vector)
    top = min(FILE_REFERENCE, len(lexical))
    lexical_z = standardize(lexical, -np.partition(-lexical, top - 1)[:top])
    dense_z = standardize(dense, -np.partition(-dense, top - 1)[:top])
    files = level.chunk_file[rows]
    return lexical_z[files], dense_z[files]
