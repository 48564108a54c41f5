"""Run one function over many shards: local processes by default, a Ray cluster with one flag.

Results come back in task order whatever order they finish in, so the pipeline's keep-first
decisions do not depend on the executor or on timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], executor: str = "local", workers: int = 2,
              desc: str = "tasks") -> list[R]:
    if executor == "local":
        return _run_local(fn, tasks, workers, desc)
    if executor == "ray":
        return _run_ray(fn, tasks, workers, desc)
    raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")


def _run_local(fn: Callable[[T], R], tasks: Sequence[T], workers: int, desc: str) -> list[R]:
    if workers == 1 or len(tasks) <= 1:
        return [fn(task) for task in tqdm(tasks, desc=desc, unit="shard")]
    results: list[Any] = [None] * len(tasks)
    with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
        futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="shard"):
            results[futures[future]] = future.result()
    return results


def _run_ray(fn: Callable[[T], R], tasks: Sequence[T], workers: int, desc: str) -> list[R]:
    """Uses the cluster at RAY_ADDRESS when set, else starts a local one with `workers` CPUs."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("executor 'ray' needs Ray: pip install 'codesift[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=1)(fn)
        refs = [remote.remote(task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        with tqdm(total=len(refs), desc=desc, unit="shard") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    results[index[ref]] = ray.get(ref)
                    bar.update()
        return results
    finally:
        if started_here:
            ray.shutdown()
