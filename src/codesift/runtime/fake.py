"""A weightless encoder for tests of the index and the service (the idea of infinity's dummy transformer)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from codesift.runtime.base import Encoded, InputKind

_WORD = re.compile(r"[A-Za-z0-9_]+")


class HashEncoder:
    """Bag of hashed lower-cased words: texts sharing words get similar vectors, deterministically, with no model.

    One word is one token; texts longer than `max_seq_len` words are truncated like a real encoder's input.
    """

    quantization = "none"

    def __init__(self, dim: int = 64, max_seq_len: int = 256):
        self.dim, self.max_seq_len = dim, max_seq_len
        self.revision = f"hash-{dim}-{max_seq_len}"

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) + 2 for t in texts]  # + [CLS] and [SEP], as a BERT tokenizer counts

    def encode(self, texts: Sequence[str], kind: InputKind = "document") -> Encoded:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        counts = self.count_tokens(texts)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower())[: self.max_seq_len - 2]:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                vectors[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            if not vectors[row].any():
                vectors[row, 0] = 1.0  # an empty text still gets a unit vector
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return Encoded(vectors, counts, [c > self.max_seq_len for c in counts])
