"""`codesift.index.CodeIndex` behind the service's `SearchBackend` protocol."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codesift.runtime.base import Encoder
from codesift.serve.errors import InvalidInput
from codesift.serve.search import Filters, Hit, SearchBackend


class CodeIndexBackend:
    def __init__(self, index):  # a codesift.index.CodeIndex
        from codesift.index import Filters as IndexFilters

        self.index = index
        self._filters = IndexFilters
        self._info: tuple[Hashable, dict[str, Any]] | None = None

    @property
    def generation(self) -> Hashable:
        return self.index.generation

    def search(self, query: str, vector: np.ndarray, top_k: int, filters: Filters, hybrid: bool | None) -> list[Hit]:
        from codesift.ranking import search

        wanted = self._filters(filters.repos, filters.languages, filters.paths) if filters else None
        return search(self.index, [query], top_k, vectors=vector[None, :], filters=wanted,
                      dense_only=hybrid is False)[0]

    def update(self, paths: Sequence[str] | None, encoder: Encoder) -> dict[str, Any]:
        for i, path in enumerate(paths or ()):
            if not path.strip() or "\0" in path or not Path(path).expanduser().exists():
                raise InvalidInput(f"paths[{i}] ({path!r}) is not a file or folder on the server",
                                   code="invalid_path")
        return self.index.update(paths, encoder).to_json()

    def info(self) -> dict[str, Any]:
        """`CodeIndex.stats()` (it walks the folder for its size), computed once per generation."""
        if self._info is None or self._info[0] != self.generation:
            self._info = (self.generation, self.index.stats())
        return self._info[1]


def index_loader(directory: str | Path, encoder: Encoder) -> Callable[[], SearchBackend]:
    """Opens the index (checksums verified, built with this encoder) when the service starts."""

    def load() -> SearchBackend:
        from codesift.index import CodeIndex

        return CodeIndexBackend(CodeIndex.open(directory, encoder=encoder))

    return load
