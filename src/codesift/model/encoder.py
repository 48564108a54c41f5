"""Build the encoder from the recipe, in Hugging Face format so transformers, sentence-transformers and the
ONNX exporter all load it.

ModernBERT blocks (RoPE, GeGLU, pre-norm, no biases) are the default: on this CPU a 6 x 384 ModernBERT
exports to ONNX with exact parity and runs within ~20% of an equally sized BERT (measured, see
docs/ARCHITECTURE.md), while RoPE needs no learned position table and GeGLU/pre-norm train more stably.
BERT stays available (`model.arch: bert`) for runtimes that only fuse BERT graphs.
"""

from __future__ import annotations

from transformers import BertConfig, BertForMaskedLM, ModernBertConfig, ModernBertForMaskedLM, PretrainedConfig

from codesift.config import ModelConfig
from codesift.tokenizer import SPECIAL_TOKENS

# Token ids fixed by the tokenizer's special-token order ([PAD], [UNK], [CLS], [SEP], [MASK]).
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = (SPECIAL_TOKENS.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))


def encoder_config(cfg: ModelConfig, vocab_size: int) -> PretrainedConfig:
    """The transformers config for `cfg`, with our special-token ids wired in."""
    ids = dict(pad_token_id=PAD_ID, cls_token_id=CLS_ID, sep_token_id=SEP_ID, bos_token_id=CLS_ID, eos_token_id=SEP_ID)
    if cfg.arch == "modernbert":
        return ModernBertConfig(
            vocab_size=vocab_size, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate, max_position_embeddings=cfg.max_seq_len,
            # Every layer attends globally: at <= 512 tokens a sliding window saves nothing and costs quality.
            layer_types=["full_attention"] * cfg.layers, local_attention=cfg.max_seq_len,
            **ids,
        )
    return BertConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate, max_position_embeddings=cfg.max_seq_len, **ids,
    )


def build_mlm(cfg: ModelConfig, vocab_size: int):
    """A freshly initialised encoder with its masked-language-model head (weights tied to the embeddings)."""
    config = encoder_config(cfg, vocab_size)
    model_cls = ModernBertForMaskedLM if cfg.arch == "modernbert" else BertForMaskedLM
    return model_cls(config)


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
