"""The anchors every repository-search figure is read against, measured in the same run as codesift:

- `BlocksBM25`: plain BM25 over blank-line blocks of at most 750 characters, each with its file stem twice and its
  last three folder names appended (the set's README anchor: span 0.439, file 0.644 on a 2-core CPU);
- `Semble`: semble 0.7.0 in its BM25 + ranking mode (`pip install codesift[semble]`), its embedding model replaced
  by a constant stub so nothing is downloaded (at alpha=0 the model takes no part in the ranking). Its ties follow
  set order: run with PYTHONHASHSEED=0 to reproduce a figure exactly (span 0.417, file 0.738 on the set).

Each searches one folder: `index(folder)`, then `search(query, top_k)` -> [{"path", "start_line", "end_line"}].
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# The file types the reference BM25 reads (the public benchmark's 19 languages); no .gitignore, no symlinks.
CODE_SUFFIXES = frozenset({
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts", ".go", ".java", ".php", ".rb",
    ".rake", ".rs", ".cs", ".kt", ".kts", ".scala", ".sc", ".swift", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp",
    ".hh", ".hxx", ".inc", ".ex", ".exs", ".hs", ".lua", ".zig", ".sh", ".bash", ".zsh", ".bats",
})
SKIP_FOLDERS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", "dist",
                          "build", ".cache", ".next", ".eggs", ".mypy_cache", ".pytest_cache"})
MAX_BYTES = 1_000_000
BLOCK_CHARS = 750
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def anchor_tokens(text: str) -> list[str]:
    """Identifiers lower-cased, plus their snake_case / camelCase parts (the reference anchor's tokens)."""
    out = []
    for word in _IDENT.findall(text):
        lower = word.lower()
        out.append(lower)
        parts = [p for p in lower.split("_") if p] if "_" in word else [p.lower() for p in _CAMEL.findall(word)]
        if len(parts) > 1:
            out += parts
    return out


def blank_line_blocks(lines: list[str], max_chars: int = BLOCK_CHARS) -> list[tuple[int, int]]:
    """1-based inclusive line spans: blank-line separated blocks, cut at line boundaries when longer than
    `max_chars`, then merged greedily while the merged block stays within `max_chars`."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            blocks.append((start, i - 1))
            start = None
    if start is not None:
        blocks.append((start, len(lines) - 1))
    pieces = []
    for s, e in blocks:
        first, size = s, 0
        for i in range(s, e + 1):
            n = len(lines[i]) + 1
            if size and size + n > max_chars:
                pieces.append((first, i - 1, size))
                first, size = i, 0
            size += n
        pieces.append((first, e, size))
    merged: list[tuple[int, int, int]] = []
    for s, e, size in pieces:
        if merged and merged[-1][2] + size <= max_chars:
            merged[-1] = (merged[-1][0], e, merged[-1][2] + size)
        else:
            merged.append((s, e, size))
    return [(s + 1, e + 1) for s, e, _ in merged]


class BlocksBM25:
    """The reference anchor: BM25 (k1 1.2, b 0.75, Lucene's idf; `index.lexical.BM25Index`, whose ranking it
    equals) over `anchor_tokens` of each block with its file stem twice and last three folder names appended."""

    name = "bm25-blocks"

    def index(self, folder: Path) -> None:
        from codesift.index.lexical import BM25Index

        self.spans: list[tuple[str, int, int]] = []
        docs = []
        for path in _code_files(folder):
            rel = path.relative_to(folder).as_posix()
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            parts = rel.split("/")
            extra = [Path(parts[-1]).stem] * 2 + parts[:-1][-3:]
            for s, e in blank_line_blocks(lines):
                docs.append(" ".join(anchor_tokens("\n".join(lines[s - 1 : e]) + " " + " ".join(extra))))
                self.spans.append((rel, s, e))
        self._bm25 = BM25Index.build(docs)

    def search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        scores = self._bm25.term_scores(anchor_tokens(query))
        order = [i for i in np.argsort(-scores, kind="stable")[:top_k] if scores[i] > 0]
        return [{"path": self.spans[i][0], "start_line": self.spans[i][1], "end_line": self.spans[i][2]}
                for i in order]


def _code_files(folder: Path):
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_FOLDERS and not os.path.islink(os.path.join(here, d)))
        for name in sorted(files):
            path = Path(here) / name
            if path.suffix.lower() in CODE_SUFFIXES and not path.is_symlink() and path.stat().st_size <= MAX_BYTES:
                yield path


class _StubModel:
    """semble's embedding model replaced: constant vectors, so nothing is downloaded."""

    dim = 8

    def encode(self, texts, **_):
        return np.ones((len(texts), self.dim), dtype=np.float32)


class Semble:
    name = "semble"

    def __init__(self):
        try:
            import semble
            import semble.index.index as semble_index
        except ImportError:
            raise ValueError("the semble anchor needs semble 0.7.0: pip install 'codesift[semble]'") from None
        semble_index.load_model = lambda model_path=None: (_StubModel(), "stub-model")
        # semble caches indexes on disk; a run of the anchor must neither read a stale one nor leave one behind.
        self._cache = tempfile.TemporaryDirectory(prefix="semble-cache-")
        os.environ["SEMBLE_CACHE_LOCATION"] = self._cache.name
        self._semble = semble
        self.version = semble.__version__

    def index(self, folder: Path) -> None:
        self._index = self._semble.SembleIndex.from_path(str(folder))

    def search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        results = self._index.search(query, top_k=top_k, alpha=0.0, rerank=True)
        return [{"path": r.chunk.file_path, "start_line": r.chunk.start_line, "end_line": r.chunk.end_line}
                for r in results]
