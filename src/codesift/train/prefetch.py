"""Batches made ahead of the training step in the background, so the device does not wait for its input.

Both training loops draw their inputs in a fixed order: pretraining batches are pure functions of (seed, step,
micro-step, rank), contrastive batches come from a seeded stream read in order. A producer making items `start`,
`start + 1`, ... in that order therefore hands the step exactly the batches the synchronous loop would make, and
a resumed run starts it at the saved step. Two kinds of producer:

- a thread in the training process (`workers: 0`): no start-up cost, but its Python (the masking loop, the
  stream's draws) takes turns with the step's own Python under the GIL; NumPy and Rust tokenization run outside it;
- worker processes (`workers` >= 1, torch's DataLoader over forked workers): nothing shared with the step but the
  finished batches; several workers make pure items (pretraining) in parallel, delivered in order, while a stateful
  stream (contrastive batches) must be read by exactly one.

On CUDA the batches are pinned, so the copy to the device is asynchronous (`non_blocking`) and the host moves on
to the step. `depth: 0` is the synchronous loop (an item is made when the step asks for it), kept to compare with.
Either way `wait_s` counts the seconds the step spent waiting for its input: the share of step time lost to it.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")
_POLL_S = 0.1  # how often a producer blocked on a full queue checks whether it was closed


def map_tensors(item: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`item` with `fn` applied to every tensor in its dicts, lists and tuples; other values pass through."""
    if isinstance(item, torch.Tensor):
        return fn(item)
    if isinstance(item, dict):
        return {k: map_tensors(v, fn) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return type(item)(map_tensors(v, fn) for v in item)
    return item


def to_device(item: Any, device: torch.device) -> Any:
    """Every tensor of `item` on `device`; on CUDA the copy does not block the host (asynchronous from pinned
    memory, staged from pageable memory)."""
    return map_tensors(item, lambda t: t.to(device, non_blocking=device.type == "cuda"))


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Made(torch.utils.data.Dataset):
    """Item i is `make(i)`: what a DataLoader worker calls for the step index the sampler hands it."""

    def __init__(self, make: Callable[[int], Any]):
        self.make = make

    def __getitem__(self, index: int) -> Any:
        return self.make(index)


class Prefetcher(Generic[T]):
    """`next()` returns `make(start)`, `make(start + 1)`, ... on `device`, made up to `depth` items ahead by a
    background thread (`workers` 0) or by `workers` processes (`depth` 0: made in `next()` itself). An error in
    `make` is raised by the `next()` that would have returned its item. Close it (or use it as a context manager)
    to stop the producer."""

    def __init__(self, make: Callable[[int], T], start: int, depth: int, device: torch.device, workers: int = 0):
        self.make, self.index, self.device = make, start, device
        self.wait_s = 0.0
        self._pin = depth > 0 and device.type == "cuda"
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = None
        self._workers = None
        if depth > 0 and workers > 0:
            # The loader gets its own generator: by default it seeds its workers from the global RNG, which the
            # step's dropout draws from, and the losses would differ from the synchronous loop's.
            loader = torch.utils.data.DataLoader(
                _Made(make), batch_size=None, sampler=itertools.count(start), num_workers=workers,
                prefetch_factor=math.ceil(depth / workers), pin_memory=self._pin, generator=torch.Generator())
            self._workers = iter(loader)
        elif depth > 0:
            self._thread = threading.Thread(target=self._produce, name="codesift-prefetch", daemon=True)
            self._thread.start()

    def _produce(self) -> None:
        index = self.index
        while not self._stop.is_set():
            try:
                item: Any = self.make(index)
                if self._pin:
                    item = map_tensors(item, torch.Tensor.pin_memory)
            except BaseException as e:  # handed to the consumer, which raises it in the training loop
                item = _Failed(e)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if isinstance(item, _Failed):
                return
            index += 1

    def next(self) -> T:
        start = time.perf_counter()
        if self._workers is not None:
            item: Any = next(self._workers)
        elif self._thread is not None:
            item = self._queue.get()
            if isinstance(item, _Failed):
                raise item.error
        else:
            item = self.make(self.index)
        self.index += 1
        item = to_device(item, self.device)
        self.wait_s += time.perf_counter() - start
        return item

    def close(self) -> None:
        if self._workers is not None:  # now, not when the iterator is collected: an error's traceback may hold it
            self._workers._shutdown_workers()
            self._workers = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
