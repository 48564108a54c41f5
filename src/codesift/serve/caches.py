"""The service's caches. Both live on the event loop thread only, so they need no lock.

- `LRU`: query embeddings keyed by (model revision, input kind, normalized text).
- `GenerationCache`: search results keyed by (query, filters, top_k, hybrid) for one index generation; the first
  lookup under a newer generation empties it, so an index update invalidates every cached result.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

_SPACE = re.compile(r"\s+")


def normalize_query(text: str) -> str:
    """What a query is cached (and embedded) as: NFC, whitespace runs collapsed to one space, ends stripped.

    Only queries are normalized; a document's whitespace is code (indentation) and reaches the encoder as sent.
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


class LRU:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Any) -> None:
        if self.capacity == 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class GenerationCache(LRU):
    """An LRU whose entries belong to one index generation."""

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self.generation: Hashable = None
        self.invalidations = 0

    def get_at(self, generation: Hashable, key: Hashable) -> Any | None:
        """Look up under the index's current generation; a new generation empties the cache first."""
        if generation != self.generation:
            if self._data:
                self.invalidations += 1
            self.clear()
            self.generation = generation
        return self.get(key)

    def put_at(self, generation: Hashable, key: Hashable, value: Any) -> None:
        """Store a result computed at `generation`; dropped if the index has moved on since (a stale result)."""
        if generation == self.generation:
            self.put(key, value)
