"""Contrastive losses as pure functions of embeddings: symmetric InfoNCE with in-batch and hard negatives, and
its Matryoshka form over truncated dimensions. Score math only; GradCache (train/gradcache.py) decides how the
embeddings were computed.

Shapes: B queries, B positives (row i answers query i), N hard negatives (shared: every query sees every
positive and every hard negative in the batch, the way MultipleNegativesRankingLoss does), D dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MIN_TEMPERATURE = 0.01  # CLIP's clamp of the learned logit scale (100)


class Temperature(nn.Module):
    """The softmax temperature: fixed, or learned as log(1/t) (CLIP) starting from `init`, never below 0.01."""

    def __init__(self, init: float = 0.05, learned: bool = False):
        super().__init__()
        if not MIN_TEMPERATURE <= init <= 1:
            raise ValueError(f"temperature must be in [{MIN_TEMPERATURE}, 1], got {init}")
        log_scale = torch.tensor(math.log(1 / init))
        if learned:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self.learned = learned

    def forward(self) -> torch.Tensor:
        """1 / t, the factor the cosine similarities are multiplied by."""
        return self.log_scale.clamp(max=math.log(1 / MIN_TEMPERATURE)).exp()

    @property
    def value(self) -> float:
        return 1 / float(self().detach())


def false_negatives(rows: torch.Tensor | None, cols: torch.Tensor | None, n_cols: int, b: int) -> torch.Tensor | None:
    """(B, n_cols) True where column j carries the same content as row i's target (column i) without being it:
    a copy of the positive among the candidates is not a negative. rows: (B,) ids, cols: (<= n_cols,) ids."""
    if rows is None or cols is None:
        return None
    same = torch.zeros(b, n_cols, dtype=torch.bool, device=rows.device)
    same[:, : cols.shape[0]] = rows[:, None] == cols[None, :]
    same[torch.arange(b), torch.arange(b)] = False
    return same


def _masked(logits: torch.Tensor, *masks: torch.Tensor | None) -> torch.Tensor:
    for mask in masks:
        if mask is not None:
            logits = logits.masked_fill(mask, float("-inf"))
    return logits


def info_nce(
    q: torch.Tensor, d: torch.Tensor, negatives: torch.Tensor | None = None, scale: torch.Tensor | float = 20.0,
    symmetric: bool = True, doc_ids: torch.Tensor | None = None, query_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of each query against [positives; hard negatives] (target: its own positive) and, if
    `symmetric`, of each positive against the queries (target: its own query).

    q, d: (B, D) and negatives: (N, D), all L2-normalized; `scale` = 1 / temperature. `doc_ids` (B + N,) and
    `query_ids` (B,) are optional content ids: a candidate equal to the target's content is masked, not counted as
    a negative (duplicate code in the batch, a mined negative that is another row's positive, a repeated query).
    """
    if q.shape != d.shape:
        raise ValueError(f"queries {tuple(q.shape)} and positives {tuple(d.shape)} must have the same shape")
    b = q.shape[0]
    candidates = d if negatives is None or negatives.numel() == 0 else torch.cat([d, negatives])  # (B + N, D)
    c = candidates.shape[0]
    if doc_ids is not None and doc_ids.shape[0] != c:
        raise ValueError(f"doc_ids has {doc_ids.shape[0]} ids for {c} candidates")
    target = torch.arange(b, device=q.device)
    same_doc = false_negatives(None if doc_ids is None else doc_ids[:b], doc_ids, c, b)
    same_query = false_negatives(query_ids, query_ids, c, b)  # a positive of an identical query answers this one
    loss = F.cross_entropy(_masked(scale * q @ candidates.T, same_doc, same_query), target)  # logits (B, B + N)
    if not symmetric:
        return loss
    back = scale * d @ q.T  # (B, B): each positive against every query
    loss_back = F.cross_entropy(_masked(back, *(m[:, :b] if m is not None else None for m in (same_doc, same_query))),
                                target)
    return (loss + loss_back) / 2


def matryoshka_info_nce(
    q: torch.Tensor, d: torch.Tensor, negatives: torch.Tensor | None, scale: torch.Tensor | float,
    dims: Sequence[int] = (), **kwargs,
) -> torch.Tensor:
    """InfoNCE averaged over prefixes of the *unnormalized* vectors (each prefix normalized on its own), so the
    first k dimensions of the embedding are usable alone. The full dimension is always one of the terms."""
    full = q.shape[-1]
    if any(not 0 < k <= full for k in dims):
        raise ValueError(f"matryoshka dims {list(dims)} must lie in 1..{full}")
    terms = sorted({full, *dims}, reverse=True)
    total = q.new_zeros(())
    for k in terms:
        qk, dk = F.normalize(q[:, :k], dim=-1), F.normalize(d[:, :k], dim=-1)
        nk = None if negatives is None else F.normalize(negatives[:, :k], dim=-1)
        total = total + info_nce(qk, dk, nk, scale, **kwargs)
    return total / len(terms)
