"""torchrun/DDP plumbing: the same entry point runs as one process or as N under `torchrun`.

`torchrun --nproc_per_node=N -m codesift.cli pretrain RECIPE` sets RANK/WORLD_SIZE/LOCAL_RANK; without them
everything here is a no-op for a single process. CPU uses the gloo backend, CUDA uses NCCL.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, value: float) -> float:
        """The mean of a scalar over ranks (losses for logging)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.item() / self.size


def current_world() -> World:
    """This process's place in the job; initializes the process group on first use under torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # Long timeout: rank 0 may run CPU-only stages (data, pairs) while the others wait at a barrier.
        dist.init_process_group(backend, timeout=dt.timedelta(hours=4))
    return World(rank, size, local_rank, device)
