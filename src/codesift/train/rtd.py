"""Replaced-token detection (ELECTRA): a small MLM generator fills the masked positions with plausible
tokens and the encoder learns to tell, at every position, whether a token was replaced. Every token gives
a training signal, not only the masked 15-30%, which is why ELECTRA is sample-efficient.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM

from codesift.config import ModelConfig
from codesift.model.encoder import encoder_config
from codesift.train.masking import IGNORE


def generator_config(cfg: ModelConfig, ratio: float) -> ModelConfig:
    """The generator: the encoder's depth at `ratio` of its width (ELECTRA found 1/4-1/2 best)."""
    head_dim = cfg.hidden // cfg.heads
    heads = max(1, round(cfg.heads * ratio))
    return cfg.model_copy(update={"hidden": heads * head_dim, "heads": heads,
                                  "intermediate": max(16, round(cfg.intermediate * ratio))})


class ReplacedTokenDetection(nn.Module):
    """Generator (MLM) + discriminator (the encoder we keep, with a one-logit head per token)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, generator_ratio: float, disc_weight: float):
        super().__init__()
        self.generator = AutoModelForMaskedLM.from_config(encoder_config(generator_config(cfg, generator_ratio),
                                                                         vocab_size))
        self.encoder = AutoModel.from_config(encoder_config(cfg, vocab_size))
        self.detector = nn.Linear(cfg.hidden, 1)
        self.disc_weight = disc_weight

    def forward(self, input_ids, attention_mask, labels, sample_generator: torch.Generator):
        """`input_ids` are masked, `labels` hold the originals at masked positions (IGNORE elsewhere)."""
        gen = self.generator(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        masked = labels != IGNORE
        with torch.no_grad():
            logits = gen.logits if gen.logits.shape[:2] == labels.shape else None
            masked_logits = logits[masked] if logits is not None else gen.logits  # sparse prediction: masked only
            probs = torch.softmax(masked_logits.float(), dim=-1)
            sampled = torch.multinomial(probs, 1, generator=sample_generator).squeeze(-1)
        corrupted = input_ids.clone()
        corrupted[masked] = sampled
        originals = torch.where(masked, labels, input_ids)
        replaced = (corrupted != originals).float()
        hidden = self.encoder(input_ids=corrupted, attention_mask=attention_mask).last_hidden_state
        scores = self.detector(hidden).squeeze(-1)
        real = attention_mask.bool()
        disc = nn.functional.binary_cross_entropy_with_logits(scores[real], replaced[real])
        return gen.loss + self.disc_weight * disc, {"generator_loss": gen.loss.item(), "detector_loss": disc.item()}
