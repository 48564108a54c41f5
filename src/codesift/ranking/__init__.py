"""Ranking: the way from query text to hits, shared by `codesift search`, the service and the eval harness.

    understand the query -> gather candidates from each side -> score with code-aware features -> fuse
    -> diversify -> hits

`CodeIndex` stays the store (chunks, vectors, BM25); these steps read from it. `search` is the entry point.
"""

from codesift.ranking.pipeline import search

__all__ = ["search"]
