"""Semantic code search: an HNSW index over code chunks, kept up to date incrementally, searched with filters.

The API (everything here takes any `codesift.runtime.base.Encoder`; tests use `HashEncoder`)::

    from codesift.index import CodeIndex, Filters
    from codesift.ranking import search
    index = CodeIndex.open_or_create("runs/idx", encoder)        # or .open(dir) / .create(dir, encoder, config)
    report = index.update(["~/src/repo"], encoder)                # scan, chunk, embed what changed, commit
    hits = search(index, ["parse a config file"], 10, encoder=encoder,   # what `codesift search` ranks
                  filters=Filters(languages=("python",), paths=("*.py",)), files=False)
    hits[0][0].path, .start_line, .end_line, .symbol, .language, .repo, .score   # Hit, best first
    index.search(["parse a config file"], 10, encoder=encoder)   # the store's own retrieval: dense, or plain
                                                                  # BM25 + dense fusion, no ranking rules
    index.search_vectors(query_vectors, top_k=10)                 # dense only, no texts
    index.generation                                              # changes with every committed update
    index.refresh()                                               # pick up another process's commit
    index.stats()                                                 # counts, languages, encoder, config, disk

- `CodeIndex` (`code_index`): chunks (`chunking`: the corpus extraction's functions, classes and methods with line
  spans and symbols, `definitions`' for thirteen more languages, line windows for everything else), a metadata
  store (repo, path, language, symbol, kind, line
  span, content hash, text, BM25 terms) and a vector backend. `update` re-reads only files whose size, mtime or ctime changed,
  re-chunks only files whose sha256 changed, and embeds only chunk texts the index does not already hold;
  deletions are tombstones until `rebuild_tombstone_fraction` of the graph is dead, then the graph is rebuilt.
- Vector backends (`vectors`, `qdrant`): faiss HNSW (M=16, efConstruction=200, efSearch per query; SQ8 with float
  rescoring as an option) or a Qdrant collection (local mode or a URL), behind one small interface.
- Filters by repo, language and path glob; a filter that keeps few chunks is answered by exact search.
- Lexical side (`lexical`): BM25 (the eval harness's Lucene variant over stemmed code tokens) and the harness's
  fusions with dense results (z-score by default, RRF); `file_level`: whole-file BM25 and vectors. Ranking for code
  (definitions, whole-file evidence, path kinds, diversity) is `codesift.ranking`'s, over this store.
- Storage (`store`): each commit writes a new checksummed generation folder and then atomically repoints
  `CURRENT`, under a file lock; a crash leaves the previous generation in use, a damaged file raises
  `IndexCorruptError` (the CLI then rebuilds it from the folders its newest readable manifest records), an
  index from another encoder raises `IndexMismatchError`.
- Commands: `codesift index build|update|stats` (`commands`), `codesift search` (`search_command`, with a cached
  index per set of folders), `codesift bench index` (`bench_index`), and the pipeline's `index` stage (`stage`).

This module imports nothing heavy; the names below load their modules on first use.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "CodeIndex": "codesift.index.code_index",
    "Filters": "codesift.index.code_index",
    "Hit": "codesift.index.code_index",
    "UpdateReport": "codesift.index.code_index",
    "Chunk": "codesift.index.chunking",
    "chunk_file": "codesift.index.chunking",
    "HNSWVectors": "codesift.index.vectors",
    "exact_search": "codesift.index.vectors",
    "CodeIndexError": "codesift.index.store",
    "IndexNotFoundError": "codesift.index.store",
    "IndexCorruptError": "codesift.index.store",
    "IndexMismatchError": "codesift.index.store",
    "IndexLockedError": "codesift.index.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'codesift.index' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
