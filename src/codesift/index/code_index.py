"""`CodeIndex`: code folders -> chunks -> vectors + metadata, kept up to date incrementally, searched with filters.

See the package docstring (`codesift.index`) for the API and `store` for the on-disk format.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from codesift.config import IndexConfig
from codesift.index import store
from codesift.index.chunking import CHUNKER_VERSION, Chunk, FoundFile, chunk_file, read_file, utf8_name, walk
from codesift.index.embedding import BackgroundEmbedder
from codesift.index.lexical import search_tokens
from codesift.index.store import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from codesift.log import get_logger
from codesift.runtime.base import Encoder

log = get_logger(__name__)

# `tokens`: the chunk's BM25 terms (its text's stemmed words, space-joined), kept so that an update
# tokenizes only new chunks and the whole-file BM25 reuses them.
STRING_COLUMNS = ("repo", "path", "language", "symbol", "kind", "content_hash", "text", "tokens")
LAZY_COLUMNS = ("text", "tokens")  # most of the file's bytes: read on first use
INT_COLUMNS = ("id", "start_line", "end_line")
ROW_GROUP = 16_384  # chunks per Parquet row group: a hit's snippet reads its group's texts, not every chunk's
BM25_FOLDER = "bm25"  # in a generation folder: its BM25, saved when hybrid search is the index's default
# Settings that only change how a saved index is searched; everything else in IndexConfig is fixed at build time.
SEARCH_SETTINGS = ("ef_search", "rescore_factor", "exact_filter_max", "hybrid", "fusion", "bm25_weight",
                   "dense_weight", "hybrid_candidates", "paths")


@dataclass(frozen=True)
class Hit:
    """One search result; `path` is relative to the root named by `repo`, lines are 1-based and inclusive.
    `score` is the cosine similarity, or the fused score (z-score sum or RRF) when the search was hybrid."""

    id: int
    repo: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    kind: str
    language: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "start_line": self.start_line, "end_line": self.end_line, "symbol": self.symbol,
                "language": self.language, "score": round(self.score, 6), "repo": self.repo, "kind": self.kind}


@dataclass(frozen=True)
class Filters:
    """Keep chunks whose repo is one of `repos`, language one of `languages`, and path matches one of `paths`
    (fnmatch globs against the path relative to its root; `*` also matches '/', and a glob without '/' also
    matches the file name alone: `*.py`, `src/*`, `test_*`). An empty field does not filter."""

    repos: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # lists (e.g. from JSON) become tuples: filters are cache keys
        for name in ("repos", "languages", "paths"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value or ()))

    def __bool__(self) -> bool:
        return bool(self.repos or self.languages or self.paths)


@dataclass
class UpdateReport:
    """What one update did; `skipped` counts files that could not be indexed, by reason."""

    generation: int
    files_seen: int = 0
    files_unchanged: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    graph_rebuilt: bool = False
    committed: bool = False
    seconds: float = 0.0
    # where the time went: walking, reading and chunking files; embedding; the chunks' BM25 terms, the graph and
    # the metadata; saving the generation (BM25, whole-file scores, Parquet, vectors, checksums)
    chunk_seconds: float = 0.0
    embed_seconds: float = 0.0
    add_seconds: float = 0.0
    save_seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileRecord:
    repo: str
    path: str
    size: int
    mtime_ns: int
    sha256: str  # '' when skipped
    chunks: int
    skipped: str = ""  # why the file is not indexed (binary, invalid-utf8, too-large, ...), '' when it is
    ctime_ns: int = 0  # 0 in indexes from before it was recorded: those files are re-hashed once

    @classmethod
    def of(cls, repo: str, found: FoundFile, sha256: str, chunks: int, skipped: str = "") -> FileRecord:
        return cls(repo, found.rel, found.size, found.mtime_ns, sha256, chunks, skipped, found.ctime_ns)


class _Columns(dict):
    """Column name -> numpy column. A column a load left out (the chunk texts: most of the file's bytes) is read
    from the still-open Parquet file on first use, which works even after a later writer deleted the generation;
    one value of it (a hit's snippet) costs only the row group that holds it."""

    def __init__(self, columns: dict[str, np.ndarray], parquet=None):
        super().__init__(columns)
        self._parquet = parquet
        self._groups: dict[tuple[str, int], list] = {}
        if parquet is not None:  # the first row of each row group
            self._starts = np.cumsum([0, *(parquet.metadata.row_group(g).num_rows
                                           for g in range(parquet.num_row_groups))])

    def __missing__(self, name: str) -> np.ndarray:
        if self._parquet is None or name not in self._parquet.schema_arrow.names:
            raise KeyError(name)
        self[name] = _column(self._parquet.read(columns=[name]), name)
        return self[name]

    def cell(self, name: str, row: int):
        """One value; from a column not read yet, only the row group that holds it is read (and kept)."""
        if name in self or self._parquet is None:
            return self[name][row]
        group = int(np.searchsorted(self._starts, row, side="right")) - 1
        if (name, group) not in self._groups:
            self._groups[name, group] = self._parquet.read_row_group(group, columns=[name]).column(name).to_pylist()
        return self._groups[name, group][row - self._starts[group]]


class _Chunks:
    """The metadata store in memory: one numpy column per field, rows sorted by id. Opened from disk, the texts wait
    until something needs them (BM25 builds, updates, snippets): reading them was 1.6 s of a ~4 s search over
    294k chunks whose BM25 is saved."""

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        if columns is None:
            columns = {c: np.zeros(0, dtype=np.int64) for c in INT_COLUMNS}
            columns |= {c: np.zeros(0, dtype=object) for c in STRING_COLUMNS}
        self.c = columns if isinstance(columns, _Columns) else _Columns(columns)

    def __len__(self) -> int:
        return len(self.c["id"])

    def rows(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.c["id"], ids)

    def text(self, row: int) -> str:
        return self.c.cell("text", row)

    def columns(self) -> dict[str, np.ndarray]:
        """Every column, texts included, in the canonical order: what a new table or a save must carry over."""
        return {name: self.c[name] for name in (*INT_COLUMNS, *STRING_COLUMNS)}

    def append(self, ids: np.ndarray, repos: list[str], chunks: list[Chunk]) -> _Chunks:
        if not chunks:
            return self
        new = {
            "id": ids, "repo": np.array(repos, dtype=object),
            "start_line": np.array([c.start_line for c in chunks], dtype=np.int64),
            "end_line": np.array([c.end_line for c in chunks], dtype=np.int64),
            "content_hash": np.array([c.content_hash for c in chunks], dtype=object),
        }
        for name in ("path", "language", "symbol", "kind", "text"):
            new[name] = np.array([getattr(c, name) for c in chunks], dtype=object)
        new["tokens"] = np.array([" ".join(search_tokens(c.text)) for c in chunks], dtype=object)
        return _Chunks({k: np.concatenate([v, new[k]]) for k, v in self.columns().items()})

    def drop(self, ids: np.ndarray) -> _Chunks:
        keep = ~np.isin(self.c["id"], ids)
        return _Chunks({k: v[keep] for k, v in self.columns().items()})

    def save(self, path: Path) -> None:
        _write_parquet(path, self.columns(), row_group_size=ROW_GROUP)

    @classmethod
    def load(cls, path: Path) -> _Chunks:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        missing = {*INT_COLUMNS, *STRING_COLUMNS} - set(parquet.schema_arrow.names)
        if missing:
            raise ValueError(f"{path}: no {', '.join(sorted(missing))} column")
        eager = [name for name in (*INT_COLUMNS, *STRING_COLUMNS) if name not in LAZY_COLUMNS]
        table = parquet.read(columns=eager)
        return cls(_Columns({name: _column(table, name) for name in eager}, parquet))


def _column(table, name: str) -> np.ndarray:
    # to_pylist, not to_numpy: that imports pandas (~0.5 s per search).
    return np.array(table.column(name).to_pylist(), dtype=np.int64 if name in INT_COLUMNS else object)


class CodeIndex:
    """A code search index in one folder (see `codesift.index` for the API and its guarantees)."""

    def __init__(self, directory: str | Path, config: IndexConfig, encoder: dict[str, Any], backend,
                 chunks: _Chunks | None = None, files: dict[tuple[str, str], FileRecord] | None = None,
                 roots: dict[str, str] | None = None, generation: int = 0, next_id: int = 0):
        self.directory = Path(directory)
        self.config = config
        self.encoder_info = encoder  # {"revision", "dim", "quantization"} of the encoder the vectors came from
        self.backend = backend
        self.chunks = chunks or _Chunks()
        self.files = files or {}
        self.roots = roots or {}  # repo name -> absolute root path
        self.generation = generation  # changes on every committed update (result caches key on it)
        self.next_id = next_id
        self._mutex = threading.RLock()
        self._fresh = True  # not loaded from disk: the first update commits even when it finds nothing
        self._bm25: tuple[int, Any] | None = None
        self._file_level: tuple[int, Any] | None = None
        self._filters: dict[tuple[int, Filters], tuple[np.ndarray, np.ndarray]] = {}
        self._symbols: tuple[int, dict[str, np.ndarray]] | None = None

    # --- opening ------------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, encoder: Encoder, config: IndexConfig | None = None) -> CodeIndex:
        """A new, empty index for `encoder`'s vectors (nothing is written until the first update)."""
        config = config or IndexConfig()
        info = {"revision": encoder.revision, "dim": int(encoder.dim), "quantization": encoder.quantization}
        return cls(directory, config, info, _new_backend(Path(directory), config, int(encoder.dim)))

    @classmethod
    def open(cls, directory: str | Path, config: IndexConfig | None = None, *, encoder: Encoder | None = None,
             verify: bool = True) -> CodeIndex:
        """The committed index in `directory`. `config` may change search settings (ef_search, hybrid, weights,
        ...); build settings come from the index. `encoder`, when given, must be the one the index was built
        with. Raises IndexNotFoundError, IndexCorruptError or IndexMismatchError."""
        directory = Path(directory)
        for attempt in range(2):
            try:
                return cls._open(directory, config, encoder, verify)
            except IndexCorruptError:
                # A writer may have committed and removed this generation while we read it: retry once.
                if attempt or store.current_generation(directory) is None:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _open(cls, directory: Path, config: IndexConfig | None, encoder: Encoder | None, verify: bool) -> CodeIndex:
        name = store.current_generation(directory)
        if name is None:
            raise IndexNotFoundError(f"{directory}: no index here (build one with `codesift index build PATH`)")
        gen_dir = directory / name
        manifest = store.read_manifest(gen_dir, verify=verify)
        saved = IndexConfig(**manifest["config"])
        if config is not None:
            saved = saved.model_copy(update={k: getattr(config, k) for k in SEARCH_SETTINGS})
        if manifest.get("chunker") != CHUNKER_VERSION:
            raise IndexMismatchError(f"{directory}: chunked by chunker v{manifest.get('chunker')}, this codesift "
                                     f"chunks with v{CHUNKER_VERSION}; rebuild the index")
        info = manifest["encoder"]
        if encoder is not None:
            _check_encoder(directory, info, encoder)
        try:
            chunks = _Chunks.load(gen_dir / "chunks.parquet")
            files = _load_files(gen_dir / "files.parquet")
            backend = _load_backend(directory, gen_dir / "vectors", saved, manifest)
        except (OSError, ValueError, KeyError) as e:
            raise IndexCorruptError(f"{gen_dir}: {e}; rebuild the index") from None
        if len(backend) != len(chunks):
            raise IndexCorruptError(f"{gen_dir}: {len(chunks)} chunks but {len(backend)} vectors; rebuild the index")
        index = cls(directory, saved, info, backend, chunks, files, manifest["roots"], manifest["generation"],
                    manifest["next_id"])
        index._fresh = False
        return index

    @classmethod
    def open_or_create(cls, directory: str | Path, encoder: Encoder, config: IndexConfig | None = None, *,
                       rebuild_bad: bool = True) -> CodeIndex:
        """Open the index, or start an empty one when there is none; with `rebuild_bad`, a corrupt index or one
        built with another encoder or chunker is replaced by an empty one that keeps the folders it recorded (the
        next update re-indexes them) instead of raising. Replacing logs a warning: an index is never dropped
        silently."""
        try:
            return cls.open(directory, config, encoder=encoder)
        except IndexNotFoundError:
            return cls.create(directory, encoder, config)
        except (IndexCorruptError, IndexMismatchError) as e:
            if not rebuild_bad:
                raise
            fresh = cls.create(directory, encoder, config)
            fresh.generation = _committed_generation(Path(directory))
            fresh.roots = store.recorded_roots(Path(directory))
            folders = ", ".join(fresh.roots.values()) or "the folders given (it records none that can be read)"
            log.warning("%s -- rebuilding it from %s", e, folders)
            return fresh

    @property
    def indexed_files(self) -> int:
        return sum(1 for f in self.files.values() if not f.skipped)

    @property
    def on_disk(self) -> bool:
        """True once this index's state is a committed generation (opened, or updated since created)."""
        return not self._fresh

    def refresh(self, verify: bool = True) -> bool:
        """Load a generation committed by another process since this one was opened; True when it changed."""
        name = store.current_generation(self.directory)
        if name is None or name == store.generation_name(self.generation):
            return False
        other = CodeIndex.open(self.directory, self.config, verify=verify)
        with self._mutex:
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "_mutex"})
        return True

    # --- updating -----------------------------------------------------------------------------------------------

    def update(self, roots: Sequence[str | Path] | None = None, encoder: Encoder | None = None, *,
               rebuild: bool = False, lock_timeout: float = 600.0,
               progress: Callable[[int, int], None] | None = None) -> UpdateReport:
        """Bring the index in line with the files under `roots` (default: the roots it already has) and commit.

        Unchanged files (same size, mtime and ctime, or same sha256) are not re-read or re-chunked; chunks whose
        content hash the index already holds reuse their vectors; only new texts are embedded. Files that vanished,
        or can no longer be read as text, lose their chunks. `rebuild=True` starts from nothing (every chunk is
        embedded again). The whole update runs under the folder's write lock and commits one new generation."""
        t0 = time.perf_counter()
        if encoder is None:
            raise ValueError("update needs an encoder to embed new chunks")
        if roots is None and not self.roots:  # e.g. a mistyped index folder: never commit an empty index there
            what = "the index here is damaged and records no folders" if self.generation else "no index here"
            raise IndexNotFoundError(f"{self.directory}: {what}, and no folders were given to build one from")
        with store.write_lock(self.directory, lock_timeout):
            if not rebuild:
                try:  # another writer may have committed since we opened, or built it while we waited to create it
                    self.refresh()
                except store.CodeIndexError:
                    if not self._fresh:
                        raise  # a fresh index replaces a damaged one: what is committed there is not wanted
                _check_encoder(self.directory, self.encoder_info, encoder)
            base = CodeIndex.create(self.directory, encoder, self.config) if rebuild else self
            base.generation = max(self.generation, _committed_generation(self.directory))
            report = base._update(_resolve_roots(roots, self.roots), encoder, progress)
            if base is not self:
                old_backend = self.backend
                with self._mutex:
                    self.__dict__.update({k: v for k, v in base.__dict__.items() if k != "_mutex"})
                if report.committed and hasattr(old_backend, "discard"):
                    old_backend.discard()  # e.g. the previous Qdrant collection, now unreferenced
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    def _update(self, roots: dict[str, Path], encoder: Encoder, progress) -> UpdateReport:
        report = UpdateReport(self.generation)
        t0 = time.perf_counter()
        stats: Counter[str] = Counter()
        new_files = {k: v for k, v in self.files.items() if k[0] not in roots}  # other roots: untouched
        added: list[tuple[str, Chunk]] = []  # (repo, chunk) of every new or changed file
        c = self.chunks.c
        known = dict(zip(c["content_hash"], c["id"]))  # texts the index holds: their vectors are reused
        with BackgroundEmbedder(encoder, self.backend.dim, known, progress) as embedder:
            for repo, root in roots.items():
                for found in walk(root, stats):
                    key = (repo, found.rel)
                    report.files_seen += 1
                    old = self.files.get(key)
                    if old and (old.size, old.mtime_ns, old.ctime_ns) == (found.size, found.mtime_ns,
                                                                           found.ctime_ns):
                        new_files[key] = old
                        if old.skipped:
                            stats[f"skip:{old.skipped}"] += 1
                        else:
                            report.files_unchanged += 1
                        continue
                    read = read_file(found, self.config.max_file_bytes)
                    if isinstance(read, str):  # binary, unreadable, ...: remembered, so it is not re-read until
                        stats[f"skip:{read}"] += 1  # it changes; an indexed file that became so loses its chunks
                        new_files[key] = FileRecord.of(repo, found, "", 0, read)
                        continue
                    data, text, language = read
                    digest = hashlib.sha256(data).hexdigest()
                    if old and old.sha256 == digest:  # touched, not changed
                        new_files[key] = FileRecord.of(repo, found, digest, old.chunks)
                        report.files_unchanged += 1
                        continue
                    chunks = chunk_file(found.rel, text, language, self.config.window_lines)
                    new_files[key] = FileRecord.of(repo, found, digest, len(chunks))
                    added += [(repo, chunk) for chunk in chunks]
                    embedder.add(chunks)
                    report.files_changed += old is not None
                    report.files_added += old is None
            report.chunk_seconds = round(time.perf_counter() - t0, 3)
            stale = {k for k, old in self.files.items() if k not in new_files or new_files[k].sha256 != old.sha256}
            stale = {k for k in stale if not self.files[k].skipped}
            report.files_removed = sum(1 for k in self.files if k not in new_files)
            report.skipped = {k.removeprefix("skip:"): v for k, v in sorted(stats.items())}
            stale_ids = c["id"][np.fromiter(((r, p) in stale for r, p in zip(c["repo"], c["path"])), bool,
                                            len(c["id"]))]
            ids = np.arange(self.next_id, self.next_id + len(added), dtype=np.int64)
            table, lexical = self.chunks, None
            if added or len(stale_ids):  # while the last batches embed: the new table, its terms and BM25
                table = table.drop(stale_ids).append(ids, [r for r, _ in added], [ch for _, ch in added])
                lexical = _lexical(table) if self.config.hybrid and len(table) else None
            vectors_by_hash = embedder.vectors()
            report.embed_seconds = round(embedder.busy_seconds, 3)

        # Old chunks of changed or removed files go; new chunks reuse a vector when their text is already indexed.
        reuse = sorted({int(known[ch.content_hash]) for _, ch in added if ch.content_hash in known})
        if reuse:
            by_id = dict(zip(reuse, self.backend.vectors(np.array(reuse, dtype=np.int64))))
            vectors_by_hash |= {h: by_id[int(i)] for h, i in known.items() if int(i) in by_id}
        report.chunks_reused = sum(1 for _, ch in added if ch.content_hash in known)
        report.chunks_embedded = len(added) - report.chunks_reused

        with self._mutex:
            dirty = (self._fresh or added or len(stale_ids) or new_files != self.files
                     or not roots.keys() <= set(self.roots))
            if not dirty:
                return report
            t0 = time.perf_counter()
            if added:
                self.backend.add(ids, np.stack([vectors_by_hash[ch.content_hash] for _, ch in added]))
            self.backend.remove(stale_ids)
            self.chunks = table
            self.files, self.next_id = new_files, self.next_id + len(added)
            self.roots = {**self.roots, **{repo: str(root) for repo, root in roots.items()}}
            report.chunks_added, report.chunks_removed = len(added), len(stale_ids)
            tombstones = getattr(self.backend, "tombstones", 0)
            if tombstones and tombstones > self.config.rebuild_tombstone_fraction * (len(self.backend) + tombstones):
                self.backend.rebuild()
                report.graph_rebuilt = True
            report.add_seconds = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
            self._save(lexical)
            report.save_seconds = round(time.perf_counter() - t0, 3)
        report.generation, report.committed = self.generation, True
        return report

    def _save(self, lexical: tuple | None = None) -> None:
        """Commit the in-memory state as the next generation; on failure, fall back to the committed one.
        `lexical`: `_lexical(self.chunks)` when the update built it already."""
        generation = self.generation + 1
        tmp = store.begin(self.directory, generation)
        try:
            self.chunks.save(tmp / "chunks.parquet")
            _save_files(tmp / "files.parquet", self.files)
            self.backend.save(tmp / "vectors")
            bm25 = file_level = None
            if self.config.hybrid and len(self.chunks):
                bm25, file_terms = lexical or _lexical(self.chunks)
                bm25.save(tmp / BM25_FOLDER)
                file_level = file_terms.with_vectors(self.backend.vectors(self.chunks.c["id"]))
                file_level.save(tmp)
            manifest = {
                "encoder": self.encoder_info, "config": self.config.model_dump(mode="json"), "roots": self.roots,
                "next_id": self.next_id, "chunker": CHUNKER_VERSION, "chunks": len(self.chunks),
                "files_indexed": len(self.files), "saved_at": time.time(),
            }
            store.commit(self.directory, tmp, generation, manifest)
        except BaseException:
            store.abort(tmp)
            self._reload_committed()
            raise
        self.generation, self._fresh = generation, False
        self._bm25 = None if bm25 is None else (generation, bm25)
        self._file_level = None if file_level is None else (generation, file_level)
        self.backend.committed()

    def _reload_committed(self) -> None:
        try:
            other = CodeIndex.open(self.directory, self.config)
        except store.CodeIndexError:
            return  # nothing committed yet (or unreadable): keep the in-memory state
        self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "_mutex"})

    # --- searching ----------------------------------------------------------------------------------------------

    def search(self, queries: Sequence[str], top_k: int = 10, *, encoder: Encoder | None = None,
               vectors: np.ndarray | None = None, filters: Filters | None = None, ef_search: int | None = None,
               hybrid: bool | None = None) -> list[list[Hit]]:
        """The best `top_k` chunks for each query, best first.

        Query vectors come from `vectors` (n x dim, L2-normalized) when given, else from `encoder` (kind="query").
        `hybrid` (default: the config's) fuses BM25 over the query texts with the dense results (`config.fusion`)."""
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        queries = list(queries)
        if vectors is None:
            if encoder is None:
                raise ValueError("search needs query vectors or an encoder")
            _check_encoder(self.directory, self.encoder_info, encoder)
            vectors = encoder.encode(queries, kind="query").vectors if queries else np.zeros((0, self.backend.dim))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(queries), self.backend.dim):
            raise ValueError(f"expected {len(queries)} query vectors of dim {self.backend.dim}, got {vectors.shape}")
        hybrid = self.config.hybrid if hybrid is None else hybrid
        ef = ef_search or self.config.ef_search
        with self._mutex:
            if len(self.chunks) == 0:
                return [[] for _ in queries]
            top_k = min(top_k, len(self.chunks))  # more cannot be found; a huge k would size arrays by it
            mask, allowed = self.filter(filters) if filters else (None, None)
            if allowed is not None and len(allowed) == 0:
                return [[] for _ in queries]
            if not hybrid:
                ids, scores = self.backend.search(vectors, top_k, ef, allowed)
                return [self.hits(i, s) for i, s in zip(ids, scores)]
            return [self._hybrid(q, v, top_k, ef, mask, allowed) for q, v in zip(queries, vectors)]

    def search_vectors(self, vectors: np.ndarray, top_k: int = 10, *, filters: Filters | None = None,
                       ef_search: int | None = None) -> list[list[Hit]]:
        """Dense-only search with precomputed query vectors (no query texts, so no BM25)."""
        return self.search([""] * len(vectors), top_k, vectors=vectors, filters=filters, ef_search=ef_search,
                           hybrid=False)

    def _hybrid(self, query: str, vector: np.ndarray, top_k: int, ef: int, mask, allowed) -> list[Hit]:
        from codesift.index.lexical import fuse, top_candidates, top_reference, zscore_fuse

        cfg = self.config
        n = max(top_k, cfg.hybrid_candidates)
        dense_ids, _ = self.backend.search(vector[None], n, ef, allowed)
        dense_ids = dense_ids[0][dense_ids[0] >= 0]
        bm25 = self.bm25()
        lexical = bm25.scores(query)
        lexical_rows = top_candidates(lexical, n, mask)
        ids = np.union1d(dense_ids, self.chunks.c["id"][lexical_rows])
        if len(ids) == 0:
            return []
        dense = self.backend.vectors(ids) @ vector
        lexical_ids = lexical[self.chunks.rows(ids)]
        if cfg.fusion == "rrf":
            fused = fuse(dense, lexical_ids, cfg.dense_weight, cfg.bm25_weight)
        else:
            dense_reference = dense[np.isin(ids, dense_ids[: cfg.hybrid_candidates])]
            searchable = len(lexical) if allowed is None else len(allowed)
            lexical_reference = top_reference(lexical, lexical_rows, cfg.hybrid_candidates, searchable)
            fused = zscore_fuse(dense, dense_reference, lexical_ids, lexical_reference, cfg.dense_weight,
                                cfg.bm25_weight)
        order = np.lexsort((ids, -fused))[:top_k]
        return self.hits(ids[order], fused[order])

    def bm25(self):
        """The generation's BM25: the one saved with it (an index whose default is hybrid search), else built."""
        from codesift.index.lexical import BM25Index

        return self._per_generation("_bm25", BM25_FOLDER, lambda gen: BM25Index.load(gen / BM25_FOLDER),
                                    self._build_bm25, lambda bm25: bm25.size == len(self.chunks))

    def file_level(self):
        """The generation's whole-file BM25 and vectors (`file_level.FileLevel`): saved with it, else built."""
        from codesift.index.file_level import VECTORS_FILE, FileLevel

        return self._per_generation("_file_level", VECTORS_FILE, FileLevel.load, self._build_file_level,
                                    lambda level: len(level.chunk_file) == len(self.chunks))

    def _per_generation(self, slot: str, marker: str, load, build, fits):
        """What `slot` caches for the current generation: read from the generation's folder when it was saved
        there (`marker` exists) and fits the chunks, else built in memory."""
        cached = getattr(self, slot)
        if cached is None or cached[0] != self.generation:
            saved = self.directory / store.generation_name(self.generation)
            value = None
            if not self._fresh and (saved / marker).exists():
                try:
                    value = load(saved)
                except ValueError as e:  # e.g. a later writer removed this generation: build it in memory
                    log.warning("%s", e)
            if value is None or not fits(value):
                value = build()
            cached = (self.generation, value)
            setattr(self, slot, cached)
        return cached[1]

    def _build_file_level(self):
        from codesift.index.file_level import FileLevel

        c = self.chunks.c
        return FileLevel.build(c["repo"], c["path"], c["tokens"], self.backend.vectors(c["id"]))

    def _build_bm25(self):
        from codesift.index.lexical import BM25Index

        return BM25Index.build(list(self.chunks.c["tokens"]))

    def filter(self, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
        """The chunks a filter keeps, as a row mask and as ids; cached, and the same ids array every time, since the
        backend caches its own work by that array (at 1M chunks a fresh array cost 25 ms a search, a cached 0.6)."""
        key = (self.generation, filters)
        if key not in self._filters:
            c = self.chunks.c
            mask = np.ones(len(self.chunks), dtype=bool)
            if filters.repos:
                mask &= np.isin(c["repo"], list(filters.repos))
            if filters.languages:
                mask &= np.isin(c["language"], list(filters.languages))
            if filters.paths:
                ok = {p: _glob_match(p, filters.paths) for p in set(c["path"][mask])}
                mask &= np.array([ok.get(p, False) for p in c["path"]], dtype=bool)
            if len(self._filters) > 64:
                self._filters.clear()
            self._filters[key] = mask, c["id"][mask]
        return self._filters[key]

    def hits(self, ids: np.ndarray, scores: np.ndarray) -> list[Hit]:
        c = self.chunks.c
        rows = np.minimum(self.chunks.rows(ids), max(len(self.chunks) - 1, 0))
        keep = (ids >= 0) & (c["id"][rows] == ids) if len(self.chunks) else np.zeros(len(ids), bool)
        rows, scores = rows[keep], scores[keep]  # ids no committed chunk has (a backend's stray points) are dropped
        return [Hit(int(c["id"][r]), c["repo"][r], c["path"][r], int(c["start_line"][r]), int(c["end_line"][r]),
                    c["symbol"][r], c["kind"][r], c["language"][r], float(s)) for r, s in zip(rows, scores)]

    def definitions(self, name: str) -> np.ndarray:
        """Rows of the chunks that define `name` (the last part of their symbol, case-insensitive): how an
        identifier query finds its definition even when neither side ranked it among its candidates."""
        if self._symbols is None or self._symbols[0] != self.generation:
            table: dict[str, list[int]] = {}
            for row, (symbol, kind) in enumerate(zip(self.chunks.c["symbol"], self.chunks.c["kind"])):
                if symbol and kind not in ("window", "section"):
                    table.setdefault(symbol.rsplit(".", 1)[-1].lower(), []).append(row)
            self._symbols = (self.generation, {k: np.array(v, dtype=np.int64) for k, v in table.items()})
        return self._symbols[1].get(name.lower(), np.zeros(0, dtype=np.int64))

    def chunk_text(self, hit: Hit) -> str:
        """The indexed text of a hit's chunk."""
        return self.chunks.text(int(self.chunks.rows(np.array([hit.id]))[0]))

    # --- facts --------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        c = self.chunks.c
        return {
            "directory": str(self.directory), "generation": self.generation, "roots": self.roots,
            "files": self.indexed_files, "files_skipped": dict(Counter(f.skipped for f in self.files.values()
                                                                        if f.skipped)),
            "chunks": len(self.chunks),
            "languages": dict(Counter(c["language"]).most_common()), "kinds": dict(Counter(c["kind"]).most_common()),
            "encoder": self.encoder_info, "vectors": self.backend.stats(),
            "config": {k: v for k, v in self.config.model_dump(mode="json").items() if k != "paths"},
            "disk_bytes": _disk_bytes(self.directory),
        }


# --- helpers ----------------------------------------------------------------------------------------------------


def _lexical(table: _Chunks) -> tuple:
    """A generation's lexical data from the terms each chunk keeps: (BM25 over the chunks, the whole-file BM25
    still without the files' vectors)."""
    from codesift.index.file_level import FileLevel
    from codesift.index.lexical import BM25Index

    c = table.c
    return BM25Index.build(list(c["tokens"])), FileLevel.lexical(c["repo"], c["path"], c["tokens"])


def _check_encoder(directory: Path, info: dict[str, Any], encoder: Encoder) -> None:
    if info["revision"] != encoder.revision or int(info["dim"]) != int(encoder.dim):
        raise IndexMismatchError(
            f"{directory}: built with encoder {info['revision']} (dim {info['dim']}), not {encoder.revision} "
            f"(dim {encoder.dim}); rebuild the index with this encoder"
        )


def _glob_match(path: str, globs: tuple[str, ...]) -> bool:
    name = PurePosixPath(path).name
    return any(fnmatch.fnmatchcase(path, g) or ("/" not in g and fnmatch.fnmatchcase(name, g)) for g in globs)


def _group(flat: list[tuple[str, Chunk]]) -> list[tuple[str, list[Chunk]]]:
    groups: list[tuple[str, list[Chunk]]] = []
    for repo, chunk in flat:
        if not groups or groups[-1][0] != repo:
            groups.append((repo, []))
        groups[-1][1].append(chunk)
    return groups


def _resolve_roots(roots: Sequence[str | Path] | None, known: dict[str, str]) -> dict[str, Path]:
    """Repo name -> absolute root. A root the index already has keeps its name; a new one is named after its
    folder (with -2, -3, ... when that name is taken by another root)."""
    if roots is None:
        return {repo: Path(path) for repo, path in known.items()}
    by_path = {path: repo for repo, path in known.items()}
    out: dict[str, Path] = {}
    for raw in roots:
        root = Path(raw).expanduser().resolve()
        if not root.exists():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        repo = by_path.get(str(root))
        if repo is None:
            base = utf8_name(root.name) or "root"
            repo, n = base, 2
            while repo in known or repo in out:
                repo, n = f"{base}-{n}", n + 1
        out[repo] = root
    return out


def _new_backend(directory: Path, config: IndexConfig, dim: int):
    if config.backend == "qdrant":
        from codesift.index.qdrant import QdrantVectors

        return QdrantVectors.connect(directory, config, dim)
    from codesift.index.vectors import HNSWVectors

    return HNSWVectors(dim, config.m, config.ef_construction, config.vectors, config.rescore_factor,
                       config.exact_filter_max, config.graph_min_vectors)


def _load_backend(directory: Path, folder: Path, config: IndexConfig, manifest: dict[str, Any]):
    if config.backend == "qdrant":
        from codesift.index.qdrant import QdrantVectors

        return QdrantVectors.load(directory, folder, config)
    from codesift.index.vectors import HNSWVectors

    return HNSWVectors.load(folder, config.rescore_factor, config.exact_filter_max)


def _save_files(path: Path, files: dict[tuple[str, str], FileRecord]) -> None:
    records = list(files.values())
    columns = {}
    for name, kind in FileRecord.__annotations__.items():
        values = [getattr(r, name) for r in records]
        columns[name] = np.array(values, dtype=np.int64 if kind == "int" else object)
    _write_parquet(path, columns)


def _write_parquet(path: Path, columns: dict[str, np.ndarray], row_group_size: int | None = None) -> None:
    """int64 and string columns written as Parquet. The arrays are built from their buffers: pyarrow's
    `pa.array` imports pandas whenever it is installed, 0.35 s of a first search on 2 cores."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = []
    for values in columns.values():
        if values.dtype == object:
            encoded = [v.encode("utf-8") for v in values]
            offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(e) for e in encoded], out=offsets[1:])
            arrays.append(pa.Array.from_buffers(pa.large_string(), len(encoded),
                                                [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]))
        else:
            ints = np.ascontiguousarray(values, dtype=np.int64)
            arrays.append(pa.Array.from_buffers(pa.int64(), len(ints), [None, pa.py_buffer(ints)]))
    pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), path, row_group_size=row_group_size)


def _load_files(path: Path) -> dict[tuple[str, str], FileRecord]:
    import pyarrow.parquet as pq

    return {(r["repo"], r["path"]): FileRecord(**r) for r in pq.ParquetFile(path).read().to_pylist()}


def _committed_generation(directory: Path) -> int:
    """The committed generation's number; when CURRENT is unreadable, the highest generation folder's (so a
    replacement index continues the count); 0 when there is none."""
    try:
        name = store.current_generation(directory)
    except IndexCorruptError:
        name = None
        if directory.is_dir():
            found = sorted(p.name for p in directory.iterdir() if p.is_dir() and store.is_generation(p.name))
            name = found[-1] if found else None
    return int(name[1:]) if name else 0


def _disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0
