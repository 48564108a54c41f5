"""What the /search route needs from an index, as a small protocol, plus the request's filter type.

The service embeds the query itself (through the batcher, so query caching and batching apply) and hands the
vector and the text (for the BM25 half of hybrid search) to the backend.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Filters:
    """Restrict hits to some repositories, languages or a path glob (all optional; None: no restriction)."""

    repo: tuple[str, ...] | None = None
    language: tuple[str, ...] | None = None
    path: str | None = None

    def key(self) -> tuple:
        return (self.repo, self.language, self.path)

    def __bool__(self) -> bool:
        return any(v is not None for v in self.key())


@dataclass(frozen=True)
class Hit:
    path: str
    start_line: int
    end_line: int
    symbol: str | None
    language: str | None
    score: float
    repo: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class SearchBackend(Protocol):
    """An index the service can search and update; `generation` changes whenever its contents do."""

    @property
    def generation(self) -> Hashable: ...

    def search(self, query: str, vector: np.ndarray, top_k: int, filters: Filters, hybrid: bool | None) -> list[Hit]:
        """Best `top_k` hits for the query; `hybrid` None means the index's default."""
        ...

    def update(self, paths: Sequence[str] | None) -> dict[str, Any]:
        """Re-read `paths` (None: every indexed root) and apply what changed; returns counts for the caller."""
        ...

    def info(self) -> dict[str, Any]:
        """Parameters and size for GET /info (kind, M, efSearch, vectors, ...)."""
        ...
