"""Every knob of the service in one frozen object; `codesift serve` fills it from its flags."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServeSettings:
    # Dynamic batching (TEI's queue): a batch closes when the next item would pass either budget, or when the
    # oldest queued item has waited max_wait_ms. Tokens are counted padded: batch size x longest item.
    max_batch_tokens: int = 16384
    max_batch_size: int = 64
    max_wait_ms: float = 0.0  # 0: take what is queued when the worker frees up (continuous batching)
    bulk_window: int = 4  # the bulk lane is sorted by length over this many batches' worth of items
    # Queries go first. With a delay > 0, documents that waited this long without a bulk batch get one batch
    # ahead of the queued queries: bulk clients always progress, but queries then wait behind a whole bulk batch
    # (measured on 2 cores at 1000 ms: query p95 26 -> 525 ms, bulk timeouts 4 -> 0). 0 = strict priority.
    bulk_max_delay_ms: float = 0.0
    # Admission: a request is refused with 429 + Retry-After when the queue holds this many texts, or when its
    # texts would wait longer than max_queue_seconds ((queued tokens ahead + its own) / measured tokens per second);
    # a request with nothing queued ahead of it is always taken.
    max_queue_items: int = 1024
    max_queue_seconds: float = 5.0
    # Request limits: bytes -> 413, items -> 413, characters per item -> 422.
    max_body_bytes: int = 2 * 1024 * 1024
    max_items: int = 256
    max_chars: int = 16384
    max_top_k: int = 100
    # Caches: query embeddings (LRU keyed by model revision + normalized text) and search results.
    query_cache_size: int = 10000
    search_cache_size: int = 2000
    # Texts up to this many characters in total are tokenized on the event loop; longer requests on a thread.
    inline_tokenize_chars: int = 4096
    workers: int = 1  # inference threads taking batches from the queue
    search_threads: int = 1
    drain_seconds: float = 30.0  # on SIGTERM: stop accepting, finish what is queued within this deadline
    model_name: str = "codesift"
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> scope ("read" or "admin"); empty: no auth

    def __post_init__(self) -> None:
        for name in ("max_batch_tokens", "max_batch_size", "bulk_window", "max_queue_items", "max_body_bytes",
                     "max_items", "max_chars", "max_top_k", "search_threads", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"serve setting {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_wait_ms", "bulk_max_delay_ms", "drain_seconds", "query_cache_size", "search_cache_size", "max_queue_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"serve setting {name} must be >= 0, got {getattr(self, name)}")
        bad = {k: s for k, s in self.api_keys.items() if s not in ("read", "admin")}
        if bad:
            raise ValueError(f"API key scopes must be 'read' or 'admin', got {sorted(set(bad.values()))}")
