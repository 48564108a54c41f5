"""A Qdrant collection as the vector backend, for indexes that outgrow one machine's HNSW.

The same interface as `HNSWVectors` (add, remove, vectors, search, save, load), so `CodeIndex` works unchanged:
set `index.backend: qdrant` and `index.qdrant_url` to a server or cluster URL. Without a URL the collection lives
in Qdrant's local mode inside the index folder (`INDEX_DIR/qdrant/`); `qdrant_url: ":memory:"` keeps it in memory
(tests). The metadata store stays in the index folder either way; Qdrant holds the vectors, under the chunk ids.

Qdrant's state changes in place, outside the index's generations, so the order of writes keeps the two consistent:
new points are upserted before the metadata commit, and removed points are deleted only after it (`committed`).
A crash in between leaves extra points that no committed chunk refers to; the next load deletes them. A full
rebuild writes a new collection and drops the old one only once the new metadata is committed.

Filters reach Qdrant as the list of allowed chunk ids (a HasId condition), searched exactly when they are few.
"""

from __future__ import annotations

import atexit
import json
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from codesift.config import IndexConfig

_CLIENTS: dict[str, Any] = {}  # local mode allows one client per folder and process: share it
BATCH = 256


def _client(location: str):
    from qdrant_client import QdrantClient

    if location == ":memory:":
        client = QdrantClient(":memory:")
    elif location in _CLIENTS:
        return _CLIENTS[location]
    elif location.startswith(("http://", "https://")):
        client = _CLIENTS[location] = QdrantClient(url=location)
    else:
        Path(location).mkdir(parents=True, exist_ok=True)
        client = _CLIENTS[location] = QdrantClient(path=location)
    atexit.register(client.close)  # before interpreter teardown, when closing still works
    return client


class QdrantVectors:
    """Vectors in one Qdrant collection; `ids` mirrors the committed live ids (sorted)."""

    def __init__(self, client, location: str, collection: str, dim: int, int8: bool, rescore_factor: int,
                 exact_max: int, ids: np.ndarray | None = None):
        self.client, self.location, self.collection = client, location, collection
        self.dim, self.int8, self.rescore_factor, self.exact_max = dim, int8, rescore_factor, exact_max
        self.ids = np.zeros(0, dtype=np.int64) if ids is None else ids
        self._pending: list[np.ndarray] = []  # removed ids, deleted from Qdrant once the metadata is committed

    @classmethod
    def connect(cls, directory: Path, config: IndexConfig, dim: int) -> QdrantVectors:
        """A new, empty collection named `<qdrant_collection>-<random>` (a rebuild never touches the old one)."""
        from qdrant_client import models

        location = config.qdrant_url or str(Path(directory).resolve() / "qdrant")
        client = _client(location)
        collection = f"{config.qdrant_collection}-{uuid.uuid4().hex[:12]}"
        client.create_collection(
            collection,
            vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT, datatype=(
                models.Datatype.FLOAT16 if config.vectors == "fp16" else models.Datatype.FLOAT32)),
            hnsw_config=models.HnswConfigDiff(m=config.m, ef_construct=config.ef_construction),
            quantization_config=models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
            ) if config.vectors == "int8" else None,
        )
        return cls(client, location, collection, dim, config.vectors == "int8", config.rescore_factor,
                   config.exact_filter_max)

    @classmethod
    def load(cls, directory: Path, folder: Path, config: IndexConfig) -> QdrantVectors:
        """Reattach to the saved collection; points no committed chunk refers to (a crash between upsert and
        commit) are deleted, and missing points are an error (the vectors are gone)."""
        meta = json.loads((folder / "qdrant.json").read_text())
        if meta["location"] == ":memory:":
            raise ValueError("the index's Qdrant collection was in memory and is gone with its process")
        location = config.qdrant_url or meta["location"] or str(Path(directory).resolve() / "qdrant")
        self = cls(_client(location), location, meta["collection"], meta["dim"], meta["int8"], config.rescore_factor,
                   config.exact_filter_max, np.load(folder / "ids.npy"))
        if not self.client.collection_exists(self.collection):
            raise ValueError(f"Qdrant collection {self.collection!r} at {location} is missing")
        stored = self._all_ids()
        missing = np.setdiff1d(self.ids, stored)
        if len(missing):
            raise ValueError(f"{len(missing)} vectors are missing from Qdrant collection {self.collection!r}")
        extra = np.setdiff1d(stored, self.ids)
        if len(extra):
            self._delete(extra)
        return self

    def _all_ids(self) -> np.ndarray:
        out, offset = [], None
        while True:
            points, offset = self.client.scroll(self.collection, limit=10_000, offset=offset, with_payload=False,
                                                with_vectors=False)
            out += [int(p.id) for p in points]
            if offset is None:
                return np.array(sorted(out), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def stats(self) -> dict[str, object]:
        return {"backend": "qdrant", "location": self.location, "collection": self.collection,
                "int8": self.int8, "live": len(self)}

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        from qdrant_client import models

        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of dim {self.dim}, got shape {vectors.shape}")
        for start in range(0, len(ids), BATCH):
            part = slice(start, start + BATCH)
            batch = models.Batch(ids=ids[part].tolist(), vectors=vectors[part].tolist())
            self.client.upsert(self.collection, points=batch, wait=True)
        self.ids = np.union1d(self.ids, ids)

    def remove(self, ids: np.ndarray) -> None:
        ids = np.intersect1d(np.asarray(ids, dtype=np.int64), self.ids)
        if len(ids):
            self._pending.append(ids)
            self.ids = np.setdiff1d(self.ids, ids)

    def committed(self) -> None:
        for ids in self._pending:
            self._delete(ids)
        self._pending = []

    def discard(self) -> None:
        """Drop the collection (after a rebuild into a new one has been committed)."""
        self.client.delete_collection(self.collection)

    def _delete(self, ids: np.ndarray) -> None:
        from qdrant_client import models

        for start in range(0, len(ids), BATCH):
            selector = models.PointIdsList(points=ids[start : start + BATCH].tolist())
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        found = {}
        for start in range(0, len(ids), BATCH):
            for rec in self.client.retrieve(self.collection, ids=ids[start : start + BATCH].tolist(),
                                            with_vectors=True, with_payload=False):
                found[int(rec.id)] = rec.vector
        if len(found) != len(set(ids.tolist())):
            raise KeyError(f"{len(ids) - len(found)} of the requested ids are not in the collection")
        return np.array([found[int(i)] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def search(self, queries: np.ndarray, k: int, ef: int, allowed: np.ndarray | None = None):
        from qdrant_client import models

        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        query_filter, exact = None, False
        if allowed is not None:
            allowed = np.intersect1d(np.asarray(allowed, dtype=np.int64), self.ids)
            query_filter = models.Filter(must=[models.HasIdCondition(has_id=allowed.tolist())])
            exact = len(allowed) <= max(k, self.exact_max)
        params = models.SearchParams(
            hnsw_ef=max(ef, k), exact=exact,
            quantization=models.QuantizationSearchParams(rescore=True, oversampling=float(self.rescore_factor))
            if self.int8 else None,
        )
        requests = [models.QueryRequest(query=q.tolist(), limit=k, filter=query_filter, params=params) for q in queries]
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if len(self) == 0 or not len(queries):
            return out_ids, out_scores
        with warnings.catch_warnings():  # local mode searches exactly and warns that search_params do nothing
            warnings.filterwarnings("ignore", message="Local mode performs exact")
            responses = self.client.query_batch_points(self.collection, requests=requests)
        for row, response in enumerate(responses):
            for col, point in enumerate(response.points[:k]):
                out_ids[row, col], out_scores[row, col] = int(point.id), point.score
        return out_ids, out_scores

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        in_folder = self.location == str(folder.parents[1].resolve() / "qdrant")  # INDEX_DIR/<gen>/vectors
        meta = {"location": None if in_folder else self.location, "collection": self.collection, "dim": self.dim,
                "int8": self.int8}
        (folder / "qdrant.json").write_text(json.dumps(meta, indent=2) + "\n")
        np.save(folder / "ids.npy", self.ids)
