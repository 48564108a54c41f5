"""Dynamic batching: the idea of TEI's queue (`core/src/queue.rs`) and infinity's length-sorted batches.

A request becomes one `Item` per text. Items wait in one of two lanes: the interactive lane (queries) is always
served before the bulk lane (documents). Worker threads own inference: each takes the next batch, runs the
encoder off the event loop, and hands the vectors back to the loop, which resolves each item's future.

- Batches close on a token budget counted with padding (size x longest text, as the encoder pays it), on a size
  cap, or when the oldest item has waited `max_wait_ms` (0: take whatever is queued when the worker frees up).
- The bulk lane is planned a window at a time: the window's items are sorted by length and cut into batches, so
  a batch holds texts of similar length and little compute goes to padding. Interactive items still go first:
  the worker checks their lane before every batch, unless documents have waited `bulk_max_delay_ms` without a
  bulk batch; then one bulk batch goes ahead, so a steady stream of queries cannot starve indexing clients.
- Admission is bounded: past `max_queue_items` queued texts, or `max_queue_seconds` of estimated work for its
  texts, a request is refused (429, Retry-After from the recent drain rate) instead of waiting without bound. A
  request with nothing queued ahead of it is always taken, however large: retrying could not make it fit.
- `workers` threads take batches from the same queue (several single-threaded runs can beat one multi-threaded
  run for short queries on few cores); the encoder must allow concurrent `encode` calls (onnxruntime does).
- Identical texts in flight are coalesced: a second request for the same (kind, text) waits on the first's item.
  An item nobody waits for any more (every client went away) is dropped before it reaches the encoder.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codesift.log import get_logger
from codesift.runtime.base import Encoded, Encoder, InputKind
from codesift.serve.caches import LRU, normalize_query
from codesift.serve.errors import InferenceFailed, Overloaded, Unavailable
from codesift.serve.metrics import Metrics
from codesift.serve.settings import ServeSettings

log = get_logger("codesift.serve")

LANES = ("interactive", "bulk")
WARMUP_TEXTS = ("parse a json config file", "def f(x):\n    return x + 1\n" * 64)


@dataclass(frozen=True)
class Embedded:
    """One text's result: its unit vector, its token count before truncation, and whether it was cut."""

    vector: np.ndarray
    tokens: int
    truncated: bool


@dataclass(eq=False)
class Item:
    text: str
    kind: InputKind
    cost: int  # tokens the encoder will see: min(count, max_seq_len)
    enqueued: float
    future: asyncio.Future = field(repr=False)
    waiters: int = 1
    cancelled: bool = False

    @property
    def lane(self) -> int:
        return 0 if self.kind == "query" else 1


def plan_batches(items: Sequence[Item], max_batch_size: int, max_batch_tokens: int) -> list[list[Item]]:
    """Sort by length and cut into batches whose padded cost (size x longest) stays within the budget.

    A text longer than the budget on its own still gets a batch of one.
    """
    batches: list[list[Item]] = []
    current: list[Item] = []
    for item in sorted(items, key=lambda it: it.cost):
        if current and (len(current) == max_batch_size or (len(current) + 1) * item.cost > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(item)
    if current:
        batches.append(current)
    return batches


def take_fifo(lane: deque[Item], max_batch_size: int, max_batch_tokens: int) -> tuple[list[Item], list[Item]]:
    """Pop the oldest items that fit one batch; returns (batch, items dropped because nobody waits for them)."""
    batch: list[Item] = []
    dropped: list[Item] = []
    longest = 0
    while lane and len(batch) < max_batch_size:
        item = lane[0]
        if item.cancelled:
            dropped.append(lane.popleft())
            continue
        widest = max(longest, item.cost)
        if batch and widest * (len(batch) + 1) > max_batch_tokens:
            break
        batch.append(lane.popleft())
        longest = widest
    return batch, dropped


class Batcher:
    """Queue + worker thread around one `Encoder`. Create and use it on the event loop that serves requests."""

    def __init__(self, encoder: Encoder, settings: ServeSettings, metrics: Metrics):
        self.encoder, self.settings, self.metrics = encoder, settings, metrics
        self.cache = LRU(settings.query_cache_size)
        metrics.watch_ratio("query_embedding", lambda: self.cache.hit_ratio)
        # Guarded by _cond: the lanes, the bulk plan (batches already cut from the bulk lane, run before the next
        # window is planned), tokens in each lane's deque (is a batch full?), tokens waiting per lane in all (lane
        # + plan: how long would a new item wait?) and the number of texts waiting.
        self._lanes: tuple[deque[Item], deque[Item]] = (deque(), deque())
        self._plan: deque[list[Item]] = deque()
        self._lane_tokens = [0, 0]
        self._waiting_tokens = [0, 0]
        self._queued = 0
        self._last_bulk = time.perf_counter()  # when a bulk batch last started (starvation guard)
        self._cond = threading.Condition()
        self._inflight: dict[tuple[str, str], Item] = {}  # event loop thread only
        self._rate = 0.0  # tokens per second of inference (moving average): wait estimates and Retry-After
        self._stopping = False
        self._abort = False
        self.warm = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn(self._warm_then_work)

    def _spawn(self, target) -> None:
        thread = threading.Thread(target=target, name=f"codesift-inference-{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    async def stop(self, deadline_s: float) -> int:
        """Refuse new work, let the worker finish what is queued within `deadline_s`; fail the rest. -> failed."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + deadline_s
        for thread in list(self._threads):
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._abort = True
            left = [it for lane in self._lanes for it in lane] + [it for b in self._plan for it in b]
            for lane in self._lanes:
                lane.clear()
            self._plan.clear()
            self._queued = 0
            self._lane_tokens, self._waiting_tokens = [0, 0], [0, 0]
            self._cond.notify_all()
        for item in left:
            if not item.future.done():
                item.future.set_exception(Unavailable("the server shut down before this text was embedded",
                                                      code="shutting_down"))
        return len(left)

    @property
    def accepting(self) -> bool:
        return not self._stopping

    def queue_depth(self) -> int:
        return self._queued

    # ---- the event loop side ----------------------------------------------------------------------------------
    async def embed(self, texts: Sequence[str], kind: InputKind) -> list[Embedded]:
        """Vectors for `texts` in order. Queries are normalized (see `normalize_query`) and served from the LRU
        when seen before; identical texts already in flight are shared. Raises Overloaded when the queue is full.
        """
        if self._stopping:
            raise Unavailable("the server is shutting down", code="shutting_down")
        if kind == "query":
            texts = [normalize_query(t) for t in texts]
        revision = self.encoder.revision
        results: list[Embedded | None] = [None] * len(texts)
        slots: list[tuple[int, Item]] = []  # (position, item) for everything not answered by the cache
        fresh: dict[str, list[int]] = {}  # text -> positions, for texts neither cached nor in flight
        shared: list[Item] = []
        for i, text in enumerate(texts):
            if kind == "query":
                hit = self.cache.get((revision, text))
                self.metrics.hit("query_embedding", hit is not None)
                if hit is not None:
                    results[i] = hit
                    continue
            item = self._inflight.get((kind, text))
            if item is not None and not item.cancelled:
                slots.append((i, item))
                shared.append(item)
            else:
                fresh.setdefault(text, []).append(i)

        items: list[Item] = []
        if fresh:
            unique = list(fresh)
            counts = await self._count_tokens(unique)
            cap = self.encoder.max_seq_len
            self._admit(len(unique), sum(min(c, cap) for c in counts), 0 if kind == "query" else 1)
            now = time.perf_counter()
            loop_future = asyncio.get_running_loop().create_future
            for text, count in zip(unique, counts):
                item = Item(text, kind, min(count, cap), now, loop_future())
                items.append(item)
                self._inflight[(kind, text)] = item
                slots.extend((i, item) for i in fresh[text])
            self._enqueue(items)
        for item in shared:
            item.waiters += 1
        if shared:
            self.metrics.coalesced.labels("text").inc(len(shared))

        mine = items + shared
        if mine:
            try:
                await asyncio.wait([it.future for it in mine])
            except asyncio.CancelledError:
                self._release(mine)
                raise
        for i, item in slots:
            results[i] = item.future.result()
        return results  # type: ignore[return-value]

    def _release(self, items: Iterable[Item]) -> None:
        """The caller went away: items nobody else waits for are marked so the worker skips them."""
        for item in items:
            item.waiters -= 1
            if item.waiters <= 0 and not item.future.done():
                item.cancelled = True
                if self._inflight.get((item.kind, item.text)) is item:
                    del self._inflight[(item.kind, item.text)]

    async def _count_tokens(self, texts: list[str]) -> list[int]:
        t0 = time.perf_counter()
        if sum(map(len, texts)) <= self.settings.inline_tokenize_chars:
            counts = self.encoder.count_tokens(texts)
        else:  # a long bulk request: keep the event loop free for queries
            counts = await asyncio.to_thread(self.encoder.count_tokens, texts)
        self.metrics.tokenize.observe(time.perf_counter() - t0)
        return counts

    def wait_estimate(self, lane: int, extra_tokens: int = 0) -> float:
        """Seconds until a new item in `lane` would be done: queries wait behind queries only, documents behind
        everything. Unknown (0) until the first batches have measured the encoder's rate."""
        if self._rate <= 0:
            return 0.0
        ahead = self._waiting_tokens[0] + (self._waiting_tokens[1] if lane == 1 else 0)
        return (ahead + extra_tokens) / (self._rate * self.settings.workers)

    def _admit(self, texts: int, tokens: int, lane: int) -> None:
        """Refuse (429) a request that would pass the queue's size, or wait longer than max_queue_seconds. With
        nothing queued ahead of it a request is always taken: its own size is bounded by max_items, and a retry
        could never make it fit (a 64-text request of 1 KB texts was once 11 s of work: refused forever)."""
        s = self.settings
        with self._cond:
            ahead, wait = self.wait_estimate(lane), self.wait_estimate(lane, tokens)
            if self._queued and self._queued + texts > s.max_queue_items:
                raise Overloaded(f"the queue is full ({self._queued} texts waiting, limit {s.max_queue_items}); "
                                 "retry later", max(ahead, 1.0))
            if ahead > 0 and wait > s.max_queue_seconds:
                # it fits once enough of the work ahead has drained: all of it when its own passes the limit
                retry = wait - max(s.max_queue_seconds, wait - ahead)
                raise Overloaded(f"the queue holds about {wait:.1f}s of work for this request (limit "
                                 f"{s.max_queue_seconds:g}s); retry later", retry)

    def _enqueue(self, items: list[Item]) -> None:
        with self._cond:
            for item in items:
                self._lanes[item.lane].append(item)
                self._lane_tokens[item.lane] += item.cost
                self._waiting_tokens[item.lane] += item.cost
            self._queued += len(items)
            self._cond.notify()
        self._set_depth()

    def _set_depth(self) -> None:
        interactive = len(self._lanes[0])
        self.metrics.queue_depth.labels("interactive").set(interactive)
        self.metrics.queue_depth.labels("bulk").set(max(0, self._queued - interactive))

    def _deliver(self, batch: list[Item], vectors: np.ndarray | None, counts: list[int], truncated: list[bool],
                 error: BaseException | None) -> None:
        """On the event loop: resolve each item's future and cache query vectors."""
        revision = self.encoder.revision
        for row, item in enumerate(batch):
            if self._inflight.get((item.kind, item.text)) is item:
                del self._inflight[(item.kind, item.text)]
            if item.future.done():
                continue
            if error is not None:
                item.future.set_exception(InferenceFailed(f"the encoder failed on a batch of {len(batch)}: "
                                                          f"{type(error).__name__}: {error}"))
                continue
            vector = vectors[row]
            if item.kind == "query":
                vector = vector.copy()  # a cached row must not keep its whole batch alive
            result = Embedded(vector, counts[row], truncated[row])
            item.future.set_result(result)
            if item.kind == "query":
                self.cache.put((revision, item.text), result)
        self._set_depth()

    # ---- the worker threads -----------------------------------------------------------------------------------
    def _warm_then_work(self) -> None:
        try:
            for text in WARMUP_TEXTS:  # the first runs allocate the runtime's buffers: do it before traffic
                self.encoder.encode([text], kind="query")
                self.encoder.encode([text] * 4, kind="document")
            start = time.perf_counter()  # a first measure of the rate, for wait estimates before traffic
            tokens = sum(min(c, self.encoder.max_seq_len) for c in self.encoder.count_tokens(WARMUP_TEXTS * 4))
            self.encoder.encode(list(WARMUP_TEXTS) * 4, kind="document")
            self._rate = tokens / max(time.perf_counter() - start, 1e-6)
        except Exception:
            log.exception("warm-up failed; the service stays unready")
            return
        for _ in range(self.settings.workers - 1):
            self._spawn(self._work)
        self.warm.set()
        log.info("encoder warm (revision %s); serving with %d inference thread(s)", self.encoder.revision,
                 self.settings.workers)
        self._work()

    def _work(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                if batch is None:
                    return
            self._run(batch)

    def _next_batch(self) -> list[Item] | None:
        """Under the lock: wait for the next batch to be due and take it; None when stopping with nothing left."""
        s = self.settings
        max_wait = s.max_wait_ms / 1000
        while True:
            if self._abort:
                return None
            interactive, bulk = self._lanes
            if not interactive and not bulk and not self._plan:
                if self._stopping:
                    return None
                self._cond.wait()
                continue
            now = time.perf_counter()
            # A lane is due when it fills a batch or its oldest item has waited max_wait.
            due_in = 0.0
            if interactive and not self._bulk_starved(now):
                full = len(interactive) >= s.max_batch_size or self._lane_tokens[0] >= s.max_batch_tokens
                due_in = 0.0 if full or self._stopping else interactive[0].enqueued + max_wait - now
                if due_in <= 0:
                    batch, dropped = take_fifo(interactive, s.max_batch_size, s.max_batch_tokens)
                    self._lane_tokens[0] -= sum(it.cost for it in batch + dropped)
                    self._left(0, batch, dropped)
                    if batch:
                        return batch
                    continue
                self._cond.wait(due_in)  # a query is coming due: no bulk batch may start before it
                continue
            if self._plan:
                planned = self._plan.popleft()
                batch = [it for it in planned if not it.cancelled]
                self._left(1, batch, [it for it in planned if it.cancelled])
                if batch:
                    self._last_bulk = now
                    return batch
                continue
            full = self._lane_tokens[1] >= s.max_batch_tokens or len(bulk) >= s.max_batch_size
            due_in = 0.0 if full or self._stopping else bulk[0].enqueued + max_wait - now
            if due_in > 0:
                self._cond.wait(due_in)
                continue
            self._plan_bulk()

    def _bulk_starved(self, now: float) -> bool:
        """Documents have waited bulk_max_delay_ms since they were queued and since the last bulk batch."""
        limit = self.settings.bulk_max_delay_ms / 1000
        if limit <= 0 or not (self._plan or self._lanes[1]):
            return False
        oldest = min(it.enqueued for it in self._plan[0]) if self._plan else self._lanes[1][0].enqueued
        return now - max(oldest, self._last_bulk) >= limit

    def _plan_bulk(self) -> None:
        """Cut the next window of the bulk lane into length-sorted batches."""
        s = self.settings
        lane = self._lanes[1]
        window: list[Item] = []
        dropped: list[Item] = []
        budget = s.bulk_window * s.max_batch_tokens
        limit = s.bulk_window * s.max_batch_size
        tokens = 0
        while lane and len(window) < limit and (not window or tokens + lane[0].cost <= budget):
            item = lane.popleft()
            self._lane_tokens[1] -= item.cost
            if item.cancelled:
                dropped.append(item)
                continue
            window.append(item)
            tokens += item.cost
        self._plan.extend(plan_batches(window, s.max_batch_size, s.max_batch_tokens))
        self._left(1, [], dropped)

    def _left(self, lane: int, batch: list[Item], dropped: list[Item]) -> None:
        """Bookkeeping for items leaving the queue, to a batch or dropped (nobody waits for them any more)."""
        self._waiting_tokens[lane] -= sum(it.cost for it in batch) + sum(it.cost for it in dropped)
        self._queued -= len(batch) + len(dropped)
        if dropped:
            self.metrics.dropped.inc(len(dropped))

    def _run(self, batch: list[Item]) -> None:
        """Encode one batch (no lock held) and hand the results to the event loop."""
        cancelled = [it for it in batch if it.cancelled]  # a client that left while the batch formed
        if cancelled:
            self.metrics.dropped.inc(len(cancelled))
            batch = [it for it in batch if not it.cancelled]
            if not batch:
                return
        start = time.perf_counter()
        lane = LANES[batch[0].lane]
        queue_hist = self.metrics.queue.labels(lane)
        for item in batch:
            queue_hist.observe(start - item.enqueued)
        vectors, counts, truncated, error = None, [], [], None
        try:
            encoded = self.encoder.encode([it.text for it in batch], kind=batch[0].kind)
            vectors, counts, truncated = encoded.vectors, encoded.token_counts, encoded.truncated
        except Exception as e:  # reported to every request in the batch; the worker keeps serving
            log.exception("encoder failed on a batch of %d", len(batch))
            error = e
        seconds = time.perf_counter() - start
        self.metrics.inference.observe(seconds)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_tokens.observe(len(batch) * max(it.cost for it in batch))
        if truncated:
            n_cut = sum(truncated)
            if n_cut:
                self.metrics.truncated.inc(n_cut)
        rate = sum(it.cost for it in batch) / max(seconds, 1e-6)  # of one worker
        self._rate = rate if self._rate == 0 else 0.8 * self._rate + 0.2 * rate
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, batch, vectors, counts, truncated, error)
        except RuntimeError:  # the loop closed between the check and the call (shutdown)
            pass


class QueuedEncoder:
    """An `Encoder` whose `encode` goes through the batcher's queue, for callers on other threads (index updates):
    their documents take the bulk lane, so interactive queries keep their priority. A full queue is waited out."""

    def __init__(self, batcher: Batcher, loop: asyncio.AbstractEventLoop):
        self._batcher, self._loop, inner = batcher, loop, batcher.encoder
        self.dim, self.max_seq_len = inner.dim, inner.max_seq_len
        self.revision, self.quantization = inner.revision, inner.quantization

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._batcher.encoder.count_tokens(texts)

    def encode(self, texts: Sequence[str], kind: InputKind = "document") -> Encoded:
        while True:
            call = asyncio.run_coroutine_threadsafe(self._batcher.embed(list(texts), kind), self._loop)
            try:
                results = call.result()
                break
            except Overloaded as e:
                time.sleep(min(1.0, float(e.headers.get("Retry-After", 1))))
        return Encoded(np.stack([r.vector for r in results]), [r.tokens for r in results],
                       [r.truncated for r in results])
