"""Inference without torch: what the index, `codesift search` and `codesift serve` embed text with."""

from codesift.runtime.base import Encoded, Encoder, InputKind

__all__ = ["Encoded", "Encoder", "InputKind"]
