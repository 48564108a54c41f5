"""Batches made ahead of the training step on a background thread, so the device does not wait for its input.

Both training loops draw their inputs in a fixed order: pretraining batches are pure functions of (seed, step,
micro-step, rank), contrastive batches come from a seeded stream read in order. One producer thread making items
`start`, `start + 1`, ... in that order therefore hands the step exactly the batches the synchronous loop would
make, and a resumed run starts it at the saved step. The producer's work (NumPy masking, Rust tokenization) spends
much of its time outside the GIL, which is what lets a thread overlap it with the step; on CUDA it also pins the
batch's memory, so the copy to the device is asynchronous (`non_blocking`) and the host moves on to the step.

`depth: 0` is the synchronous loop (an item is made when the step asks for it), kept to compare with. Either
way `wait_s` counts the seconds the step spent waiting for its input: the share of step time lost to the input.
"""

from __future__ import annotations

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


class Prefetcher(Generic[T]):
    """`next()` returns `make(start)`, `make(start + 1)`, ... on `device`, made up to `depth` items ahead on one
    background thread (`depth` 0: made in `next()` itself). An error in `make` is raised by the `next()` that
    would have returned its item. Close it (or use it as a context manager) to stop the thread."""

    def __init__(self, make: Callable[[int], T], start: int, depth: int, device: torch.device):
        self.make, self.index, self.depth, self.device = make, start, depth, device
        self.wait_s = 0.0
        self._pin = depth > 0 and device.type == "cuda"
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = None
        if depth > 0:
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
        if self._thread is None:
            item: Any = self.make(self.index)
        else:
            item = self._queue.get()
            if isinstance(item, _Failed):
                raise item.error
        self.index += 1
        item = to_device(item, self.device)
        self.wait_s += time.perf_counter() - start
        return item

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
