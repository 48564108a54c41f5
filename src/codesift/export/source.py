"""Read a sentence-transformers folder into what the exporter needs, and encode with it as the torch reference.

`SourceModel` is the model as plain parts: the transformers encoder (arch, config, weights), the pooling mode, the
Dense projections, the length limit, the prompts and the tokenizer. Anything the ONNX graph could not reproduce
exactly (a pooling mode it lacks, prompts excluded from pooling, an unknown module) is refused here with a message
naming the module, so an export never silently differs from the model it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesift.log import get_logger

log = get_logger(__name__)

POOLING_MODES = ("mean", "cls", "max")
DENSE_ACTIVATIONS = {"torch.nn.modules.linear.Identity": "identity", "torch.nn.modules.activation.Tanh": "tanh"}


class UnsupportedModel(ValueError):
    """The folder holds a model (or module) the exporter cannot reproduce exactly."""


@dataclass
class Dense:
    weight: np.ndarray  # (in, out): applied as x @ weight, ONNX MatMul layout
    bias: np.ndarray | None
    activation: str  # "identity" or "tanh"


@dataclass
class SourceModel:
    """One sentence-transformers model, loaded once: the torch modules plus the parts the graph builder reads."""

    folder: Path
    st: Any  # sentence_transformers.SentenceTransformer, in eval mode on the CPU
    arch: str  # transformers model_type: "modernbert", "bert", ...
    config: Any  # the transformers config
    weights: dict[str, np.ndarray]  # the encoder's state dict as float32 arrays
    pooling: str
    dense: list[Dense]
    max_seq_len: int
    lowercase: bool
    prompts: dict[str, str] = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        if self.arch == "static":
            return int(self.weights["embedding.weight"].shape[1])
        return int(self.config.hidden_size)

    @property
    def dim(self) -> int:
        return self.dense[-1].weight.shape[1] if self.dense else self.hidden

    @property
    def tokenizer(self):
        """The `tokenizers.Tokenizer` behind the model's fast tokenizer, with padding and truncation off (the
        runtime encoder applies its own, explicit policy)."""
        from tokenizers import Tokenizer

        first = self.st[0].tokenizer  # a transformers fast tokenizer, or (StaticEmbedding) a tokenizers.Tokenizer
        tok = Tokenizer.from_str(getattr(first, "backend_tokenizer", first).to_str())
        tok.no_padding()
        tok.no_truncation()
        return tok

    def revision(self) -> str:
        """sha256 over the encoder's and the projections' weights (names, shapes, bytes): changes iff they do."""
        digest = hashlib.sha256()
        for name in sorted(self.weights):
            arr = np.ascontiguousarray(self.weights[name])
            digest.update(f"{name}:{arr.shape}".encode())
            digest.update(arr.tobytes())
        for i, d in enumerate(self.dense):
            digest.update(f"dense{i}:{d.activation}".encode())
            digest.update(np.ascontiguousarray(d.weight).tobytes())
            if d.bias is not None:
                digest.update(np.ascontiguousarray(d.bias).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        static = self.arch == "static"
        return {"folder": str(self.folder), "arch": self.arch,
                "layers": 0 if static else int(self.config.num_hidden_layers), "hidden": self.hidden,
                "heads": 0 if static else int(self.config.num_attention_heads), "dim": self.dim,
                "pooling": self.pooling, "dense": [list(d.weight.shape) for d in self.dense],
                "max_seq_len": self.max_seq_len,
                "vocab_size": len(self.weights["embedding.weight"]) if static else int(self.config.vocab_size)}

    def encode(self, texts: list[str], batch_size: int = 32, precision: str = "fp32") -> np.ndarray:
        """The torch reference: L2-normalized float32 embeddings, texts truncated at `max_seq_len` tokens."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                features = self.st.preprocess([texts[i] for i in idx])
                emb = self.st(features)["sentence_embedding"].float()
                out[idx] = torch.nn.functional.normalize(emb, dim=-1).numpy()
        return out


def load_source(folder: str | Path) -> SourceModel:
    """Load and check a sentence-transformers folder (Transformer -> Pooling -> [Dense...] -> [Normalize])."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: model folder not found")
    if not (folder / "modules.json").is_file():
        raise FileNotFoundError(f"{folder}: not a sentence-transformers model folder (no modules.json)")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    st.eval()
    modules = list(st)
    names = [type(m).__name__ for m in modules]
    if names and names[0] == "StaticEmbedding":
        return _static_source(folder, st, names)
    if len(modules) < 2 or names[0] != "Transformer" or names[1] != "Pooling":
        raise UnsupportedModel(f"{folder}: expected Transformer, Pooling[, Dense...][, Normalize], found {names}")
    transformer, pooling = modules[0], modules[1]
    dense: list[Dense] = []
    for module, name in zip(modules[2:], names[2:], strict=True):
        if name == "Dense":
            dense.append(_dense(folder, module))
        elif name != "Normalize":
            raise UnsupportedModel(f"{folder}: module {name} after Pooling is not supported (Dense, Normalize are)")
    if names[-1] != "Normalize":
        log.info("%s has no Normalize module; the export L2-normalizes anyway (cosine rankings are unchanged)", folder)

    pool_cfg = pooling.get_config_dict()
    mode = pool_cfg.get("pooling_mode")
    if mode not in POOLING_MODES:
        raise UnsupportedModel(f"{folder}: pooling mode {mode!r} is not supported; supported: {POOLING_MODES}")
    prompts = {k: v for k, v in (st.prompts or {}).items() if v}
    if prompts and not pool_cfg.get("include_prompt", True):
        raise UnsupportedModel(f"{folder}: prompts excluded from pooling (include_prompt=false) are not supported")

    auto = transformer.auto_model
    config = auto.config
    weights = {k: v.detach().float().cpu().numpy() for k, v in auto.state_dict().items()}
    max_seq_len = int(transformer.max_seq_length or getattr(config, "max_position_embeddings", 512))
    lowercase = bool(getattr(transformer, "do_lower_case", False))
    return SourceModel(folder, st, config.model_type, config, weights, mode, dense, max_seq_len, lowercase, prompts)


def _static_source(folder: Path, st, names: list[str]) -> SourceModel:
    """A StaticEmbedding [-> Normalize] model: the mean of token rows, which the runtime truncates at the length its
    tokenizer.json truncates at (so the export and sentence-transformers see the same tokens)."""
    if any(n != "Normalize" for n in names[1:]):
        raise UnsupportedModel(f"{folder}: expected StaticEmbedding[, Normalize], found {names}")
    truncation = st[0].tokenizer.truncation
    if not truncation:
        raise UnsupportedModel(f"{folder}: the static model's tokenizer.json sets no truncation, so sentence-"
                               "transformers embeds whole texts where the runtime would cut them; save it with "
                               "codesift.model.static.StaticEmbedder (which sets max_seq_len)")
    if st[0].tokenizer.post_processor is not None:
        raise UnsupportedModel(f"{folder}: the static model's tokenizer.json adds special tokens, which "
                               "StaticEmbedding leaves out; the runtime would add them")
    weights = {"embedding.weight": st[0].embedding.weight.detach().float().cpu().numpy()}
    return SourceModel(folder, st, "static", None, weights, "mean", [], int(truncation["max_length"]), False)


def _dense(folder: Path, module) -> Dense:
    cfg = module.get_config_dict()
    activation = DENSE_ACTIVATIONS.get(cfg.get("activation_function"))
    if activation is None or cfg.get("use_residual"):
        raise UnsupportedModel(
            f"{folder}: Dense with activation {cfg.get('activation_function')!r}"
            f"{' and a residual' if cfg.get('use_residual') else ''} is not supported (Identity or Tanh, no residual)"
        )
    weight = module.linear.weight.detach().float().numpy().T.copy()
    bias = module.linear.bias.detach().float().numpy() if module.linear.bias is not None else None
    return Dense(weight, bias, activation)



def write_random_model(folder: str | Path, model_cfg, tokenizer, vocab_size: int | None = None, seed: int = 0,
                       **config_overrides) -> Path:
    """A randomly initialised model of a recipe's `model` section, saved like the train stage saves its model
    (codesift.model.embedder: encoder, mean pooling, optional projection, Normalize). For speed benchmarks (speed
    does not depend on the weights) and tests. `tokenizer` is a `tokenizers.Tokenizer`; `vocab_size` defaults to
    its size; `config_overrides` go to the transformers config (e.g. layer_types for local attention)."""
    import torch
    from transformers import AutoModel, PreTrainedTokenizerFast

    from codesift.model.embedder import Embedder
    from codesift.model.encoder import encoder_config
    from codesift.tokenizer import SPECIAL_TOKENS

    config = encoder_config(model_cfg, vocab_size or tokenizer.get_vocab_size())
    for key, value in config_overrides.items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    encoder = AutoModel.from_config(config)
    pad, unk, cls, sep, mask = SPECIAL_TOKENS
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=pad, unk_token=unk, cls_token=cls,
                                   sep_token=sep, mask_token=mask, clean_up_tokenization_spaces=False)
    return Embedder(encoder, fast, model_cfg.max_seq_len, model_cfg.embedding_dim).save(folder)
