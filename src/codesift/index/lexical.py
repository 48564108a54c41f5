"""BM25 over an index's chunks and its fusion with dense results (the eval harness's tokens and fusions).

BM25 is the eval harness's Lucene variant (k1=1.2, b=0.75) over each chunk's terms: its text cut by the harness's
`code_tokens` and reduced to English stems (`search_tokens`; the symbol and path written in as weighted fields
measured no gain on the repo-search set, BENCHMARKS.md). Both fusions score the union of each side's top
candidates:
- z-score (the default): the harness's `zscore_fusion`, each side's scores standardized by the mean and std of its
  own top candidates, then summed with weights; with as many candidates as chunks this is exactly the harness's
  `hybrid-zscore:bm25@w+dense@v` system.
- RRF: the harness's weighted reciprocal rank fusion (`rrf`, k=60); a candidate's rank on each side is its rank
  within the union, which equals its full-corpus rank for every candidate that side returned (everything scoring
  above it is in the union), and is below every returned candidate's otherwise. With as many candidates as chunks
  this is exactly the harness's `hybrid:bm25@w+dense` system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
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
    """Lucene-variant BM25 (bm25s's `method="lucene"`: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), term weight
    tf / (tf + k1 (1 - b + b dl / avgdl))) over documents given as their terms; scores come back for every
    document, in list order. Saved with each index generation.

    Written with numpy rather than kept on bm25s: the index stores every chunk's terms, so BM25 is rebuilt from them
    on each update, and bm25s's per-document Python loops took 0.35 s of a one-file update over 1,900 chunks (this
    takes a tenth of that); it also leaves scipy, 0.27 s of every search process's start-up, unimported. Each
    distinct query term counts once."""

    def __init__(self, vocabulary: dict[str, int], starts: np.ndarray, documents: np.ndarray, weights: np.ndarray,
                 size: int):
        self._vocabulary = vocabulary
        self._starts, self._documents, self._weights = starts, documents, weights  # postings by term (CSC)
        self.size = size

    @classmethod
    def build(cls, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        """BM25 over documents given as their terms, space-joined (`search_tokens` of each text, as the index
        stores them): one join and split, and the term ids looked up in C, not a loop per term in Python."""
        terms_in = [len(doc.split()) for doc in documents]
        flat = " ".join(documents).split()
        vocabulary = {term: i for i, term in enumerate(dict.fromkeys(flat))}
        terms = np.fromiter(map(vocabulary.__getitem__, flat), dtype=np.int64, count=len(flat))
        lengths = np.array(terms_in, dtype=np.int64)
        owner = np.repeat(np.arange(len(documents), dtype=np.int64), lengths)
        n = max(len(documents), 1)
        pairs, tf = np.unique(terms * n + owner, return_counts=True)  # by term, then document
        term, doc = np.divmod(pairs, n)
        df = np.bincount(term, minlength=len(vocabulary))
        idf = np.log1p((len(documents) - df + 0.5) / (df + 0.5))
        norm = k1 * (1 - b + b * lengths[doc] / max(lengths.mean() if len(lengths) else 1.0, 1e-9))
        weights = (idf[term] * tf / (tf + norm)).astype(np.float32)
        starts = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        return cls(vocabulary, starts, doc.astype(np.int32), weights, len(documents))

    def save(self, folder: Path) -> None:
        """The postings as .npy arrays (no pickle), the vocabulary in term-id order as JSON."""
        if self.size == 0:
            raise ValueError("an empty BM25 index has nothing to save")
        folder.mkdir(parents=True)
        (folder / "vocabulary.json").write_text(json.dumps(list(self._vocabulary)), encoding="utf-8")
        (folder / "params.json").write_text(json.dumps({"documents": self.size}), encoding="utf-8")
        for name in ("starts", "documents", "weights"):
            np.save(folder / f"{name}.npy", getattr(self, f"_{name}"), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        """Read what `save` wrote (never unpickles); raises ValueError when it is missing or unreadable."""
        try:
            terms = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
            size = int(json.loads((folder / "params.json").read_text(encoding="utf-8"))["documents"])
            starts, documents, weights = (np.load(folder / f"{name}.npy", allow_pickle=False)
                                          for name in ("starts", "documents", "weights"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{folder}: unreadable BM25 index ({type(e).__name__}: {e})") from None
        if (len(starts) != len(terms) + 1 or len(documents) != len(weights) or starts[-1] != len(documents)
                or (len(documents) and documents.max() >= size)):
            raise ValueError(f"{folder}: unreadable BM25 index (postings do not match the vocabulary)")
        return cls({t: i for i, t in enumerate(terms)}, starts, documents, weights, size)

    def scores(self, query: str) -> np.ndarray:
        return self.term_scores(search_tokens(query))

    def term_scores(self, terms: Sequence[str]) -> np.ndarray:
        """Every document's score for query terms already cut (each distinct term counts once)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in {self._vocabulary[t] for t in terms if t in self._vocabulary}:
            span = slice(self._starts[term], self._starts[term + 1])
            out[self._documents[span]] += self._weights[span]  # one posting per document and term
        return out


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
