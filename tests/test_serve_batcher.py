"""The batcher alone: batch planning, lanes, admission, coalescing, caching, dropped clients, draining."""

import asyncio
import threading
import time

import numpy as np
import pytest

from codesift.runtime.fake import HashEncoder
from codesift.serve.batcher import Batcher, Item, plan_batches, take_fifo
from codesift.serve.errors import Overloaded, Unavailable
from codesift.serve.metrics import Metrics
from codesift.serve.settings import ServeSettings


class RecordingEncoder(HashEncoder):
    """HashEncoder that logs every batch and can be held at a gate (to let a queue build up)."""

    def __init__(self, delay: float = 0.0):
        super().__init__(dim=32, max_seq_len=64)
        self.calls: list[tuple[str, list[str]]] = []
        self.threads: list[tuple[str, int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.delay = delay

    def encode(self, texts, kind="document"):
        self.entered.set()
        self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        self.calls.append((kind, list(texts)))
        self.threads.append((threading.current_thread().name, len(texts)))
        return super().encode(texts, kind)


def item(cost: int) -> Item:
    return Item(f"t{cost}", "document", cost, 0.0, future=None)  # type: ignore[arg-type]


def test_plan_batches_sorts_by_length_and_keeps_padded_budget():
    items = [item(c) for c in (50, 3, 40, 5, 4, 60, 6, 200)]
    batches = plan_batches(items, max_batch_size=3, max_batch_tokens=120)
    assert [[it.cost for it in b] for b in batches] == [[3, 4, 5], [6, 40], [50, 60], [200]]
    for b in batches[:-1]:
        assert len(b) * max(it.cost for it in b) <= 120
    assert sorted(it.cost for b in batches for it in b) == sorted(it.cost for it in items)


def test_take_fifo_skips_cancelled_and_stops_at_budget():
    from collections import deque

    lane = deque(item(c) for c in (10, 10, 10, 30, 10))
    lane[1].cancelled = True
    batch, dropped = take_fifo(lane, max_batch_size=8, max_batch_tokens=60)
    assert [it.cost for it in batch] == [10, 10] and len(dropped) == 1  # a third would cost 3 x 30 = 90
    assert [it.cost for it in lane] == [30, 10]


async def started(encoder, **settings) -> Batcher:
    batcher = Batcher(encoder, ServeSettings(**settings), Metrics())
    batcher.start()
    for _ in range(200):
        if batcher.warm.is_set():
            break
        await asyncio.sleep(0.01)
    encoder.calls.clear()
    encoder.threads.clear()
    encoder.entered.clear()
    return batcher


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_requests_each_get_their_own_vectors_in_order(workers):
    async def main():
        enc = RecordingEncoder(delay=0.002)
        batcher = await started(enc, max_batch_size=16, max_batch_tokens=4096, workers=workers)
        words = "parse json file read socket retry open close config cache token".split()
        requests = [[" ".join(words[: 1 + (i * 7 + j) % 11]) + f" r{i} i{j}" for j in range(1 + i % 4)]
                    for i in range(30)]
        results = await asyncio.gather(*(batcher.embed(texts, "document") for texts in requests))
        reference = HashEncoder(dim=32, max_seq_len=64)
        for texts, result in zip(requests, results):
            assert len(result) == len(texts)
            np.testing.assert_array_equal(np.stack([r.vector for r in result]), reference.encode(texts).vectors)
            assert [r.tokens for r in result] == reference.count_tokens(texts)
        assert max(len(batch) for _, batch in enc.calls) > 1  # requests were batched together
        for _, batch in enc.calls:  # and each batch is sorted by length (less padding)
            counts = reference.count_tokens(batch)
            assert counts == sorted(counts)
        assert len({name for name, _ in enc.threads}) == workers
        await batcher.stop(1)

    asyncio.run(main())


def test_queries_go_before_queued_documents():
    async def main():
        enc = RecordingEncoder()
        batcher = await started(enc, max_batch_size=2, max_batch_tokens=4096, bulk_window=1)
        enc.gate.clear()
        first = asyncio.ensure_future(batcher.embed(["doc zero"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)  # the worker is busy with the first batch
        docs = asyncio.ensure_future(batcher.embed([f"doc {i} " + "word " * i for i in range(1, 7)], "document"))
        await asyncio.sleep(0.01)
        query = asyncio.ensure_future(batcher.embed(["find the query"], "query"))
        await asyncio.sleep(0.01)
        enc.gate.set()
        await asyncio.gather(first, docs, query)
        kinds = [kind for kind, _ in enc.calls]
        # documents queued first, but the query jumps ahead of them
        assert kinds == ["document", "query", "document", "document", "document"]
        await batcher.stop(1)

    asyncio.run(main())


@pytest.mark.parametrize("delay_ms", [0, 50])
def test_documents_get_a_batch_once_they_waited_bulk_max_delay(delay_ms):
    """Queries that never stop coming would starve documents under strict priority; the delay bounds their wait."""
    async def main():
        enc = RecordingEncoder(delay=0.01)
        batcher = await started(enc, max_batch_size=1, bulk_max_delay_ms=delay_ms)
        enc.gate.clear()
        first = asyncio.ensure_future(batcher.embed(["warm the worker"], "query"))
        await asyncio.to_thread(enc.entered.wait, 5)
        doc = asyncio.ensure_future(batcher.embed(["a document"], "document"))
        queries = [asyncio.ensure_future(batcher.embed([f"query {i}"], "query")) for i in range(30)]
        await asyncio.sleep(0.01)
        enc.gate.set()
        await asyncio.gather(first, doc, *queries)
        kinds = [kind for kind, _ in enc.calls]
        position = kinds.index("document")
        if delay_ms:
            assert 3 <= position < 15  # after ~50 ms of 10 ms query batches, ahead of the remaining queries
        else:
            assert position == len(kinds) - 1  # strict priority: every query first
        await batcher.stop(1)

    asyncio.run(main())


def test_full_queue_refuses_with_retry_after():
    async def main():
        enc = RecordingEncoder()
        batcher = await started(enc, max_queue_items=3)
        enc.gate.clear()
        blocker = asyncio.ensure_future(batcher.embed(["held"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)
        queued = asyncio.ensure_future(batcher.embed(["a", "b", "c"], "document"))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as e:
            await batcher.embed(["one too many"], "document")
        assert e.value.status == 429 and int(e.value.headers["Retry-After"]) >= 1
        enc.gate.set()
        await asyncio.gather(blocker, queued)
        await batcher.embed(["fits again"], "document")  # the queue drained: accepted
        await batcher.stop(1)

    asyncio.run(main())


def test_work_that_would_wait_too_long_is_refused_per_lane():
    async def main():
        enc = RecordingEncoder(delay=0.01)
        batcher = await started(enc, max_queue_seconds=0.5, max_batch_size=4)
        batcher._rate = 1000.0  # tokens per second, as if measured
        enc.gate.clear()
        blocker = asyncio.ensure_future(batcher.embed(["held"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)
        docs = asyncio.ensure_future(batcher.embed([" ".join(["word"] * 60) + f" {i}" for i in range(7)], "document"))
        await asyncio.sleep(0.01)  # 7 x 63 = 441 tokens ahead: 0.44 s at 1000 tokens/s
        with pytest.raises(Overloaded, match="about 0.5s of work"):
            await batcher.embed([" ".join(["more"] * 60)], "document")
        query = asyncio.ensure_future(batcher.embed(["queries wait behind queries only"], "query"))
        await asyncio.sleep(0.01)
        enc.gate.set()
        await asyncio.gather(blocker, docs, query)
        await batcher.stop(1)

    asyncio.run(main())


def test_a_request_larger_than_the_wait_limit_is_taken_when_nothing_is_ahead():
    """A 429 must be one a retry can fix: alone in the queue, a request over the limit by itself is served; behind
    other work it is told to come back when that work is done."""
    async def main():
        enc = RecordingEncoder()
        batcher = await started(enc, max_queue_seconds=0.5, max_queue_items=8)
        batcher._rate = 100.0  # tokens per second, as if measured: each text below (63 tokens) is 0.63 s of work
        big = [" ".join(["word"] * 60) + f" {i}" for i in range(10)]  # 10 texts: over max_queue_items too
        assert len(await batcher.embed(big, "document")) == 10
        batcher._rate = 100.0  # as before the batches just run were measured
        enc.gate.clear()
        enc.entered.clear()
        blocker = asyncio.ensure_future(batcher.embed(["held"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)
        ahead = asyncio.ensure_future(batcher.embed(["a few words queued ahead"], "document"))
        await asyncio.sleep(0.01)  # 7 tokens ahead: 0.07 s
        for texts, reason in ((big, "the queue is full"), (big[:5], "about 3.2s of work for this request")):
            with pytest.raises(Overloaded, match=reason) as refused:
                await batcher.embed(texts, "document")
            assert refused.value.headers["Retry-After"] == "1"  # once the 0.07 s ahead has drained
        enc.gate.set()
        await asyncio.gather(blocker, ahead)
        await batcher.stop(1)

    asyncio.run(main())


def test_identical_queries_coalesce_then_hit_the_cache():
    async def main():
        enc = RecordingEncoder()
        batcher = await started(enc)
        enc.gate.clear()
        blocker = asyncio.ensure_future(batcher.embed(["held"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)
        same = [asyncio.ensure_future(batcher.embed(["How  to parse JSON "], "query")) for _ in range(5)]
        await asyncio.sleep(0.01)
        enc.gate.set()
        results = await asyncio.gather(blocker, *same)
        assert [texts for kind, texts in enc.calls if kind == "query"] == [["How to parse JSON"]]  # normalized, once
        again = await batcher.embed(["how to parse JSON", "How to parse JSON"], "query")  # case kept; space folded
        assert [texts for kind, texts in enc.calls if kind == "query"][-1] == ["how to parse JSON"]
        np.testing.assert_array_equal(again[1].vector, results[1][0].vector)
        assert batcher.cache.hits == 1
        await batcher.stop(1)

    asyncio.run(main())


def test_texts_of_a_client_that_left_are_dropped():
    async def main():
        enc = RecordingEncoder()
        batcher = await started(enc)
        enc.gate.clear()
        blocker = asyncio.ensure_future(batcher.embed(["held"], "document"))
        await asyncio.to_thread(enc.entered.wait, 5)
        gone = asyncio.ensure_future(batcher.embed(["nobody waits for me"], "document"))
        kept = asyncio.ensure_future(batcher.embed(["still wanted"], "document"))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)
        enc.gate.set()
        await asyncio.gather(blocker, kept)
        seen = [t for _, texts in enc.calls for t in texts]
        assert "nobody waits for me" not in seen and "still wanted" in seen
        assert batcher.metrics.dropped._value.get() == 1
        await batcher.stop(1)

    asyncio.run(main())


def test_stop_drains_within_deadline_and_fails_the_rest():
    async def main():
        enc = RecordingEncoder(delay=0.05)
        batcher = await started(enc, max_batch_size=1)
        pending = [asyncio.ensure_future(batcher.embed([f"text {i}"], "document")) for i in range(40)]
        await asyncio.sleep(0.01)
        failed = await batcher.stop(0.3)  # ~6 batches fit in the deadline, not 40
        results = await asyncio.gather(*pending, return_exceptions=True)
        done = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, Unavailable)]
        assert done and refused and len(done) + len(refused) == 40 and failed == len(refused)
        with pytest.raises(Unavailable):
            await batcher.embed(["after stop"], "document")

    asyncio.run(main())
