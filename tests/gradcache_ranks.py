"""The two-process GradCache check's worker (kept light: spawned processes import only torch and this)."""

import os

import torch
import torch.nn.functional as F

from codesift.train.gradcache import all_reduce_grads, cached_backward
from codesift.train.losses import info_nce


class Toy(torch.nn.Module):
    """A weightful stand-in encoder (mean of token embeddings, then linear), cheap to start in a subprocess."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 12)
        self.out = torch.nn.Linear(12, 12)

    def forward(self, input_ids, attention_mask):
        m = attention_mask.unsqueeze(-1).float()
        return self.out((self.emb(input_ids) * m).sum(1) / m.sum(1))


def toy_batch():
    """Queries, positives, negatives: 8 rows each."""
    g = torch.Generator().manual_seed(1)
    return tuple({"input_ids": torch.randint(1, 50, (8, 5), generator=g),
                  "attention_mask": torch.ones(8, 5, dtype=torch.long)} for _ in range(3))


def toy_loss(reps):
    return info_nce(F.normalize(reps[0], dim=-1), F.normalize(reps[1], dim=-1), F.normalize(reps[2], dim=-1), 20.0)


def rank_main(rank: int, port: int, out: str) -> None:
    """One of two gloo ranks: embed its half of every group, GradCache over the gathered batch, sum gradients."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model = Toy()
    groups = [{k: v[rank * 4 : (rank + 1) * 4] for k, v in g.items()} for g in toy_batch()]
    loss = cached_backward(model, groups, toy_loss, chunk_size=3)
    all_reduce_grads(list(model.parameters()))
    if rank == 0:
        torch.save({"loss": loss, "grads": [p.grad for p in model.parameters()]}, out)
    dist.destroy_process_group()
