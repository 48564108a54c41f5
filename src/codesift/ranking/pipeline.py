"""The ranking pipeline's entry point."""

from __future__ import annotations

from collections.abc import Sequence

from codesift.index.code_index import CodeIndex, Filters, Hit
from codesift.runtime.base import Encoder


def search(index: CodeIndex, queries: Sequence[str], top_k: int = 10, *, encoder: Encoder,
           filters: Filters | None = None, dense_only: bool = False) -> list[list[Hit]]:
    """The best `top_k` chunks for each query, best first."""
    return index.search(queries, top_k, encoder=encoder, filters=filters, hybrid=False if dense_only else None)
