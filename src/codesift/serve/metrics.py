"""Prometheus metrics of one service instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds: from 50 us (a cache hit) to 10 s (a bulk request behind a full queue).
LATENCY = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 7.5e-3, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKENS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.queue_depth = Gauge("codesift_queue_depth", "texts waiting for inference", ["lane"], registry=r)
        self.batch_size = Histogram("codesift_batch_size", "texts per inference batch", buckets=SIZES, registry=r)
        self.batch_tokens = Histogram("codesift_batch_tokens", "padded tokens per inference batch (size x longest)",
                                      buckets=TOKENS, registry=r)
        self.tokenize = Histogram("codesift_tokenize_seconds", "token counting per request", buckets=LATENCY,
                                  registry=r)
        self.queue = Histogram("codesift_queue_seconds", "time a text waited in the queue", ["lane"],
                               buckets=LATENCY, registry=r)
        self.inference = Histogram("codesift_inference_seconds", "encoder time per batch", buckets=LATENCY,
                                   registry=r)
        self.search = Histogram("codesift_search_seconds", "index search time per query", buckets=LATENCY,
                                registry=r)
        self.request = Histogram("codesift_request_seconds", "request time in the handler", ["route"],
                                 buckets=LATENCY, registry=r)
        self.responses = Counter("codesift_responses", "responses by route and status", ["route", "status"],
                                 registry=r)
        self.cache = Counter("codesift_cache_lookups", "cache lookups", ["cache", "result"], registry=r)
        self.cache_ratio = Gauge("codesift_cache_hit_ratio", "hits / lookups since start", ["cache"], registry=r)
        self.coalesced = Counter("codesift_coalesced", "texts or searches served by an identical one in flight",
                                 ["kind"], registry=r)
        self.rejections = Counter("codesift_rejections", "requests refused, by reason", ["reason"], registry=r)
        self.dropped = Counter("codesift_dropped", "queued texts dropped because their client went away",
                               registry=r)
        self.truncated = Counter("codesift_truncated", "texts cut to the model's max_seq_len", registry=r)

    def watch_ratio(self, cache: str, ratio: Callable[[], float]) -> None:
        self.cache_ratio.labels(cache).set_function(ratio)

    def hit(self, cache: str, hit: bool) -> None:
        self.cache.labels(cache, "hit" if hit else "miss").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
