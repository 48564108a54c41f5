"""The portable export: trace the sentence-transformers model with torch.onnx (standard ONNX ops only).

For architectures `codesift.export.graph` has no fused builder for, and for runtimes without onnxruntime's contrib
ops. It uses the TorchScript-based exporter (`dynamo=False`), which exports both BERT and ModernBERT with exact
parity; the traced example batch is padded so the attention-mask path is what gets traced, never a no-mask shortcut
taken for an all-ones mask. The output is named `sentence_embedding`: naming it like an internal value (the dynamo
exporter's `embedding`) clashes with a node output and onnxruntime refuses the model.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from codesift.export.graph import INPUTS, OUTPUT
from codesift.export.source import SourceModel


def trace(src: SourceModel, path: Path, opset: int = 17) -> onnx.ModelProto:
    """Export `src` to `path` by tracing; returns the loaded model."""
    import torch

    class Wrapped(torch.nn.Module):
        """input_ids, attention_mask -> L2-normalized sentence embedding (token types all 0)."""

        def __init__(self, st, token_types: bool):
            super().__init__()
            self.st, self.token_types = st, token_types

        def forward(self, input_ids, attention_mask):
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if self.token_types:
                features["token_type_ids"] = torch.zeros_like(input_ids)
            emb = self.st(features)["sentence_embedding"]
            return torch.nn.functional.normalize(emb, dim=-1)

    names = getattr(src.st[0].tokenizer, "model_input_names", [])
    model = Wrapped(src.st, "token_type_ids" in names).eval()
    example = src.st.preprocess(["def f(x):\n    return x + 1", "a short query"])  # two lengths: padding traced
    args = (example["input_ids"], example["attention_mask"])
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes[OUTPUT] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(model, args, str(path), input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    return onnx.load(str(path))
