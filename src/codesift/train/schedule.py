"""Learning-rate schedule as a pure function of progress, so a resumed run needs no scheduler state.

A run ends after its step count or, with a time budget, after that much training time, whichever comes first.
On a budget the decay follows the larger of step progress and elapsed time (Cramming, Geiping & Goldstein 2022),
so the learning rate still reaches its floor when the hardware turns out slower than the step count assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def lr_at(step: int, *, peak: float, warmup: int, total: int, min_ratio: float = 0.1, time_fraction: float = 0.0) -> float:
    """Linear warmup to `peak` over `warmup` steps, then cosine decay to `peak * min_ratio` at `total` steps
    (or earlier, when `time_fraction` of a time budget is further along)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, max((step - warmup) / max(1, total - warmup), time_fraction))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class Budget:
    """When a training loop stops: `steps`, or `max_minutes` of training time (not counting validation or
    checkpoints), whichever comes first. `elapsed_s` is saved in checkpoints so a resumed run keeps its budget."""

    steps: int
    max_minutes: float | None = None
    elapsed_s: float = 0.0

    @property
    def time_fraction(self) -> float:
        return 0.0 if self.max_minutes is None else min(1.0, self.elapsed_s / (60 * self.max_minutes))

    def done(self, step: int, world=None) -> bool:
        """Steps or time reached. With a `World` under DDP and a time budget, rank 0's clock decides, so every rank
        stops at the same step."""
        stop = step >= self.steps or self.time_fraction >= 1.0
        return world.broadcast(stop) if world is not None and self.max_minutes is not None else stop

    @property
    def reason(self) -> str:
        return "time budget" if self.time_fraction >= 1.0 else "steps"
