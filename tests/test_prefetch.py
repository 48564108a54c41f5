"""The background batch producer (a thread or worker processes): items in order from the start step, errors and
waits reported where the step meets them, and a clean stop. That its batches equal the synchronous loop's is tested
with each loop (test_pretrain.py, test_contrastive.py)."""

import multiprocessing
import threading
import time

import pytest
import torch

from codesift.train.prefetch import Prefetcher, map_tensors

CPU = torch.device("cpu")


def make(i):
    return {"x": torch.tensor([i]), "parts": [torch.tensor(i * 2), "label"]}


def test_items_come_in_order_from_the_start_step_as_made_synchronously():
    for depth, workers in ((0, 0), (1, 0), (3, 0), (1, 1), (3, 2)):
        with Prefetcher(make, start=5, depth=depth, device=CPU, workers=workers) as feed:
            got = [feed.next() for _ in range(10)]
        assert [int(g["x"]) for g in got] == list(range(5, 15))
        assert [int(g["parts"][0]) for g in got] == [2 * i for i in range(5, 15)] and got[0]["parts"][1] == "label"


def failing(i):
    if i == 3:
        raise ValueError("bad batch 3")
    return i


@pytest.mark.parametrize("workers", [0, 1])
def test_an_error_in_the_producer_is_raised_by_the_step_that_needed_its_item(workers):
    with Prefetcher(failing, 0, 2, CPU, workers) as feed:
        assert [feed.next() for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="bad batch 3"):
            feed.next()


@pytest.mark.parametrize("workers", [0, 1])
def test_close_stops_a_producer_blocked_on_a_full_queue(workers):
    feed = Prefetcher(failing, 0, 2, CPU, workers)
    assert feed.next() == 0
    time.sleep(0.05)  # the producer fills the queue and blocks
    feed.close()
    assert not any(t.name == "codesift-prefetch" for t in threading.enumerate())
    assert not multiprocessing.active_children()


def test_wait_counts_the_time_the_step_waited_for_its_input():
    def slow(i):
        time.sleep(0.05)
        return i

    with Prefetcher(slow, 0, 0, CPU) as sync:  # synchronous: every item's making is waited for
        for _ in range(4):
            sync.next()
    assert sync.wait_s >= 4 * 0.05
    with Prefetcher(slow, 0, 2, CPU) as ahead:  # the step (0.2 s) is slower than the producer: little waiting
        for _ in range(4):
            ahead.next()
            time.sleep(0.2)
    assert ahead.wait_s < 0.5 * sync.wait_s


def test_map_tensors_keeps_the_structure():
    item = {"a": torch.ones(2), "b": (torch.zeros(1), 3), "c": [torch.ones(1)]}
    out = map_tensors(item, lambda t: t + 1)
    assert torch.equal(out["a"], torch.full((2,), 2.0)) and isinstance(out["b"], tuple) and out["b"][1] == 3
    assert torch.equal(out["c"][0], torch.full((1,), 2.0))
