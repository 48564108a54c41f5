"""What the /search route needs from an index, as a small protocol, and the request's filters.

The service embeds the query itself (through the batcher, so query caching and batching apply) and hands the
vector and the text (for the BM25 half of hybrid search) to the backend. `search_index.CodeIndexBackend` adapts
`codesift.index.CodeIndex` to it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from codesift.runtime.base import Encoder


@dataclass(frozen=True)
class Filters:
    """Keep hits from these repositories, languages and path globs (an empty tuple does not filter)."""

    repos: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.repos or self.languages or self.paths)


class Hit(Protocol):
    def to_json(self) -> dict[str, Any]: ...


@runtime_checkable
class SearchBackend(Protocol):
    """An index the service can search and update; `generation` changes whenever its contents do."""

    @property
    def generation(self) -> Hashable: ...

    def search(self, query: str, vector: np.ndarray, top_k: int, filters: Filters, hybrid: bool | None) -> list[Hit]:
        """Best `top_k` hits for one query, best first; `hybrid` None means the index's default."""
        ...

    def update(self, paths: Sequence[str] | None, encoder: Encoder) -> dict[str, Any]:
        """Re-read `paths` (None: every indexed root), embed what changed with `encoder`, commit; returns counts."""
        ...

    def info(self) -> dict[str, Any]:
        """Parameters and size for GET /info (M, efSearch, vectors, chunks, ...)."""
        ...
