"""`codesift serve`: the embedding and search service on uvicorn. Light to import; the work happens in `run`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from codesift.log import get_logger

log = get_logger("codesift.serve")

DEFAULT_MODEL = Path("models") / "static"  # the search model `codesift index` builds with (index/commands.py)
REPO_MODEL = Path(__file__).resolve().parents[3] / DEFAULT_MODEL  # the checkout's models/static


def configure(p: argparse.ArgumentParser) -> None:
    from codesift.serve.settings import ServeSettings

    d = ServeSettings()
    p.description += (" Routes: POST /v1/embeddings (OpenAI), /embed, /search, /admin/index/update; "
                      "GET /healthz, /readyz, /metrics, /info. SIGTERM drains the queue before exiting.")
    m = p.add_argument_group("model and index")
    m.add_argument("--model", metavar="DIR", help=f"ONNX export folder (default: $CODESIFT_MODEL, else "
                   f"{DEFAULT_MODEL}/ here or in the checkout); 'hash:DIM' serves a weightless hashing encoder "
                   "(service tests and overhead benchmarks: its vectors carry no meaning)")
    m.add_argument("--quantization", default="auto", help="auto (the export's default), fp32, int8, ... "
                   "(default: %(default)s)")
    m.add_argument("--threads", type=int, default=None, help="encoder intra-op threads per inference run "
                   "(default: one per core)")
    m.add_argument("--workers", type=int, default=d.workers, help="inference threads taking batches from the queue "
                   "(default: %(default)s)")
    m.add_argument("--spin", action=argparse.BooleanOptionalAction, default=False,
                   help="let idle inference threads busy-wait: lower latency on an idle machine, but they take "
                   "CPU from the HTTP loop (default: off)")
    m.add_argument("--index", metavar="DIR", help="index folder for /search (from `codesift index build`)")
    m.add_argument("--model-name", default=None, help="the name /v1/embeddings reports (default: the folder name)")
    n = p.add_argument_group("network")
    n.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    n.add_argument("--port", type=int, default=8000)
    n.add_argument("--api-key", action="append", default=[], metavar="KEY[:SCOPE]",
                   help="accept this Bearer key; SCOPE read (default) or admin (index updates); repeatable. "
                   "Also read from $CODESIFT_API_KEYS (comma-separated) and --api-keys-file")
    n.add_argument("--api-keys-file", metavar="FILE", help="one KEY[:SCOPE] per line")
    n.add_argument("--drain-seconds", type=float, default=d.drain_seconds,
                   help="on SIGTERM, how long queued work may take to finish (default: %(default)s)")
    b = p.add_argument_group("batching and limits")
    b.add_argument("--max-batch-tokens", type=int, default=d.max_batch_tokens,
                   help="padded tokens per batch (size x longest) (default: %(default)s)")
    b.add_argument("--max-batch-size", type=int, default=d.max_batch_size, help="(default: %(default)s)")
    b.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms,
                   help="how long a batch may wait to fill; 0 = send what is queued (default: %(default)s)")
    b.add_argument("--bulk-max-delay-ms", type=float, default=d.bulk_max_delay_ms,
                   help="documents waiting this long get one batch ahead of queued queries; 0 = queries always "
                        "first (default: %(default)s)")
    b.add_argument("--no-batching", action="store_true", help="one text per inference call (for comparison)")
    b.add_argument("--max-queue", type=int, default=d.max_queue_items,
                   help="queued texts before requests get 429 (default: %(default)s)")
    b.add_argument("--max-queue-seconds", type=float, default=d.max_queue_seconds,
                   help="refuse (429) work that would wait longer than this in the queue (default: %(default)s)")
    b.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="(default: %(default)s)")
    b.add_argument("--max-items", type=int, default=d.max_items, help="texts per request (default: %(default)s)")
    b.add_argument("--max-chars", type=int, default=d.max_chars, help="characters per text (default: %(default)s)")
    b.add_argument("--query-cache", type=int, default=d.query_cache_size,
                   help="query embeddings kept (0: off) (default: %(default)s)")
    b.add_argument("--search-cache", type=int, default=d.search_cache_size,
                   help="search results kept (0: off) (default: %(default)s)")


def resolve_model_dir(model: str | None) -> Path:
    """--model, else $CODESIFT_MODEL, else models/static/ here or in the checkout; a clear error if none."""
    model = model or os.environ.get("CODESIFT_MODEL")
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"--model {model}: no such folder (give an export folder from `codesift export`)")
        return path
    for path in (DEFAULT_MODEL, REPO_MODEL):
        if path.is_dir():
            return path
    raise FileNotFoundError(f"no default model: no {DEFAULT_MODEL}/ here or in the codesift checkout; "
                            "pass --model DIR with an ONNX export folder (`codesift export`), or --model hash:384 "
                            "to run the service with a weightless hashing encoder")


def load_encoder(args: argparse.Namespace):
    """(encoder, name): `hash:DIM`, or an ONNX export folder through codesift.runtime.onnx."""
    model = args.model
    if model and model.startswith("hash:"):
        from codesift.runtime.fake import HashEncoder

        dim = int(model.removeprefix("hash:") or 64)
        return HashEncoder(dim), f"hash-{dim}"
    path = resolve_model_dir(model)
    from codesift.runtime.onnx import load_encoder as load_onnx

    # The batcher already forms length-sorted batches within its budgets: let the runtime take them whole.
    encoder = load_onnx(path, quantization=args.quantization, intra_op_threads=args.threads,
                        spinning=args.spin, batch_size=args.max_batch_size,
                        max_batch_tokens=max(args.max_batch_tokens, 512))
    return encoder, path.resolve().name


def api_keys(args: argparse.Namespace) -> dict[str, str]:
    from codesift.serve.auth import parse_key_specs

    specs = list(args.api_key)
    specs += [k for k in os.environ.get("CODESIFT_API_KEYS", "").split(",") if k.strip()]
    if args.api_keys_file:
        specs += Path(args.api_keys_file).read_text().splitlines()
    return parse_key_specs(specs)


def settings_from(args: argparse.Namespace, model_name: str):
    from codesift.serve.settings import ServeSettings

    return ServeSettings(
        max_batch_tokens=args.max_batch_tokens, max_batch_size=1 if args.no_batching else args.max_batch_size,
        max_wait_ms=0.0 if args.no_batching else args.max_wait_ms, max_queue_items=args.max_queue,
        bulk_max_delay_ms=args.bulk_max_delay_ms,
        max_queue_seconds=args.max_queue_seconds, workers=args.workers,
        max_body_bytes=args.max_body_bytes, max_items=args.max_items, max_chars=args.max_chars,
        query_cache_size=args.query_cache, search_cache_size=args.search_cache, drain_seconds=args.drain_seconds,
        model_name=model_name, api_keys=api_keys(args),
    )


def run(args: argparse.Namespace) -> int:
    if args.index is not None and not Path(args.index).is_dir():
        raise FileNotFoundError(f"--index {args.index}: no such folder (build one with `codesift index build`)")
    encoder, name = load_encoder(args)
    from codesift.serve.app import create_app, make_server

    settings = settings_from(args, args.model_name or name)
    if not settings.api_keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without API keys: anyone who can reach it can embed, search and update the "
                    "index (give --api-key KEY:admin)", args.host)
    loader = None
    if args.index:
        from codesift.serve.search_index import index_loader

        loader = index_loader(args.index, encoder)
    app = create_app(encoder, settings, loader)
    server = make_server(app, args.host, args.port)
    log.info("codesift serve: model %s (revision %s, dim %d, %s), index %s, http://%s:%d", settings.model_name,
             encoder.revision, encoder.dim, encoder.quantization, args.index or "none", args.host, args.port)

    def index_failed() -> None:  # a corrupt, missing or mismatched index is a configuration error: stop
        server.should_exit = True

    service = app.state.service
    service.on_index_failure = index_failed
    server.run()
    if service.index_error:
        log.error("codesift serve: stopped because the index could not be loaded (%s)", service.index_error)
        return 1
    return 0
