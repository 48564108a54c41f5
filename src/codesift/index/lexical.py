"""BM25 over an index's chunks and its fusion with dense results (the eval harness's tokens and fusions).

BM25 is the eval harness's (`codesift.eval.systems`: bm25s, Lucene variant, k1=1.2, b=0.75, `code_tokens`), built
over the chunk texts of one index generation. Both fusions score the union of each side's top candidates:
- z-score (the default): the harness's `zscore_fusion`, each side's scores standardized by the mean and std of its
  own top candidates, then summed with weights; with as many candidates as chunks this is exactly the harness's
  `hybrid-zscore:bm25@w+dense@v` system.
- RRF: the harness's weighted reciprocal rank fusion (`rrf`, k=60); a candidate's rank on each side is its rank
  within the union, which equals its full-corpus rank for every candidate that side returned (everything scoring
  above it is in the union), and is below every returned candidate's otherwise. With as many candidates as chunks
  this is exactly the harness's `hybrid:bm25@w+dense` system.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from codesift.eval.systems import RRF_K, code_tokens, rrf, standardize


_WORD = re.compile(r"[A-Za-z0-9_]+")  # the words `code_tokens` splits


def search_tokens(text: str) -> list[str]:
    """`code_tokens` (words, identifiers whole and split) reduced to their English stems, so "deleting" finds
    `delete_file` and "retries" finds `retry`. Each distinct word is split and stemmed once (code repeats its
    names: this made indexing's tokenization 3x faster)."""
    out: list[str] = []
    for word in _WORD.findall(text):
        out += _word_terms(word)
    return out


@lru_cache(maxsize=1 << 18)
def _word_terms(word: str) -> tuple[str, ...]:
    return tuple(_stem(t) for t in code_tokens(word))


def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


class BM25Index:
    """BM25 over a fixed list of texts; scores come back for every text, in list order. Saved with each index
    generation: building it over 294k chunks took ~50 s (tokens 28 s, bm25s 22 s), which every `codesift search`
    process paid again before its first hybrid query."""

    def __init__(self, model, size: int):
        self._model, self.size = model, size

    @classmethod
    def build(cls, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        """BM25 over documents given as their terms (`search_tokens` of each text)."""
        bm25s = _bm25s()
        model = bm25s.BM25(k1=k1, b=b, method="lucene") if documents else None
        if model is not None:
            model.index(documents, show_progress=False)
        return cls(model, len(documents))

    def save(self, folder: Path) -> None:
        """bm25s's files: numpy arrays written without pickle, the vocabulary and parameters as JSON."""
        if self._model is None:
            raise ValueError("an empty BM25 index has nothing to save")
        folder.mkdir(parents=True)
        self._model.save(str(folder), allow_pickle=False, show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        """Read what `save` wrote (never unpickles); raises ValueError when it is missing or unreadable."""
        try:
            model = _bm25s().BM25.load(str(folder), load_corpus=False, allow_pickle=False, show_progress=False)
            return cls(model, int(model.scores["num_docs"]))
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{folder}: unreadable BM25 index ({type(e).__name__}: {e})") from None

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        if self._model is not None:
            ids = self._model.get_tokens_ids(search_tokens(query))
            if ids:  # a query with no known token scores 0 everywhere
                out[:] = self._model.get_scores_from_ids(ids)
        return out


def lexical_document(path: str, symbol: str, text: str, symbol_repeat: int = 2, path_repeat: int = 2) -> str:
    """What BM25 reads for a chunk: its text, then its symbol and its file name (each `*_repeat` times) and its last
    three folder names, so a query word that names the function or the file weighs more than one in a comment
    (BM25F's field weights, written as repeated terms; tokens split identifiers, so `CallInfo` also gives call,
    info)."""
    parts = path.split("/")
    stem = parts[-1].split(".", 1)[0]
    fields = [symbol.replace(".", " ")] * symbol_repeat + [stem] * path_repeat + parts[:-1][-3:]
    return text + "\n" + " ".join(fields)


def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.NOTSET)  # bm25s forces DEBUG on import; follow --log-level
    return bm25s


def top_candidates(scores: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Positions of the `n` best positive scores (BM25 gives 0 to texts sharing no word with the query)."""
    if allowed is not None:
        scores = np.where(allowed, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if len(positive) > n:
        positive = positive[np.argpartition(-scores[positive], n - 1)[:n]]
    return positive[np.argsort(-scores[positive], kind="stable")]


def top_reference(scores: np.ndarray, candidates: np.ndarray, top: int, population: int) -> np.ndarray:
    """The `top` best of the `population` searchable scores, zeros included (what the harness's `top_scores` takes
    from every chunk), read off `top_candidates`' positions (all positive scores at or above the `top`-th, best
    first) instead of partitioning every chunk's score: over 1M mostly-zero BM25 scores that partition took 47 ms
    a query (p95 114 ms), ten times the rest of a hybrid search."""
    best = scores[candidates[:top]]
    return np.concatenate([best, np.zeros(max(min(top, population) - len(best), 0), dtype=scores.dtype)])


def fuse(dense_scores: np.ndarray, lexical_scores: np.ndarray, dense_weight: float, lexical_weight: float,
         k: int = RRF_K) -> np.ndarray:
    """Weighted RRF of two score vectors over the same candidates (higher is better on both)."""
    return rrf([dense_scores[None, :], lexical_scores[None, :]], [dense_weight, lexical_weight], k)[0]


def zscore_fuse(dense_scores: np.ndarray, dense_reference: np.ndarray, lexical_scores: np.ndarray,
                lexical_reference: np.ndarray, dense_weight: float, lexical_weight: float) -> np.ndarray:
    """Weighted sum of the candidates' standardized scores: dense by `dense_reference` (the scores of the graph's
    top results), BM25 by `lexical_reference` (`top_reference`: the best searchable chunks' scores, zeros
    included, as the harness does)."""
    return (dense_weight * standardize(dense_scores, dense_reference)
            + lexical_weight * standardize(lexical_scores, lexical_reference))
