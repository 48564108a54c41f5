"""Model FLOPs of a training step, the numerator of MFU (model FLOPs utilization against the measured peak).

Counted as in the PaLM paper's MFU: forward FLOPs of the model's matrices and attention products, times 3 for
forward + backward. Work the training method adds on top (GradCache's second forward, recomputation) is not model
FLOPs, so it lowers MFU rather than counting as useful work.
"""

from __future__ import annotations

import numpy as np
import torch

from codesift.config import PretrainConfig


def encoder_forward_flops(encoder: torch.nn.Module, lengths: np.ndarray) -> float:
    """Forward FLOPs of a transformers encoder over sequences of `lengths` tokens: 2 per weight of every matrix
    outside the embedding tables per token, plus attention's two (length x length x hidden) products per layer."""
    config = encoder.config
    body = sum(p.numel() for n, p in encoder.named_parameters() if p.ndim == 2 and "embeddings" not in n)
    lengths = np.asarray(lengths, dtype=np.float64)
    return float(2 * body * lengths.sum() + 2 * 2 * config.num_hidden_layers * config.hidden_size * (lengths**2).sum())


def pretraining_flops_per_token(model: torch.nn.Module, cfg: PretrainConfig) -> float:
    """Per trained token of a `seq_len` window: every encoder, plus each MLM head on the masked share of tokens
    only (sparse prediction). Covers the plain MLM model and RTD's generator + discriminator."""
    flops = 0.0
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is None or not hasattr(config, "num_hidden_layers"):
            continue
        if hasattr(module, "embeddings"):  # a base encoder
            flops += encoder_forward_flops(module, np.array([cfg.seq_len])) / cfg.seq_len
        elif hasattr(module, "get_output_embeddings") and module.get_output_embeddings() is not None:  # MLM head
            flops += 2 * (config.hidden_size**2 + config.hidden_size * config.vocab_size) * cfg.mask_rate
    return 3 * flops


def embedding_training_flops(embedder: torch.nn.Module, lengths: list[np.ndarray]) -> float | None:
    """One contrastive step's model FLOPs: each group's texts (`lengths`: their tokens) through the encoder and the
    projection. None for a model without a transformer encoder (the static table does no matrix products)."""
    encoder = getattr(embedder, "encoder", None)
    if encoder is None:
        return None
    texts = sum(len(x) for x in lengths)
    projection = getattr(embedder, "projection", None)
    head = 2 * projection.weight.numel() * texts if projection is not None else 0
    return 3 * (sum(encoder_forward_flops(encoder, x) for x in lengths) + head)
