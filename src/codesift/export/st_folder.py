"""A model folder that sentence-transformers loads too: the ONNX file's own weights, written beside it.

codesift runs the fused ONNX graph (encoder.json + model.int8.onnx); a user's first try is
`SentenceTransformer("models/default")`. `add_sentence_transformers(folder)` dequantizes the ONNX file's weights
(int8 values times their scales) into the modules `Embedder.save` / `StaticEmbedder.save` write (Transformer or
StaticEmbedding, Pooling, Normalize), and leaves the ONNX file and codesift's tokenizer.json as they are. A
transformer's weights are stored as fp16 (half the size) under a config that says float32, so it computes in float32;
a static table stays float32, since sentence-transformers computes in the table's type. Vectors agree with codesift's
runtime to a cosine above 0.999, static ones exactly (tests/test_st_folder.py).

Not `SentenceTransformer(folder, backend="onnx")`: sentence-transformers runs ONNX files through optimum-onnx,
whose only release on PyPI (0.1.0) needs transformers < 4.58, while sentence-transformers 6.2 needs >= 5; that
backend cannot be installed beside it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from codesift.log import get_logger

log = get_logger(__name__)

QUANTIZED = "_quantized"  # onnxruntime's names: W_quantized, W_scale, W_zero_point
WEIGHT_FILE = "model.safetensors"


def add_sentence_transformers(folder: str | Path) -> Path:
    """Write the sentence-transformers modules of the export or model folder `folder` into it; returns `folder`."""
    from tokenizers import Tokenizer

    from codesift.runtime.onnx import ENCODER_JSON, TOKENIZER_JSON

    folder = Path(folder)
    meta = json.loads((folder / ENCODER_JSON).read_text())
    if meta.get("prefixes") or meta.get("lowercase"):
        raise ValueError(f"{folder}: query/document prefixes and lower-casing are not carried into a "
                         "sentence-transformers folder")
    onnx_file = meta["files"][meta["default_quantization"]]["file"]
    weights = onnx_weights(folder / onnx_file)
    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_JSON))
    arch = meta["source"]["arch"]
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        if arch == "static":
            _static_model(weights, tokenizer, meta).save(tmp)
        elif arch == "modernbert":
            _modernbert_model(weights, tokenizer, meta, Path(tmp)).save(tmp)
        else:
            raise ValueError(f"{folder}: no sentence-transformers writer for arch {arch!r} (modernbert, static)")
        for path in sorted(Path(tmp).rglob("*")):
            rel = path.relative_to(tmp)
            if path.is_dir() or rel == Path(TOKENIZER_JSON):  # codesift's tokenizer.json stays the one read
                continue
            if path.name == WEIGHT_FILE and arch != "static":  # a static table is used as stored: fp16 vectors
                _to_fp16(path)
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, folder / rel)
    log.info("%s: sentence-transformers modules written beside %s", folder, onnx_file)
    return folder


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The graph's float weights by the name the graph builder gave them (`layers.0.attn.Wqkv`, `tok_embeddings`,
    `final_norm.weight`), int8 ones dequantized: (q - zero_point) * scale, per output channel where they are."""
    import onnx
    from onnx import numpy_helper

    arrays = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    out = {}
    for name, arr in arrays.items():
        if name.endswith(QUANTIZED):
            base = name.removesuffix(QUANTIZED)
            scale, zero = arrays[f"{base}_scale"], arrays[f"{base}_zero_point"]
            arr = (arr.astype(np.float32) - zero.astype(np.float32)) * scale  # scale: () or (out,) on the last axis
            name = base
        elif arr.dtype != np.float32 or name.endswith(("_scale", "_zero_point")):
            continue
        out[re.sub(r"_\d+$", "", name)] = arr
    return out


def _static_model(weights: dict[str, np.ndarray], tokenizer, meta: dict):
    import torch

    from codesift.model.static import StaticEmbedder

    table = torch.from_numpy(np.array(weights["embedding.weight"], dtype=np.float32))
    return StaticEmbedder(tokenizer, table.shape[1], int(meta["max_seq_len"]), table)


def _modernbert_model(weights: dict[str, np.ndarray], tokenizer, meta: dict, tmp: Path):
    """An `Embedder` holding the graph's weights: the graph stores each linear layer transposed, and Wi as its input
    and gate halves."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from codesift.config import ModelConfig
    from codesift.model.embedder import Embedder
    from codesift.model.encoder import encoder_config
    from codesift.tokenizer import save_for_transformers

    source = meta["source"]
    state = {"embeddings.tok_embeddings.weight": weights["tok_embeddings"],
             "embeddings.norm.weight": weights["embeddings.norm.weight"],
             "final_norm.weight": weights["final_norm.weight"]}
    for i in range(source["layers"]):
        p = f"layers.{i}"
        state |= {f"{p}.attn.Wqkv.weight": weights[f"{p}.attn.Wqkv"].T,
                  f"{p}.attn.Wo.weight": weights[f"{p}.attn.Wo"].T,
                  f"{p}.mlp.Wi.weight": np.concatenate([weights[f"{p}.mlp.Wi_in"].T, weights[f"{p}.mlp.Wi_gate"].T]),
                  f"{p}.mlp.Wo.weight": weights[f"{p}.mlp.Wo"].T,
                  f"{p}.mlp_norm.weight": weights[f"{p}.mlp_norm.weight"]}
        if i:  # layer 0 reads the normalized embeddings: it has no attn_norm
            state[f"{p}.attn_norm.weight"] = weights[f"{p}.attn_norm.weight"]
    dense = [weights[f"dense{i}.weight"] for i in range(len(source["dense"]))]
    ops = {op for ir in meta.get("onnx_ir", {}).values() for op in ir.get("ops", {})}
    if len(dense) > 1 or "dense0.bias" in weights or "Tanh" in ops:
        raise ValueError(f"the projection {source['dense']} is not one bias-free linear layer (what Embedder holds)")
    cfg = ModelConfig(arch="modernbert", layers=source["layers"], hidden=source["hidden"], heads=source["heads"],
                      intermediate=state["layers.0.mlp.Wo.weight"].shape[1], max_seq_len=source["max_seq_len"])
    encoder = AutoModel.from_config(encoder_config(cfg, source["vocab_size"]))
    encoder.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}, strict=True)
    save_for_transformers(tokenizer, tmp)
    model = Embedder(encoder, AutoTokenizer.from_pretrained(tmp), source["max_seq_len"],
                     dense[0].shape[1] if dense else None)
    if dense:
        model.projection.weight.data.copy_(torch.from_numpy(np.array(dense[0].T, dtype=np.float32)))
    return model


def _to_fp16(path: Path) -> None:
    """Rewrite a safetensors file with its float tensors in fp16 (the config keeps float32 for the compute)."""
    from safetensors.torch import load_file, save_file

    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
