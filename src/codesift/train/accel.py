"""Speed-ups of the training step that leave what it computes alone: torch.compile where the recipe asks for it,
and AdamW's fused kernel on CUDA (one launch for every parameter instead of a loop of small kernels).

Compiling is a recipe switch (`pretrain.compile`, `train.compile`), off by default: on this 2-core CPU the first
compile of even a 2-layer encoder takes one to two minutes, and its gain on CUDA has not been measured yet
(BENCHMARKS.md, "Training input pipeline"). The compiled module shares the original's parameters, so checkpoints
and the saved model are written from the original, with unchanged names.
"""

from __future__ import annotations

from typing import Any

import torch


def compiled(module: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """`module` under torch.compile (shapes that vary, such as the masked-token count, compile dynamically after
    the first change), or `module` itself."""
    return torch.compile(module) if enabled else module


def adamw(groups: list[dict[str, Any]], lr: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with the betas and epsilon both training stages use; the fused kernel on CUDA."""
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6, fused=device.type == "cuda" or None)
