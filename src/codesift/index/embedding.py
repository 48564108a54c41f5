"""New chunks embedded on a background thread while the update is still reading and chunking files.

Chunking is Python (one core); the tokenizer and onnxruntime release the GIL and use every core. Embedding each
batch of new texts as soon as it fills lets the two overlap instead of running one after the other: on two cores
the first index of a repository is shorter by most of its chunking time (BENCHMARKS.md, "Speed where a user
waits").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from codesift.index.chunking import Chunk
from codesift.runtime.base import Encoder

EMBED_BATCH = 1024  # texts per encode call: the tokenizer spreads a call over the cores (32: 2x slower)


class BackgroundEmbedder:
    """Collects the texts of new chunks (each content hash once, none the index already holds) and embeds them
    `EMBED_BATCH` at a time on one worker thread; `vectors()` waits for the last batch. Use as a context manager
    so an update that fails mid-way does not leave batches running."""

    def __init__(self, encoder: Encoder, dim: int, known: Iterable[str],
                 progress: Callable[[int, int], None] | None = None):
        self.encoder, self.dim, self.progress = encoder, dim, progress
        self.seen = set(known)
        self.pending: dict[str, str] = {}  # content hash -> text, not yet sent
        self.sent = self.done = 0
        self.busy_seconds = 0.0  # time spent encoding, on the worker
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codesift-embed")
        self._futures: list[Future[dict[str, np.ndarray]]] = []

    def __enter__(self) -> BackgroundEmbedder:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            if chunk.content_hash not in self.seen:
                self.seen.add(chunk.content_hash)
                self.pending[chunk.content_hash] = chunk.embedding_text
        if len(self.pending) >= EMBED_BATCH:
            self._send()

    def vectors(self) -> dict[str, np.ndarray]:
        """content hash -> unit vector of every text added; raises what an encode call raised."""
        if self.pending:
            self._send()
        out: dict[str, np.ndarray] = {}
        for future in self._futures:
            out.update(future.result())
        return out

    def _send(self) -> None:
        items = sorted(self.pending.items(), key=lambda kv: len(kv[1]), reverse=True)  # similar lengths together
        self.pending = {}
        self.sent += len(items)
        self._futures.append(self._pool.submit(self._encode, items))

    def _encode(self, items: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        encoded = self.encoder.encode([text for _, text in items], kind="document")
        vectors = np.asarray(encoded.vectors, dtype=np.float32)
        if vectors.shape != (len(items), self.dim):
            raise ValueError(f"encoder returned vectors of shape {vectors.shape} for {len(items)} texts; "
                             f"the index holds dim {self.dim}")
        self.busy_seconds += time.perf_counter() - t0
        self.done += len(items)
        if self.progress:
            self.progress(self.done, self.sent)
        return dict(zip((h for h, _ in items), vectors))
