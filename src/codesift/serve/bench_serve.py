"""`codesift bench serve`: load-test `codesift serve` on loopback and print the figures as JSON.

The server runs as its own process (`codesift serve`, once with batching and once without); an async httpx client
keeps N requests in flight (closed loop) for each traffic kind and concurrency:

- `query`: one new, never-repeated query per request to /embed (input_type query): uncached single queries.
- `search`: the same to /search (needs --index).
- `bulk`: --bulk-docs code chunks (30-line windows of the Python standard library) per request to /embed.

After a 429 a client waits what Retry-After says (at most --backoff-max seconds), as a polite client does. Per cell: throughput, p50/p95/p99 of successful requests, 429 / 5xx / timeout / connection-error counts,
the server's mean batch size (from /metrics) and the CPU both processes used. Then a soak (--soak seconds of mixed
query and bulk traffic) samples the server's resident memory every --rss-every seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from codesift.log import get_logger

log = get_logger("codesift.bench.serve")

WORDS = (
    "parse read write load save open close json yaml toml csv xml config file path directory socket http request "
    "response retry timeout cache lock thread process queue async await future callback event loop signal handler "
    "error exception raise log logger format string bytes encode decode unicode utf8 hash checksum compress gzip "
    "zip tar archive url query header cookie session token auth password user database sql table row column index "
    "sort filter map reduce group merge split join list dict set tuple array matrix vector tensor random seed "
    "sample shuffle batch iterate generator yield context manager decorator class method function argument "
    "default keyword parser command line option flag environment variable date time timezone duration sleep "
    "schedule cron test mock assert fixture compare equal copy deep shallow serialize pickle struct pack unpack "
    "binary buffer stream pipe subprocess shell exit status temp tempfile delete rename move walk glob pattern "
    "regex match replace strip trim pad align wrap width height image pixel color font render template html "
    "escape quote email smtp ftp ssl certificate verify digest sign key public private"
).split()
TEMPLATES = ("how to {} a {} {}", "{} {} from {}", "{} the {} {} with {}", "function that {} {} {}",
             "{} {} {} {} {}", "{} {} in a {}", "get {} {} of {}", "check if {} {} is {}")


class Queries:
    """Never-repeated English-like code-search queries (so the server's query cache never answers them)."""

    def __init__(self, seed: int):
        import random

        self.rng, self.seen = random.Random(seed), set()

    def next(self) -> str:
        while True:
            template = self.rng.choice(TEMPLATES)
            text = template.format(*self.rng.choices(WORDS, k=template.count("{}")))
            if text not in self.seen:
                self.seen.add(text)
                return text


def code_chunks(limit: int = 5000, lines: int = 30) -> list[str]:
    """30-line windows of the Python standard library's sources with 400-1500 characters, in path order."""
    import sysconfig

    out: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(errors="replace").splitlines()
        for start in range(0, len(text), lines):
            chunk = "\n".join(text[start:start + lines])
            if 400 <= len(chunk) <= 1500:
                out.append(chunk)
                if len(out) >= limit:
                    return out
    return out


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="what `codesift serve --model` gets: an ONNX export folder or hash:DIM "
                   "(default: serve's default model)")
    p.add_argument("--index", metavar="DIR", help="index folder; adds `search` traffic")
    p.add_argument("--traffic", default="query,bulk", help="comma-separated: query, bulk, search (default: %(default)s)")
    p.add_argument("--concurrency", default="1,8,32,128", help="requests in flight (default: %(default)s)")
    p.add_argument("--batching", default="on,off", help="on, off or both (default: %(default)s)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per cell (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each cell (default: %(default)s)")
    p.add_argument("--bulk-docs", type=int, default=16, help="documents per bulk request (default: %(default)s)")
    p.add_argument("--soak", type=float, default=600.0, help="soak seconds with batching on, 0 to skip "
                   "(default: %(default)s)")
    p.add_argument("--soak-queries", type=int, default=8, help="query clients in the soak (default: %(default)s)")
    p.add_argument("--soak-bulk", type=int, default=2, help="bulk clients in the soak (default: %(default)s)")
    p.add_argument("--rss-every", type=float, default=10.0, help="soak RSS sample interval (default: %(default)s)")
    p.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                   help="load client: httpx, or a minimal HTTP/1.1 client that takes less of the shared CPUs "
                   "(default: %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request (default: %(default)s)")
    p.add_argument("--backoff-max", type=float, default=5.0,
                   help="after a 429 a client waits Retry-After seconds, at most this (default: %(default)s)")
    p.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `codesift serve` (repeatable; e.g. --serve-arg=--threads=2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE", help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise

    traffics = _csv(args.traffic)
    if unknown := set(traffics) - {"query", "bulk", "search"}:
        raise ValueError(f"--traffic: unknown kinds {sorted(unknown)}; use query, bulk, search")
    if "search" in traffics and not args.index:
        raise ValueError("--traffic search needs --index DIR")
    modes = _csv(args.batching)
    if set(modes) - {"on", "off"}:
        raise ValueError(f"--batching takes on and/or off, got {args.batching}")
    concurrency = [int(c) for c in _csv(args.concurrency)]
    docs = code_chunks()
    queries = Queries(args.seed)
    report = {"command": "codesift " + " ".join(sys.argv[1:]), "machine": _machine(), "client": args.client,
              "cells": [], "soak": None}
    for mode in modes:
        with _Server(args, batching=mode == "on") as server:
            report.setdefault("server", server.info)
            for traffic in traffics:
                for c in concurrency:
                    load = _Load(server, traffic, args, queries, docs)
                    cell = {"batching": mode, "traffic": traffic, "concurrency": c,
                            **asyncio.run(load.cell(c, args.duration, args.warmup))}
                    report["cells"].append(cell)
                    log.info("%s", _row(cell))
            if mode == "on" and args.soak > 0:
                report["soak"] = asyncio.run(_Load(server, "query", args, queries, docs).soak(args))
                log.info("soak: %s", {k: v for k, v in report["soak"].items() if k != "rss_mb"})
    report["machine"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    print(_table(report), file=sys.stderr)
    return 0


# --- the server process -------------------------------------------------------------------------------------------


class _Server:
    def __init__(self, args: argparse.Namespace, batching: bool):
        self.args, self.batching = args, batching

    def __enter__(self) -> _Server:
        import socket
        import subprocess
        import tempfile
        import time

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "codesift.cli", "--log-level", "WARNING", "serve", "--port", str(port)]
        cmd += ["--model", self.args.model] if self.args.model else []
        cmd += ["--index", self.args.index] if self.args.index else []
        cmd += [] if self.batching else ["--no-batching"]
        cmd += self.args.serve_arg
        self.log = tempfile.NamedTemporaryFile("w+", prefix="codesift-serve-", suffix=".log")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600  # loading a large index takes a while
        try:
            while True:
                failed = self.proc.poll() is not None or time.monotonic() > deadline
                try:
                    ready = httpx.get(self.base + "/readyz")
                    if ready.status_code == 200:
                        break
                    failed |= any(r.startswith("index failed") for r in ready.json().get("reasons", []))
                except httpx.TransportError:
                    pass
                if failed:
                    self.log.seek(0)
                    raise RuntimeError(f"codesift serve did not become ready: {' '.join(cmd)}\n"
                                       f"{self.log.read()[-3000:]}")
                time.sleep(0.2)
            self.info = httpx.get(self.base + "/info").json()
        except BaseException:
            self.__exit__()
            raise
        log.info("server ready (batching %s, pid %d): %s", "on" if self.batching else "off", self.proc.pid,
                 self.info["model"])
        return self

    def __exit__(self, *exc) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the load client ----------------------------------------------------------------------------------------------


class _Load:
    def __init__(self, server: _Server, traffic: str, args: argparse.Namespace, queries: Queries, docs: list[str]):
        self.server, self.traffic, self.args, self.queries, self.docs = server, traffic, args, queries, docs
        self._doc = 0

    def request(self, traffic: str) -> tuple[str, bytes, int]:
        """(path, body, texts) of the next request of this kind."""
        if traffic == "bulk":
            n = self.args.bulk_docs
            batch = [self.docs[(self._doc + i) % len(self.docs)] for i in range(n)]
            self._doc += n
            return "/embed", json.dumps({"inputs": batch, "input_type": "document"}).encode(), n
        if traffic == "search":
            return "/search", json.dumps({"query": self.queries.next(), "top_k": 10}).encode(), 1
        return "/embed", json.dumps({"inputs": self.queries.next(), "input_type": "query"}).encode(), 1

    async def _client(self, concurrency: int):
        import httpx

        if self.args.client == "raw":
            return _RawPool(self.server.base, self.args.timeout)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        return _HttpxPool(httpx.AsyncClient(base_url=self.server.base, limits=limits, timeout=self.args.timeout))

    async def _worker(self, pool, traffic: str, start_measure: float, end: float, records: list) -> None:
        import asyncio
        import time

        send = pool.sender()
        while time.perf_counter() < end:
            path, body, items = self.request(traffic)
            t0 = time.perf_counter()
            status, retry_after = await send(path, body)
            t1 = time.perf_counter()
            if t0 >= start_measure and t0 < end:
                records.append((t0, t1 - t0, status, items))
            if status == 429:  # as a polite client does: wait what Retry-After says
                await asyncio.sleep(min(float(retry_after or 1), self.args.backoff_max))

    async def cell(self, concurrency: int, duration: float, warmup: float) -> dict:
        import asyncio
        import time

        async with await self._client(concurrency) as client:
            before = await _scrape(self.server.base)
            cpu0 = (self.server.cpu_seconds(), _own_cpu())
            rss0 = self.server.rss_mb()
            start = time.perf_counter()
            records: list = []
            await asyncio.gather(*(self._worker(client, self.traffic, start + warmup, start + warmup + duration,
                                                records) for _ in range(concurrency)))
            cpu1 = (self.server.cpu_seconds(), _own_cpu())
            after = await _scrape(self.server.base)
        stats = _summarize(records, duration)
        batches = after.get("codesift_batch_size_count", 0) - before.get("codesift_batch_size_count", 0)
        texts = after.get("codesift_batch_size_sum", 0) - before.get("codesift_batch_size_sum", 0)
        wall = warmup + duration
        return {**stats, "mean_batch_size": round(texts / batches, 2) if batches else None,
                "server_cpu_pct": round(100 * (cpu1[0] - cpu0[0]) / wall, 1),
                "client_cpu_pct": round(100 * (cpu1[1] - cpu0[1]) / wall, 1),
                "server_rss_mb": [round(rss0, 1), round(self.server.rss_mb(), 1)],
                "dropped": after.get("codesift_dropped_total", 0) - before.get("codesift_dropped_total", 0)}

    async def soak(self, args: argparse.Namespace) -> dict:
        import asyncio
        import time

        import numpy as np

        rss: list[tuple[float, float]] = []
        async with await self._client(args.soak_queries + args.soak_bulk) as client:
            start = time.perf_counter()
            end = start + args.soak
            records: list = []
            bulk_records: list = []

            async def sample() -> None:
                while time.perf_counter() < end:
                    rss.append((round(time.perf_counter() - start, 1), round(self.server.rss_mb(), 1)))
                    await asyncio.sleep(args.rss_every)
                rss.append((round(time.perf_counter() - start, 1), round(self.server.rss_mb(), 1)))

            await asyncio.gather(sample(), *(self._worker(client, "query", start, end, records)
                                             for _ in range(args.soak_queries)),
                                 *(self._worker(client, "bulk", start, end, bulk_records)
                                   for _ in range(args.soak_bulk)))
        t = np.array([x for x, _ in rss])
        mb = np.array([y for _, y in rss])
        settled = t >= min(60.0, args.soak / 4)  # after the first minute: allocator pools are warm
        slope = float(np.polyfit(t[settled], mb[settled], 1)[0]) * 60 if settled.sum() >= 3 else None
        return {"seconds": args.soak, "query_clients": args.soak_queries, "bulk_clients": args.soak_bulk,
                "queries": _summarize(records, args.soak), "bulk": _summarize(bulk_records, args.soak),
                "rss_start_mb": float(mb[0]), "rss_settled_mb": float(mb[settled][0]) if settled.any() else None,
                "rss_end_mb": float(mb[-1]), "rss_max_mb": float(mb.max()),
                "rss_slope_mb_per_min_after_settling": None if slope is None else round(slope, 3),
                "rss_mb": rss}


def _summarize(records: list, duration: float) -> dict:
    import numpy as np

    ok = [r for r in records if r[2] == 200]
    lat = np.array([r[1] for r in ok]) * 1000
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    pct = {f"p{q}_ms": round(float(np.percentile(lat, q)), 2) if len(lat) else None for q in (50, 95, 99)}
    fivexx = sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)
    return {"requests": len(records), "ok": len(ok), "req_per_s": round(len(ok) / duration, 1),
            "texts_per_s": round(sum(r[3] for r in ok) / duration, 1), **pct,
            "rejected_429": statuses.get("429", 0),
            "rejection_rate": round(statuses.get("429", 0) / len(records), 4) if records else None,
            "errors_5xx": fivexx, "timeouts": statuses.get("timeout", 0),
            "other": {s: n for s, n in statuses.items() if s not in ("200", "429", "timeout")
                      and not (s.isdigit() and int(s) >= 500)}}


async def _scrape(base: str) -> dict[str, float]:
    """The unlabelled samples of /metrics, plus batch size sum/count."""
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        text = (await client.get("/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("codesift_") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class _HttpxPool:
    """The default client: httpx.AsyncClient, one keep-alive connection per concurrent worker."""

    def __init__(self, client):
        self.client = client

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    def sender(self):
        import httpx

        async def send(path: str, body: bytes) -> tuple[int | str, str | None]:
            try:
                r = await self.client.post(path, content=body, headers={"content-type": "application/json"})
                return r.status_code, r.headers.get("retry-after")
            except httpx.TimeoutException:
                return "timeout", None
            except httpx.TransportError as e:
                return f"error:{type(e).__name__}", None

        return send


class _RawPool:
    """`--client raw`: plain HTTP/1.1 over asyncio streams, one keep-alive connection per worker. It costs the
    shared CPUs a fraction of what httpx does, so more of the measured latency is the server's."""

    def __init__(self, base: str, timeout: float):
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.writers: list = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        for w in self.writers:
            w.close()

    def sender(self):
        import asyncio

        conn: list = []  # (reader, writer) once connected

        async def exchange(path: str, body: bytes) -> tuple[int, str | None]:
            try:
                return await attempt(path, body, fresh=not conn)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                if conn:  # the server closed an idle keep-alive connection: retry once on a new one
                    conn[1].close()
                    conn.clear()
                return await attempt(path, body, fresh=True)

        async def attempt(path: str, body: bytes, fresh: bool) -> tuple[int, str | None]:
            if fresh:
                conn[:] = await asyncio.open_connection(self.host, self.port)
                self.writers.append(conn[1])
            reader, writer = conn
            writer.write(b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body)) + body)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
            await reader.readexactly(int(headers.get("content-length", 0)))
            if headers.get("connection") == "close":
                writer.close()
                conn.clear()
            return int(lines[0].split()[1]), headers.get("retry-after")

        async def send(path: str, body: bytes) -> tuple[int | str, str | None]:
            try:
                return await asyncio.wait_for(exchange(path, body), self.timeout)
            except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                if conn:
                    conn[1].close()
                    conn.clear()
                return ("timeout" if isinstance(e, asyncio.TimeoutError) else f"error:{type(e).__name__}"), None

        return send


def _own_cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _machine() -> dict:
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("onnxruntime", "uvicorn", "fastapi", "httpx"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "loadavg_start": os.getloadavg(), **versions}


def _row(c: dict) -> str:
    return (f"batching {c['batching']:3} {c['traffic']:6} c={c['concurrency']:<3} {c['req_per_s']:8.1f} req/s "
            f"{c['texts_per_s']:8.1f} texts/s  p50 {c['p50_ms']} p95 {c['p95_ms']} p99 {c['p99_ms']} ms  "
            f"429 {c['rejected_429']} 5xx {c['errors_5xx']} timeouts {c['timeouts']} other {c['other']} "
            f"batch {c['mean_batch_size']} cpu server {c['server_cpu_pct']}% client {c['client_cpu_pct']}%")


def _table(report: dict) -> str:
    rows = ["| batching | traffic | concurrency | req/s | texts/s | p50 ms | p95 ms | p99 ms | 429 rate | 5xx | "
            "timeouts | mean batch | server CPU % | client CPU % |", "|" + "---|" * 14]
    for c in report["cells"]:
        rows.append(f"| {c['batching']} | {c['traffic']} | {c['concurrency']} | {c['req_per_s']} | {c['texts_per_s']} "
                    f"| {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | {c['rejection_rate']} | {c['errors_5xx']} | "
                    f"{c['timeouts']} | {c['mean_batch_size']} | {c['server_cpu_pct']} | {c['client_cpu_pct']} |")
    return "\n".join(rows)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
