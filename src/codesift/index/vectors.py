"""Vector indexes behind one small interface: add, remove, search, save, load; numpy in and out.

`HNSWVectors` is the local index: faiss `IndexHNSWFlat` (inner product on unit vectors = cosine); with
`codec="fp16"` the graph's vectors are half floats (`IndexHNSWSQ` QT_fp16: half the memory, a walk as fast or
faster since each distance reads half the bytes, at a recall cost under 0.001); with `codec="int8"` 8-bit scalar
quantization (a quarter of the memory) whose candidates are rescored with the float vectors kept in a
memory-mapped file beside it. faiss over hnswlib: on the same data faiss built the graph faster at equal recall and
latency, and it offers fp16/SQ8 codes and per-query ID selectors (filters, tombstones) that hnswlib does not;
`codesift bench index --library hnswlib` repeats the comparison. The graph's large buffers sit on 2 MiB huge pages
(`hugepages.py`): fewer TLB misses per walk, a lower latency tail.

Ids are the caller's int64 chunk ids, assigned in increasing order (a new id is larger than every id before it);
a graph slot maps to its id through a sorted array. Deleting only marks a slot dead (a tombstone, excluded from
results by the selector); `rebuild` rebuilds the graph from the live vectors.

An index of fewer than `graph_min` vectors (a repository's few thousand chunks) keeps them flat and answers every
search exactly; the graph is built when it grows past that.

Searching with `allowed` ids (a filter) runs exact search over just those vectors when they are few (at most
`exact_max`: its cost grows with their number), and otherwise walks the graph restricted to them by an ID selector,
with a wider beam the more the filter removes; whenever the graph finds fewer than k allowed results, exact search
answers instead, so a filter never loses results. (`codesift bench index` measures both sides of the line.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from codesift.index.hugepages import huge_page_bytes, index_buffers, use_huge_pages

FORMAT = 1
CODECS = ("float32", "fp16", "int8")
# Below this many vectors an add runs on one thread: OpenMP's start-up and barriers cost more than they save, and
# on a busy machine two threads took 4x longer than one for 780 vectors.
PARALLEL_ADD = 10_000
GATHER_LIMIT = 4096  # exact search over at most this many vectors copies them out; beyond, faiss scans in place
# A filter keeping a share s of the index walks the graph with efSearch x min(FILTER_EF_BOOST, EF_BOOST_AT / s):
# the walk passes through filtered-out nodes, so a fixed beam finds fewer allowed neighbours as s falls.
FILTER_EF_BOOST = 16.0
EF_BOOST_AT = 0.5


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run faiss with `n` OpenMP threads inside the block (None: leave as is)."""
    if n is None:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class VectorBackend(Protocol):
    """What `CodeIndex` needs from a vector index."""

    dim: int

    def __len__(self) -> int:
        """Live (searchable) vectors."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The float vectors of live ids, in order."""
        ...

    def search(
        self, queries: np.ndarray, k: int, ef: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each (n_queries, k), best first; missing results are id -1 with score -inf."""
        ...

    def save(self, folder: Path) -> None: ...

    def committed(self) -> None:
        """Called once the metadata that matches this state is durable (backends with remote state act here)."""
        ...

    def stats(self) -> dict[str, object]: ...


def exact_search(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by inner product: the reference every approximate search is measured against.
    Ties go to the smaller id (stable order)."""
    n = len(ids)
    out_ids = np.full((len(queries), k), -1, dtype=np.int64)
    out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    if n == 0 or len(queries) == 0:
        return out_ids, out_scores
    take = min(k, n)
    for start in range(0, len(queries), 256):  # bounded memory: 256 x n scores at a time
        scores = queries[start : start + 256] @ vectors.T
        if take < n:
            part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        else:
            part = np.broadcast_to(np.arange(n), scores.shape).copy()
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        best = np.take_along_axis(part, order, axis=1)
        out_ids[start : start + 256, :take] = ids[best]
        out_scores[start : start + 256, :take] = np.take_along_axis(scores, best, axis=1)
    return out_ids, out_scores


class HNSWVectors:
    """A faiss HNSW graph over unit vectors with tombstones, filters, and float32, fp16 or SQ8 (+ float
    rescoring) vectors."""

    def __init__(self, dim: int, m: int = 16, ef_construction: int = 200, codec: str = "float32",
                 rescore_factor: int = 4, exact_max: int = 4096, graph_min: int = 0):
        if codec not in CODECS:
            raise ValueError(f"unknown vector codec {codec!r}; use one of {', '.join(CODECS)}")
        self.dim, self.m, self.ef_construction, self.codec = dim, m, ef_construction, codec
        self.rescore_factor, self.exact_max = rescore_factor, exact_max
        # Below this many slots the vectors are stored flat and every search is exact: for a repository's few
        # thousand chunks an exact scan takes under a millisecond, and building the graph took 0.6-0.9 s of a
        # first search (BENCHMARKS.md). The graph is built once the index grows past it.
        self.graph_min = graph_min
        self.index = None  # created on the first add (SQ8 trains on the first vectors)
        self.ids = np.zeros(0, dtype=np.int64)  # slot -> id, increasing
        self.live = np.zeros(0, dtype=bool)
        # The count of True in `live`, kept by every change to it: a search asks for it, and counting 1M flags
        # took 0.27 ms, more than half of a 1M-vector graph walk.
        self._n_live = 0
        self._floats = np.zeros((0, dim), dtype=np.float32)  # int8 only: the float vectors, slot order
        self._bitmap: np.ndarray | None = None  # packed `live`, cached while there are tombstones
        self._version = 0  # changes with every add, remove and rebuild (invalidates the filter cache)
        self._allowed_cache: tuple | None = None
        self.filter_ef_boost = FILTER_EF_BOOST

    # --- state --------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n_live

    @property
    def int8(self) -> bool:
        return self.codec == "int8"

    @property
    def tombstones(self) -> int:
        return len(self.live) - len(self)

    @property
    def has_graph(self) -> bool:
        return self.index is not None and hasattr(self.index, "hnsw")

    def stats(self) -> dict[str, object]:
        kind = {"float32": "Flat", "fp16": "SQfp16", "int8": "SQ8"}[self.codec]
        huge = sum(huge_page_bytes(*b) for b in index_buffers(self.index)) if self.has_graph else 0
        return {"backend": "hnsw", "library": "faiss", "kind": ("HNSW" if self.has_graph else "exact") + kind,
                "codec": self.codec, "graph": self.has_graph, "m": self.m, "ef_construction": self.ef_construction,
                "slots": len(self.ids), "live": len(self), "tombstones": self.tombstones,
                "huge_page_mib": round(huge / 2**20, 1)}

    def _storage(self):
        """The flat vectors or codes: the graph's storage, or the index itself before there is a graph."""
        import faiss

        return faiss.downcast_index(self.index.storage if self.has_graph else self.index)

    def _new_index(self, train: np.ndarray):
        import faiss

        if len(train) < self.graph_min:  # flat: exact search until the index outgrows graph_min
            if self.codec == "float32":
                return faiss.IndexFlatIP(self.dim)
            kind = faiss.ScalarQuantizer.QT_8bit if self.int8 else faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexScalarQuantizer(self.dim, kind, faiss.METRIC_INNER_PRODUCT)
            index.train(train)
            return index
        if self.codec != "float32":
            kind = faiss.ScalarQuantizer.QT_8bit if self.int8 else faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexHNSWSQ(self.dim, kind, self.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.train(train)  # SQ8: per-dimension min/max of these vectors; later outliers are clipped, then rescored
        else:
            index = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
        return index

    def _slot_floats(self) -> np.ndarray:
        """Vectors of every slot (dead ones included), without copying: float32, or float16 for fp16."""
        if self.int8:
            return self._floats
        if self.index is None or self.index.ntotal == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        import faiss

        storage = self._storage()
        if self.codec == "fp16":
            codes = faiss.rev_swig_ptr(storage.codes.data(), self.index.ntotal * self.dim * 2)
            return codes.view(np.float16).reshape(-1, self.dim)
        return faiss.rev_swig_ptr(storage.get_xb(), self.index.ntotal * self.dim).reshape(-1, self.dim)

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        """Slots of the given ids; unknown or dead ids are dropped."""
        ids = np.asarray(ids, dtype=np.int64)
        slots = np.searchsorted(self.ids, ids)
        ok = slots < len(self.ids)
        ok[ok] = self.ids[slots[ok]] == ids[ok]
        slots = slots[ok]
        return slots[self.live[slots]]

    # --- mutation -----------------------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of dim {self.dim}, got shape {vectors.shape}")
        if len(ids) == 0:
            return
        if np.any(np.diff(ids) <= 0) or (len(self.ids) and ids[0] <= self.ids[-1]):
            raise ValueError("ids must be increasing and larger than every id already in the index")
        if self.index is None:
            self.index = self._new_index(vectors)
        elif not self.has_graph and len(self.ids) + len(ids) >= self.graph_min:
            self._add_slots(ids, vectors)
            self.rebuild()  # outgrew exact search: the live vectors into a graph
            return
        self._add_slots(ids, vectors)

    def _add_slots(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with _threads(1 if len(ids) < PARALLEL_ADD else None):
            self.index.add(vectors)
        if self.has_graph:
            use_huge_pages(self.index)  # the add may have moved the buffers
        if self.int8:
            self._floats = np.concatenate([np.asarray(self._floats), vectors])
        self.ids = np.concatenate([self.ids, ids])
        self.live = np.concatenate([self.live, np.ones(len(ids), dtype=bool)])
        self._n_live += len(ids)
        self._bitmap, self._version = None, self._version + 1

    def remove(self, ids: np.ndarray) -> None:
        slots = np.unique(self._slots(ids))
        self.live[slots] = False
        self._n_live -= len(slots)
        self._bitmap, self._version = None, self._version + 1

    def rebuild(self) -> None:
        """A fresh graph over the live vectors only (drops tombstones; SQ8 retrains on the current vectors)."""
        keep = np.flatnonzero(self.live)
        vectors = np.ascontiguousarray(self._slot_floats()[keep], dtype=np.float32)
        ids = self.ids[keep]
        self.index, self.ids, self.live, self._n_live = None, np.zeros(0, np.int64), np.zeros(0, bool), 0
        self._floats = np.zeros((0, self.dim), dtype=np.float32)
        self.add(ids, vectors)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        slots = self._slots(ids)
        if len(slots) != len(ids):
            raise KeyError(f"{len(ids) - len(slots)} of the requested ids are not in the index")
        return np.array(self._slot_floats()[slots], dtype=np.float32)

    # --- search -------------------------------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, ef: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n_live = len(self)
        if allowed is not None:
            slots, bitmap = self._allowed(allowed)
            if len(slots) <= max(k, self.exact_max):
                return self._exact(queries, k, slots)
            expected = len(slots)
            ef = int(ef * min(self.filter_ef_boost, max(1.0, EF_BOOST_AT / (len(slots) / max(n_live, 1)))))
        else:
            slots, bitmap = None, None
            if self.tombstones:
                if self._bitmap is None:
                    self._bitmap = np.packbits(self.live, bitorder="little")
                bitmap = self._bitmap
            expected = n_live
        ids, scores = self._graph_search(queries, k, ef, bitmap)
        short = (ids >= 0).sum(axis=1) < min(k, expected)
        if short.any():  # the graph walk ran out of allowed neighbours: answer those queries exactly
            slots = np.flatnonzero(self.live) if slots is None else slots
            ids[short], scores[short] = self._exact(queries[short], k, slots)
        return ids, scores

    def _allowed(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots and selector bitmap of the allowed ids; cached for the same array (CodeIndex caches its filter
        masks, so a repeated filter costs nothing here) until the index changes."""
        cached = self._allowed_cache
        if cached is not None and cached[0] is allowed and cached[1] == self._version:
            return cached[2], cached[3]
        ids = np.asarray(allowed, dtype=np.int64)
        if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
            ids = np.unique(ids)
        slots = self._slots(ids)
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[slots] = True
        bitmap = np.packbits(mask, bitorder="little")
        self._allowed_cache = (allowed, self._version, slots, bitmap)  # holding `allowed` keeps its identity unique
        return slots, bitmap

    def _exact(self, queries: np.ndarray, k: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the given slots. Few slots: gather their vectors; many (float32 or fp16): faiss's
        brute-force scan with a bitmap selector, which computes only the selected dot products and copies nothing."""
        if self.int8 or len(slots) <= GATHER_LIMIT:
            return exact_search(self._slot_floats()[slots].astype(np.float32), self.ids[slots], queries, k)
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[slots] = True
        return self._scan(queries, k, np.packbits(mask, bitorder="little"))

    def _scan(self, queries: np.ndarray, k: int, bitmap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """faiss's brute-force scan of the stored vectors (float32 or fp16), the slots in `bitmap` only when given."""
        import faiss

        params = None if bitmap is None else faiss.SearchParameters(sel=faiss.IDSelectorBitmap(bitmap))
        scores, found = self._storage().search(queries, k, params=params)
        ids = np.where(found >= 0, self.ids[np.maximum(found, 0)], -1)
        return ids, np.where(found >= 0, scores, -np.inf).astype(np.float32)

    def _graph_search(self, queries: np.ndarray, k: int, ef: int, bitmap: np.ndarray | None):
        import faiss

        n = len(queries)
        if self.index is None or self.index.ntotal == 0:
            return np.full((n, k), -1, np.int64), np.full((n, k), -np.inf, np.float32)
        if not self.has_graph:  # flat: scan in place (SQ8 codes: gather and score the float vectors)
            if not self.int8:
                return self._scan(queries, k, bitmap)
            mask = self.live if bitmap is None else np.unpackbits(bitmap, count=len(self.ids), bitorder="little")
            return self._exact(queries, k, np.flatnonzero(mask))
        fetch = k * self.rescore_factor if self.int8 else k
        params = faiss.SearchParametersHNSW(efSearch=max(ef, fetch))
        if bitmap is not None:
            selector = faiss.IDSelectorBitmap(bitmap)  # `bitmap` stays referenced until the search returns
            params.sel = selector
        scores, slots = self.index.search(queries, fetch, params=params)
        if self.int8:  # rescore the SQ8 candidates with the float vectors
            valid = slots >= 0
            exact = np.einsum("qkd,qd->qk", self._floats[np.where(valid, slots, 0)], queries)
            scores = np.where(valid, exact, -np.inf).astype(np.float32)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            slots, scores = np.take_along_axis(slots, order, axis=1), np.take_along_axis(scores, order, axis=1)
        ids = np.where(slots >= 0, self.ids[np.maximum(slots, 0)], -1)
        scores = np.where(slots >= 0, scores, -np.inf).astype(np.float32)
        return ids, scores

    # --- persistence --------------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "dim": self.dim, "m": self.m, "ef_construction": self.ef_construction,
                "codec": self.codec, "has_graph": self.index is not None, "graph_min": self.graph_min}
        (folder / "hnsw.json").write_text(json.dumps(meta, indent=2) + "\n")
        if self.index is not None:
            faiss.write_index(self.index, str(folder / "hnsw.faiss"))
        np.save(folder / "ids.npy", self.ids)
        np.save(folder / "live.npy", self.live)
        if self.int8:
            np.save(folder / "floats.npy", np.asarray(self._floats))

    @classmethod
    def load(cls, folder: Path, rescore_factor: int = 4, exact_max: int = 4096) -> HNSWVectors:
        """Read a saved index; raises ValueError when a file is missing, unreadable or inconsistent."""
        import faiss

        try:
            meta = json.loads((folder / "hnsw.json").read_text())
            codec = meta.get("codec") or ("int8" if meta["int8"] else "float32")  # "int8": bool before fp16
            self = cls(meta["dim"], meta["m"], meta["ef_construction"], codec, rescore_factor, exact_max,
                       meta.get("graph_min", 0))
            self.ids, self.live = np.load(folder / "ids.npy"), np.load(folder / "live.npy")
            self._n_live = int(np.count_nonzero(self.live))
            if meta["has_graph"]:  # the faiss index: a graph, or flat vectors below graph_min
                self.index = faiss.read_index(str(folder / "hnsw.faiss"))
                if self.has_graph:
                    use_huge_pages(self.index)
            if self.int8:
                self._floats = np.load(folder / "floats.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
            raise ValueError(f"{folder}: unreadable HNSW index ({type(e).__name__}: {e})") from None
        ntotal = 0 if self.index is None else self.index.ntotal
        if not (len(self.ids) == len(self.live) == ntotal) or (self.int8 and len(self._floats) != ntotal) or (
            self.index is not None and self.index.d != self.dim
        ):
            raise ValueError(f"{folder}: HNSW index files disagree ({ntotal} graph nodes, {len(self.ids)} ids)")
        return self

    def committed(self) -> None:
        pass
