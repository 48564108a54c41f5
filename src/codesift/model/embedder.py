"""The embedding model: encoder -> mean pooling -> optional linear projection -> L2 normalization.

It saves itself as a sentence-transformers folder (modules.json + the Hugging Face encoder and tokenizer at the
root, `1_Pooling`, `2_Dense` when projecting, then `Normalize`), written with the long-standing
`sentence_transformers.models.*` type names and config keys, so every sentence-transformers release, our eval
harness and the ONNX exporter load it. `SentenceTransformer(folder)` returns the same vectors as `Embedder.encode`
(tests/test_embedder.py checks it).

`forward` returns the pooled (and projected) vectors *before* normalization: the Matryoshka loss truncates them
first and normalizes each prefix, which equals truncating a normalized vector and normalizing it again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

MODULES = "modules.json"
POOLING_DIR, DENSE_DIR, NORMALIZE_DIR = "1_Pooling", "2_Dense", "3_Normalize"


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where `mask` is 1, special tokens included (as sentence-transformers' 'mean').
    hidden: (B, T, H), mask: (B, T) -> (B, H)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class EncodeMixin:
    """`embed` and `encode` for a module with `tokenize(texts, max_len)` and `forward(input_ids, attention_mask)`
    returning unnormalized vectors (the transformer `Embedder` and the `StaticEmbedder`)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def embed(self, texts: Sequence[str], max_len: int | None = None) -> torch.Tensor:
        """Normalized vectors for a list of texts, with autograd if enabled."""
        batch = {k: v.to(self.device) for k, v in self.tokenize(texts, max_len).items()}
        return nn.functional.normalize(self(**batch).float(), dim=-1)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64, bf16: bool = False) -> np.ndarray:
        """L2-normalized float32 embeddings, one row per text; texts are batched longest first (less padding)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        was_training = self.training
        self.eval()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                out[idx] = self.embed([texts[i] for i in idx]).cpu().numpy()
        self.train(was_training)
        return out


class Embedder(EncodeMixin, nn.Module):
    """A Hugging Face encoder with mean pooling and an optional bias-free projection to `embedding_dim`."""

    def __init__(self, encoder: nn.Module, tokenizer, max_seq_len: int, embedding_dim: int | None = None):
        super().__init__()
        self.encoder, self.tokenizer, self.max_seq_len = encoder, tokenizer, max_seq_len
        hidden = encoder.config.hidden_size
        self.projection = nn.Linear(hidden, embedding_dim, bias=False) if embedding_dim else None
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, std=hidden**-0.5)  # keeps the pooled vector's scale

    @property
    def dim(self) -> int:
        return self.projection.out_features if self.projection is not None else self.encoder.config.hidden_size

    @classmethod
    def from_encoder(
        cls, folder: str | Path, max_seq_len: int, embedding_dim: int | None = None, random_init: bool = False,
    ) -> Embedder:
        """The bare encoder from a Hugging Face folder (an MLM checkpoint loses its head) and its tokenizer;
        `random_init` keeps the architecture and tokenizer but starts from fresh weights (the no-pretraining
        ablation)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: not a Hugging Face model folder (no config.json)")
        if not (folder / "tokenizer.json").is_file():
            raise FileNotFoundError(f"{folder}: no tokenizer.json beside the encoder")
        with _quiet_transformers():
            if random_init:
                encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder))
            else:
                encoder = AutoModel.from_pretrained(folder)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        limit = encoder.config.max_position_embeddings
        if max_seq_len > limit:
            raise ValueError(f"max_seq_len {max_seq_len} exceeds the encoder's {limit} positions ({folder})")
        return cls(encoder, tokenizer, max_seq_len, embedding_dim)

    def tokenize(self, texts: Sequence[str], max_len: int | None = None) -> dict[str, torch.Tensor]:
        """Padded token ids and attention mask, truncated to `max_len` (default: the model's max_seq_len)."""
        if isinstance(texts, str):
            raise TypeError("tokenize takes a list of texts, not one string")
        limit = min(max_len or self.max_seq_len, self.max_seq_len)
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt",
                               return_token_type_ids=False)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled, projected, *unnormalized* vectors (B, dim)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        return self.projection(pooled) if self.projection is not None else pooled

    # --- sentence-transformers folder ---------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write a sentence-transformers folder; safetensors weights, tokenizer files, one config per module."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        _dump(folder / "sentence_bert_config.json", {"max_seq_length": self.max_seq_len, "do_lower_case": False})
        hidden = self.encoder.config.hidden_size
        _dump(folder / POOLING_DIR / "config.json", {
            "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True,
        })
        modules = [("", "sentence_transformers.models.Transformer"),
                   (POOLING_DIR, "sentence_transformers.models.Pooling")]
        if self.projection is not None:
            from safetensors.torch import save_file

            _dump(folder / DENSE_DIR / "config.json", {
                "in_features": hidden, "out_features": self.dim, "bias": False,
                "activation_function": "torch.nn.modules.linear.Identity",
            })
            save_file({"linear.weight": self.projection.weight.detach().float().cpu().contiguous()},
                      str(folder / DENSE_DIR / "model.safetensors"))
            modules.append((DENSE_DIR, "sentence_transformers.models.Dense"))
        return write_modules(folder, modules)

    @classmethod
    def load(cls, folder: str | Path) -> Embedder:
        """Read back a folder written by `save` (mean pooling, optional bias-free Dense, Normalize)."""
        folder = Path(folder)
        try:
            modules = json.loads((folder / MODULES).read_text())
            st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{folder}: not a sentence-transformers folder ({e.filename} missing)") from None
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling", "Dense", "Normalize"]):
            raise ValueError(f"{folder}: expected Transformer, Pooling, [Dense,] Normalize modules, found {kinds}")
        pooling = json.loads((folder / POOLING_DIR / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens", pooling.get("pooling_mode") == "mean"):
            raise ValueError(f"{folder}: only mean pooling is supported, found {pooling}")
        embedding_dim = None
        if "Dense" in kinds:
            dense = json.loads((folder / DENSE_DIR / "config.json").read_text())
            if dense.get("bias") or not dense.get("activation_function", "").endswith("Identity"):
                raise ValueError(f"{folder}: only a bias-free linear Dense projection is supported, found {dense}")
            embedding_dim = dense["out_features"]
        model = cls.from_encoder(folder, st_config["max_seq_length"], embedding_dim)
        if model.projection is not None:
            from safetensors.torch import load_file

            weights = load_file(str(folder / DENSE_DIR / "model.safetensors"))
            model.projection.weight.data.copy_(weights["linear.weight"])
        return model


def write_modules(folder: Path, modules: list[tuple[str, str]]) -> Path:
    """Finish a sentence-transformers folder: `modules` (path, type) then Normalize, and the model-level config."""
    _dump(folder / "config_sentence_transformers.json", {
        "__version__": {"codesift": _version("codesift"), "pytorch": torch.__version__},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })
    (folder / NORMALIZE_DIR).mkdir(exist_ok=True)
    modules = [*modules, (NORMALIZE_DIR, "sentence_transformers.models.Normalize")]
    _dump(folder / MODULES, [{"idx": i, "name": str(i), "path": path, "type": kind}
                             for i, (path, kind) in enumerate(modules)])
    return folder


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class _quiet_transformers:
    """Silence transformers' load report (an MLM checkpoint's head is expected to be left out)."""

    def __enter__(self):
        from transformers.utils import logging as hf_logging

        self._level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(self._level)
