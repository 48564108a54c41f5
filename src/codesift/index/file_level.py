"""Whole-file evidence for ranking: each indexed file as one BM25 document and one vector.

A function is more likely the answer when its file as a whole is about the query: measured on the repo-search
set, adding the file's BM25 and dense scores to its chunks' lifted the span view by +0.035 (BENCHMARKS.md). The
file's vector is the normalized sum of its chunks' vectors; its BM25 document is its chunks' terms. Both are saved with each index generation (`files-bm25/`, `file_vectors.npy`, `chunk_file.npy`), since rebuilding the
file BM25 means tokenizing every chunk again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from codesift.index.lexical import BM25Index

BM25_FOLDER = "files-bm25"
VECTORS_FILE = "file_vectors.npy"
CHUNK_FILE = "chunk_file.npy"


@dataclass(frozen=True)
class FileLevel:
    chunk_file: np.ndarray  # per chunk row: its file's position
    bm25: BM25Index  # one document per file, in position order
    vectors: np.ndarray  # files x dim, L2-normalized

    @classmethod
    def build(cls, repos: np.ndarray, paths: np.ndarray, chunk_terms: np.ndarray, chunk_vectors: np.ndarray
              ) -> FileLevel:
        """From the chunks' repos, paths, BM25 terms (space-joined) and vectors, in row order."""
        return cls.lexical(repos, paths, chunk_terms).with_vectors(chunk_vectors)

    @classmethod
    def lexical(cls, repos: np.ndarray, paths: np.ndarray, chunk_terms: np.ndarray) -> FileLevel:
        """The files and their BM25 alone (no vectors yet): an update builds it while its chunks are embedded."""
        keys = list(zip(repos, paths))
        position = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        chunk_file = np.fromiter((position[k] for k in keys), dtype=np.int64, count=len(keys))
        documents: list[list[str]] = [[] for _ in position]
        for f, terms in zip(chunk_file, chunk_terms):
            documents[f].append(terms)
        return cls(chunk_file, BM25Index.build([" ".join(d) for d in documents]),
                   np.zeros((len(position), 0), dtype=np.float32))

    def with_vectors(self, chunk_vectors: np.ndarray) -> FileLevel:
        """Each file's vector: the normalized sum of its chunks' vectors (given in row order)."""
        vectors = np.zeros((len(self.vectors), chunk_vectors.shape[1]), dtype=np.float32)
        np.add.at(vectors, self.chunk_file, chunk_vectors)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return replace(self, vectors=vectors)

    def save(self, folder: Path) -> None:
        self.bm25.save(folder / BM25_FOLDER)
        np.save(folder / VECTORS_FILE, self.vectors, allow_pickle=False)
        np.save(folder / CHUNK_FILE, self.chunk_file, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> FileLevel:
        """What `save` wrote; ValueError when it is missing or unreadable."""
        try:
            vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
            chunk_file = np.load(folder / CHUNK_FILE, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{folder}: unreadable file-level data ({e})") from None
        return cls(chunk_file, BM25Index.load(folder / BM25_FOLDER), vectors)

    def scores(self, query: str, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every file's BM25 and cosine score for the query."""
        return self.bm25.scores(query), self.vectors @ vector
