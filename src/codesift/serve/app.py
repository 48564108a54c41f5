"""The HTTP layer: routes, limits, auth and metrics around a `Service` (batcher + caches + index).

Every route handler goes through `Service.handle`, which checks the key, reads the body within its size limit,
runs the work while watching for the client to leave, maps any exception to HTTP in one place
(`errors.to_response`) and records the request's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from codesift.log import get_logger
from codesift.runtime.base import Encoder
from codesift.serve import schemas as s
from codesift.serve.auth import KeyRing, Scope
from codesift.serve.batcher import Batcher, QueuedEncoder
from codesift.serve.caches import GenerationCache, normalize_query
from codesift.serve.errors import InvalidInput, NotFound, ServeError, TooLarge, Unavailable, to_response
from codesift.serve.metrics import Metrics
from codesift.serve.search import Filters, Hit, SearchBackend
from codesift.serve.settings import ServeSettings

log = get_logger("codesift.serve")

IndexLoader = Callable[[], SearchBackend]


class ClientGone(Exception):
    """The client closed the connection while its request was being served."""


class Service:
    def __init__(self, encoder: Encoder, settings: ServeSettings, index_loader: IndexLoader | None = None):
        self.encoder, self.settings = encoder, settings
        self.metrics = Metrics()
        self.batcher = Batcher(encoder, settings, self.metrics)
        self.keys = KeyRing(settings.api_keys)
        self.search_cache = GenerationCache(settings.search_cache_size)
        self.metrics.watch_ratio("search", lambda: self.search_cache.hit_ratio)
        self._searches: dict[Hashable, tuple[asyncio.Task, list[int]]] = {}  # in flight: task, [waiters]
        self.index_loader = index_loader
        self.backend: SearchBackend | None = None
        self.index_error: str | None = None
        # Called (on the loading thread) when the index cannot be loaded; without it the service stays up,
        # unready, answering /search with 503. `codesift serve` exits instead.
        self.on_index_failure: Callable[[], None] | None = None
        self.draining = threading.Event()  # set on SIGTERM: /readyz fails so balancers stop sending traffic
        self._drain_started = 0.0
        self._update_lock: asyncio.Lock | None = None
        self._search_pool = ThreadPoolExecutor(settings.search_threads, thread_name_prefix="codesift-search")

    # ---- lifecycle --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._update_lock = asyncio.Lock()
        self.batcher.start()
        if self.index_loader is not None:
            threading.Thread(target=self._load_index, name="codesift-index-load", daemon=True).start()

    def _load_index(self) -> None:
        t0 = time.perf_counter()
        try:
            self.backend = self.index_loader()  # type: ignore[misc]
            log.info("index loaded in %.1fs: %s", time.perf_counter() - t0, self.backend.info())
        except Exception as e:
            self.index_error = f"{type(e).__name__}: {e}"
            log.error("index %s", self.index_error)
            if self.on_index_failure is not None:
                self.on_index_failure()

    def begin_drain(self) -> None:
        """SIGTERM: /readyz fails from now on; the server stops accepting and the deadline starts."""
        if not self.draining.is_set():
            self._drain_started = time.monotonic()
            self.draining.set()

    async def stop(self) -> None:
        """Lifespan shutdown (after uvicorn has waited for open requests): finish the queue within what is left
        of the drain deadline, answer the rest 503."""
        self.begin_drain()
        left = self.settings.drain_seconds - (time.monotonic() - self._drain_started)
        failed = await self.batcher.stop(max(left, 0.5))
        if failed:
            log.warning("shutdown deadline passed with %d texts still queued; they were answered 503", failed)
        else:
            log.info("stopped: every queued text was answered")
        self._search_pool.shutdown(wait=False, cancel_futures=True)

    def unready_reasons(self) -> list[str]:
        reasons = []
        if not self.batcher.warm.is_set():
            reasons.append("encoder warming up")
        if self.index_loader is not None and self.backend is None:
            reasons.append(f"index failed to load: {self.index_error}" if self.index_error else "index loading")
        if self.draining.is_set() or not self.batcher.accepting:
            reasons.append("shutting down")
        return reasons

    # ---- the request envelope ---------------------------------------------------------------------------------
    async def handle(self, request: Request, route: str, scope: Scope | None,
                     work: Callable[[bytes], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        try:
            if scope is not None:
                self.keys.check(request.headers.get("authorization"), scope)
            body = await self._read_body(request) if request.method == "POST" else b""
            response = await self._watched(request, work(body))
        except ClientGone:
            self.metrics.rejections.labels("client_gone").inc()
            response = Response(status_code=499)  # nobody reads it; nginx's code for "client closed request"
        except Exception as e:
            if isinstance(e, ServeError) and e.status < 500 or isinstance(e, Unavailable):
                self.metrics.rejections.labels(e.code).inc()
            response = to_response(e)
        self.metrics.request.labels(route).observe(time.perf_counter() - t0)
        self.metrics.responses.labels(route, str(response.status_code)).inc()
        return response

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"the body is {int(declared)} bytes; the limit is {limit}", code="body_too_large")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the body is over the limit of {limit} bytes", code="body_too_large")
                chunks.append(chunk)
        except ClientDisconnect:  # the client left while sending its body
            raise ClientGone() from None
        return b"".join(chunks)

    async def _watched(self, request: Request, work: Awaitable[Response]) -> Response:
        """Run `work`; if the client disconnects first, cancel it (its queued texts are then dropped)."""
        task = asyncio.current_task()
        assert task is not None
        gone = finished = False

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            if not finished:
                gone = True
                task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            return await work
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
            raise ClientGone() from None
        finally:
            finished = True
            watcher.cancel()

    # ---- embeddings -------------------------------------------------------------------------------------------
    async def embed(self, texts: list[str], kind: str, dimensions: int | None) -> tuple[np.ndarray, list, list]:
        dims = s.check_dimensions(dimensions, self.encoder.dim)
        results = await self.batcher.embed(texts, kind)  # type: ignore[arg-type]
        vectors = s.shape(np.stack([r.vector for r in results]), dims)
        return vectors, [r.tokens for r in results], [r.truncated for r in results]

    def _used_tokens(self, counts: list[int]) -> int:
        return sum(min(c, self.encoder.max_seq_len) for c in counts)

    async def openai_embeddings(self, body: bytes) -> Response:
        req = s.parse(s.OpenAIEmbeddingRequest, body)
        texts = s.check_texts(req.input, "input", self.settings)
        vectors, counts, truncated = await self.embed(texts, req.input_type, req.dimensions)
        used = self._used_tokens(counts)
        data = [{"object": "embedding", "index": i, "embedding": s.encode_vector(v, req.encoding_format),
                 "truncated": cut} for i, (v, cut) in enumerate(zip(vectors, truncated))]
        return Response(s.dumps({"object": "list", "data": data, "model": self.settings.model_name,
                                 "usage": {"prompt_tokens": used, "total_tokens": used}}),
                        media_type="application/json")

    async def native_embed(self, body: bytes) -> Response:
        req = s.parse(s.EmbedRequest, body)
        texts = s.check_texts(req.inputs, "inputs", self.settings)
        vectors, counts, truncated = await self.embed(texts, req.input_type, req.dimensions)
        return Response(s.dumps({
            "model": self.settings.model_name, "revision": self.encoder.revision, "dimensions": vectors.shape[1],
            "embeddings": [s.encode_vector(v, req.encoding_format) for v in vectors],
            "tokens": counts, "truncated": truncated, "usage": {"tokens": self._used_tokens(counts)},
        }), media_type="application/json")

    # ---- search -----------------------------------------------------------------------------------------------
    def _ready_backend(self) -> SearchBackend:
        if self.backend is not None:
            return self.backend
        if self.index_loader is None:
            raise NotFound("no index is loaded: start codesift serve with --index DIR", code="no_index")
        if self.index_error:
            raise Unavailable(f"the index failed to load: {self.index_error}", code="index_failed")
        raise Unavailable("the index is still loading", code="index_loading", retry_after=1)

    async def search(self, body: bytes) -> Response:
        req = s.parse(s.SearchRequest, body)
        if req.top_k > self.settings.max_top_k:
            raise InvalidInput(f"top_k is {req.top_k}; the limit is {self.settings.max_top_k}", code="invalid_top_k")
        query = s.check_texts(req.query, "query", self.settings)[0]
        backend = self._ready_backend()
        generation = backend.generation
        filters = req.filters.to_filters()
        key = (normalize_query(query), filters, req.top_k, req.hybrid)
        hits = self.search_cache.get_at(generation, key)
        self.metrics.hit("search", hits is not None)
        cached = hits is not None
        if hits is None:
            hits = await self._search_coalesced((generation, key), lambda: self._run_search(
                backend, generation, key, query, filters, req.top_k, req.hybrid))
        return Response(s.dumps({"query": query, "generation": generation, "cached": cached,
                                 "hits": [h.to_json() for h in hits]}), media_type="application/json")

    async def _search_coalesced(self, key: Hashable, start: Callable[[], Awaitable[list[Hit]]]) -> list[Hit]:
        """Identical searches in flight share one task; it is cancelled only when all its callers have left."""
        entry = self._searches.get(key)
        if entry is None:
            task = asyncio.ensure_future(start())
            entry = self._searches[key] = (task, [0])
            task.add_done_callback(lambda _: self._searches.pop(key, None) if self._searches.get(key) is entry
                                   else None)
        else:
            self.metrics.coalesced.labels("search").inc()
        task, waiters = entry
        waiters[0] += 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            waiters[0] -= 1
            if waiters[0] == 0:
                task.cancel()
            raise

    async def _run_search(self, backend: SearchBackend, generation: Hashable, key: Hashable, query: str,
                          filters: Filters, top_k: int, hybrid: bool | None) -> list[Hit]:
        vector = (await self.batcher.embed([query], "query"))[0].vector
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        hits = await loop.run_in_executor(self._search_pool, backend.search, query, vector, top_k, filters, hybrid)
        self.metrics.search.observe(time.perf_counter() - t0)
        self.search_cache.put_at(generation, key, hits)
        return hits

    async def update_index(self, body: bytes) -> Response:
        req = s.parse(s.UpdateRequest, body)
        backend = self._ready_backend()
        assert self._update_lock is not None
        async with self._update_lock:  # one update at a time; searches go on meanwhile
            before = backend.generation
            t0 = time.perf_counter()
            # the update embeds through the bulk lane, so live queries keep going first
            encoder = QueuedEncoder(self.batcher, asyncio.get_running_loop())
            stats = await asyncio.to_thread(backend.update, req.paths, encoder)
            seconds = time.perf_counter() - t0
        log.info("index updated in %.1fs: %s (generation %s -> %s)", seconds, stats, before, backend.generation)
        return Response(s.dumps({"generation": backend.generation, "previous_generation": before,
                                 "seconds": round(seconds, 3), "stats": stats}), media_type="application/json")

    # ---- info -------------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        e, st = self.encoder, self.settings
        return {
            "model": {"name": st.model_name, "revision": e.revision, "dimensions": e.dim,
                      "max_seq_len": e.max_seq_len, "quantization": e.quantization},
            "index": self.backend.info() if self.backend is not None else None,
            "batching": {"max_batch_tokens": st.max_batch_tokens, "max_batch_size": st.max_batch_size,
                         "max_wait_ms": st.max_wait_ms, "max_queue_items": st.max_queue_items,
                         "max_queue_seconds": st.max_queue_seconds, "workers": st.workers},
            "limits": {"max_body_bytes": st.max_body_bytes, "max_items": st.max_items, "max_chars": st.max_chars,
                       "max_top_k": st.max_top_k},
            "auth": self.keys.enabled,
        }


def create_app(encoder: Encoder, settings: ServeSettings | None = None,
               index_loader: IndexLoader | None = None) -> FastAPI:
    """The ASGI app. `index_loader` runs on a thread at start-up (until it returns, /readyz is 503)."""
    svc = Service(encoder, settings or ServeSettings(), index_loader)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await svc.start()
        yield
        await svc.stop()

    app = FastAPI(title="codesift", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = svc

    def json_response(payload: Any, status: int = 200) -> Response:
        return Response(s.dumps(payload), status_code=status, media_type="application/json")

    def route(path: str, name: str, scope: Scope | None, work: Callable[[bytes], Awaitable[Response]],
              method: str = "POST") -> None:
        async def endpoint(request: Request) -> Response:
            return await svc.handle(request, name, scope, work)

        app.add_api_route(path, endpoint, methods=[method], name=name)

    async def get_info(_: bytes) -> Response:
        return json_response(svc.info())

    async def get_models(_: bytes) -> Response:
        return json_response({"object": "list", "data": [{"id": svc.settings.model_name, "object": "model",
                                                          "owned_by": "codesift"}]})

    route("/v1/embeddings", "openai_embeddings", "read", svc.openai_embeddings)
    route("/embed", "embed", "read", svc.native_embed)
    route("/search", "search", "read", svc.search)
    route("/admin/index/update", "index_update", "admin", svc.update_index)
    route("/info", "info", "read", get_info, "GET")
    route("/v1/models", "models", "read", get_models, "GET")

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        reasons = svc.unready_reasons()
        return json_response({"status": "unready", "reasons": reasons} if reasons else {"status": "ready"},
                             503 if reasons else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:  # unknown route, wrong method
        cls = NotFound if exc.status_code == 404 else ServeError
        err = cls(str(exc.detail), code="not_found" if exc.status_code == 404 else "http_error")
        err.status = exc.status_code
        return to_response(err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return to_response(InvalidInput(str(exc.errors()), code="invalid_value"))

    return app


def make_server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000):
    """A uvicorn server for `app` whose SIGTERM/SIGINT first fails /readyz, then lets uvicorn stop accepting and
    wait (up to the drain deadline) for open requests before the lifespan shutdown drains the queue."""
    import uvicorn

    service: Service = app.state.service

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            service.begin_drain()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=max(1, round(service.settings.drain_seconds)))
    return DrainingServer(config)
