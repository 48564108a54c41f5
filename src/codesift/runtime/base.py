"""The encoder contract shared by the ONNX runtime encoder, the index and the service.

Anything that turns text into L2-normalized vectors implements `Encoder`; the index and the service only see
this protocol, so tests can run them with `HashEncoder` (no model weights) and production with ONNX.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

InputKind = Literal["query", "document"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with each lone surrogate (what Python makes of bytes that are not UTF-8, or of a JSON "\\ud800")
    replaced by U+FFFD: tokenizers, Parquet and terminals take only valid Unicode."""
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class Encoded:
    """Vectors for a batch of texts, in input order, with what truncation did to each text."""

    vectors: np.ndarray  # (n, dim) float32, each row L2-normalized
    token_counts: list[int]  # tokens per text before truncation (special tokens included)
    truncated: list[bool]  # True where the text was cut to the encoder's max_seq_len

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if len(self.token_counts) != n or len(self.truncated) != n:
            raise ValueError(f"Encoded: {n} vectors but {len(self.token_counts)} counts, {len(self.truncated)} flags")


@runtime_checkable
class Encoder(Protocol):
    """Text -> unit vectors. `revision` changes whenever the weights do (cache keys and index files use it)."""

    dim: int
    max_seq_len: int
    revision: str
    quantization: str  # "fp32", "int8", "fp16" or "none" (no model: the hashing fake)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text before truncation, without running the model."""
        ...

    def encode(self, texts: Sequence[str], kind: InputKind = "document") -> Encoded:
        """Embed `texts`; `kind` picks the query or document prefix when the model has them."""
        ...
