"""Pretraining data: cleaned files tokenized and packed into full windows, and a resumable data order.

Files are packed back to back (`[CLS] file1 [SEP] file2 [SEP] ...` cut every `seq_len` tokens), so no
compute goes to padding. Validation windows come from the repositories the `pairs` stage holds out for
validation; its test repositories are left out of pretraining entirely, so held-out evaluation stays honest.
The data order is a pure function of (seed, step, micro-step, rank): a resumed run sees exactly the batches
the uninterrupted run would have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from codesift.model.encoder import CLS_ID, PAD_ID, SEP_ID
from codesift.train.masking import identifier_owners

ENCODE_BATCH = 256


@dataclass
class Windows:
    """Packed token windows: `ids` (n, seq_len) and, per token, its identifier owner id (-1: none)."""

    ids: np.ndarray
    owners: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: Path) -> None:
        """Compact on disk (windows travel to GPU machines): ids as uint16 when the vocabulary allows, owners
        renumbered 0.. within each window as int16 (masking only compares owners within a window)."""
        from codesift.runs import atomic_write

        ids = self.ids.astype(np.uint16 if self.ids.max(initial=0) < 2**16 else np.int32)
        owners = np.full(self.owners.shape, -1, np.int16)
        for row, own in enumerate(self.owners):
            named = own >= 0
            owners[row, named] = np.unique(own[named], return_inverse=True)[1]
        table = pa.table({"ids": list(ids), "owners": list(owners)})
        with atomic_write(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", compression_level=9)

    @classmethod
    def load(cls, path: Path) -> Windows:
        table = pq.read_table(path)
        return cls(np.stack(table.column("ids").to_numpy(zero_copy_only=False)).astype(np.int64),
                   np.stack(table.column("owners").to_numpy(zero_copy_only=False)).astype(np.int64))


def pack_windows(texts: Iterable[str], tokenizer: Tokenizer, seq_len: int, limit: int) -> Windows:
    """Up to `limit` windows of `[CLS]` + `seq_len - 1` tokens from `texts` packed back to back. When the texts
    hold less than one window, the single window is padded (PAD positions carry no attention)."""
    body = seq_len - 1
    ids_buf: list[np.ndarray] = []
    own_buf: list[np.ndarray] = []
    buffered = 0
    out_ids: list[np.ndarray] = []
    out_owners: list[np.ndarray] = []
    next_owner = 0

    def flush(final: bool) -> None:
        nonlocal ids_buf, own_buf, buffered
        ids = np.concatenate(ids_buf) if ids_buf else np.zeros(0, np.int64)
        own = np.concatenate(own_buf) if own_buf else np.zeros(0, np.int64)
        n_full = len(ids) // body
        for i in range(min(n_full, limit - len(out_ids))):
            out_ids.append(np.concatenate([[CLS_ID], ids[i * body : (i + 1) * body]]))
            out_owners.append(np.concatenate([[-1], own[i * body : (i + 1) * body]]))
        rest = slice(n_full * body, None)
        ids_buf, own_buf, buffered = [ids[rest]], [own[rest]], len(ids) - n_full * body
        if final and not out_ids and buffered:
            pad = body - buffered
            out_ids.append(np.concatenate([[CLS_ID], ids_buf[0], np.full(pad, PAD_ID)]))
            out_owners.append(np.concatenate([[-1], own_buf[0], np.full(pad, -1)]))

    for batch in _batched(texts, ENCODE_BATCH):
        for text, enc in zip(batch, tokenizer.encode_batch(batch, add_special_tokens=False), strict=True):
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
            owners, next_owner = identifier_owners(text, offsets, next_owner)
            ids_buf += [np.asarray(enc.ids, dtype=np.int64), np.array([SEP_ID])]
            own_buf += [owners, np.array([-1])]
            buffered += len(enc.ids) + 1
        flush(final=False)
        if len(out_ids) >= limit:
            break
    flush(final=True)
    if not out_ids:
        raise ValueError("no text to pretrain on: every input file was empty")
    return Windows(np.stack(out_ids).astype(np.int64), np.stack(out_owners).astype(np.int64))


def split_files(
    files: pa.Table, held_out: dict[str, str], seed: int
) -> tuple[list[str], list[str]]:
    """(train texts, validation texts) in a seeded order that mixes repositories. `held_out` maps repo ->
    "val" or "test" (from the pairs stage); test repositories are dropped, val repositories validate."""
    repos = files.column("repo").to_pylist()
    paths = files.column("path").to_pylist()
    texts = files.column("text").to_pylist()
    order = sorted(range(len(texts)), key=lambda i: hashlib.sha256(f"{seed}:{repos[i]}:{paths[i]}".encode()).digest())
    train = [texts[i] for i in order if held_out.get(repos[i]) is None]
    val = [texts[i] for i in order if held_out.get(repos[i]) == "val"]
    return train, val


def held_out_repos(pairs_path: Path) -> dict[str, str]:
    """repo -> "val" | "test" for the repositories the pairs stage held out."""
    table = pq.read_table(pairs_path, columns=["repo", "split"])
    return {r: s for r, s in zip(table.column("repo").to_pylist(), table.column("split").to_pylist(), strict=True)
            if s != "train"}


def window_indices(seed: int, n_windows: int, start: int, count: int) -> np.ndarray:
    """Window indices for sample positions [start, start + count) of the endless, epoch-shuffled stream."""
    positions = np.arange(start, start + count)
    epochs, offsets = np.divmod(positions, n_windows)
    return np.array([_permutation(seed, int(e), n_windows)[o] for e, o in zip(epochs, offsets, strict=True)])


@lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
