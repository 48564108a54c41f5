"""GradCache (Gao et al. 2021): the gradient of a contrastive loss over a batch far larger than fits in memory.

Gradient accumulation adds no negatives: each micro-batch's queries only see that micro-batch. GradCache instead
(1) embeds the whole batch chunk by chunk without autograd, (2) computes the loss on all embeddings at once and
takes its gradient with respect to the embeddings, then (3) re-runs each chunk with autograd and backpropagates
that cached gradient into the model. The result is the full-batch gradient (tests/test_losses.py checks it) at
the memory of one chunk, for one extra forward pass (skipped when every group fits in one chunk: set
`train.chunk_size` to the per-rank batch when memory allows).

Across processes, each rank embeds its own slice of the global batch; the embeddings are all-gathered (the local
slice keeps its autograd link) so every query sees every rank's negatives, every rank computes the same global
loss, and the parameter gradients, each the part that flows through one rank's slice, are summed with one
all-reduce per step. That is why the model is not wrapped in DistributedDataParallel: its hooks would reduce
once per chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

Features = dict[str, torch.Tensor]


class RandState:
    """The CPU (and CUDA) RNG state at a chunk's first forward, restored for its second so dropout masks match."""

    def __init__(self, device: torch.device):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        self.device = device

    @contextlib.contextmanager
    def restored(self):
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def chunks(features: Features, size: int) -> list[Features]:
    """Split a padded batch into row chunks, each trimmed to its own longest sequence."""
    n = features["attention_mask"].shape[0]
    out = []
    for start in range(0, n, size):
        part = {k: v[start : start + size] for k, v in features.items()}
        width = int(part["attention_mask"].sum(1).max()) if part["attention_mask"].numel() else 0
        out.append({k: v[:, : max(width, 1)] for k, v in part.items()})
    return out


def world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's `x` in rank order; this rank's part keeps its autograd link, the others are
    constants (their gradients are computed on their own ranks). Every rank must pass the same shape."""
    rank, size = world()
    if size == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts)


def all_reduce_grads(params: Sequence[torch.nn.Parameter]) -> None:
    """Sum the gradients over ranks: each rank holds the part of the global loss's gradient through its slice."""
    _, size = world()
    if size == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def cached_backward(
    model: Callable[..., torch.Tensor], groups: Sequence[Features],
    loss_fn: Callable[[list[torch.Tensor]], torch.Tensor], chunk_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> torch.Tensor:
    """Backpropagate `loss_fn` over the gathered embeddings of every group into `model`'s parameters (and the
    loss's own, e.g. a learned temperature) with GradCache; returns the detached loss.

    `groups` are this rank's padded inputs (e.g. queries, positives, negatives); `model(**features)` gives their
    embeddings; `loss_fn` receives one tensor per group, gathered over ranks in rank order, in float32.
    """
    if all(len(g["attention_mask"]) <= chunk_size for g in groups):  # one chunk each: plain backprop, one forward
        with autocast():
            reps = [model(**g).float() for g in groups]
        loss = loss_fn([gather_with_grad(r) for r in reps])
        loss.backward()
        return loss.detach()
    device = next(iter(groups[0].values())).device
    states: list[list[RandState]] = []
    reps: list[torch.Tensor] = []
    with torch.no_grad():  # pass 1: embeddings only, no activations kept
        for features in groups:
            parts, group_states = [], []
            for chunk in chunks(features, chunk_size):
                group_states.append(RandState(device))
                with autocast():
                    parts.append(model(**chunk).float())
            states.append(group_states)
            reps.append(torch.cat(parts) if parts else torch.zeros(0))
    leaves = [r.detach().requires_grad_() for r in reps]
    loss = loss_fn([gather_with_grad(leaf) for leaf in leaves])
    loss.backward()  # gradients w.r.t. this rank's embeddings (and the loss's parameters)
    for features, group_states, leaf in zip(groups, states, leaves, strict=True):  # pass 2: chunk by chunk
        grads = leaf.grad.split(chunk_size) if leaf.grad is not None else ()
        for chunk, state, grad in zip(chunks(features, chunk_size), group_states, grads, strict=False):
            with state.restored(), autocast():
                out = model(**chunk).float()
            out.backward(grad)
    return loss.detach()
