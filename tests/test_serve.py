"""The HTTP service with the weightless HashEncoder: API contract, batching, limits, overload, auth, readiness,
search caching across index updates, client disconnects and draining on SIGTERM."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from codesift.runtime.fake import HashEncoder
from codesift.serve.app import create_app, make_server
from codesift.serve.settings import ServeSettings

READ_KEY, ADMIN_KEY = "read-key-0123456789", "admin-key-0123456789"


class GatedEncoder(HashEncoder):
    """Blocks in encode() while `gate` is clear (after its warm-up), so tests can hold the queue full."""

    def __init__(self, delay: float = 0.0, dim: int = 64):
        super().__init__(dim=dim)
        self.gate, self.entered, self.delay = threading.Event(), threading.Event(), delay
        self.gate.set()
        self.seen: list[str] = []

    def encode(self, texts, kind="document"):
        self.entered.set()
        self.gate.wait(10)
        time.sleep(self.delay)
        self.seen += list(texts)
        return super().encode(texts, kind)


@contextlib.asynccontextmanager
async def client(app, key: str | None = None):
    async with app.router.lifespan_context(app):
        svc = app.state.service
        await asyncio.to_thread(svc.batcher.warm.wait, 5)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve", headers=headers) as c:
            yield c


@contextlib.contextmanager
def live_server(app):
    """uvicorn on a free loopback port, in a thread; yields (server, base URL)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = make_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 10
    while not (server.started and app.state.service.batcher.warm.is_set()):
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield server, base
    finally:
        server.should_exit = True
        thread.join(10)


def test_openai_client_contract():
    openai = pytest.importorskip("openai")
    encoder = HashEncoder(dim=64)
    app = create_app(encoder, ServeSettings(model_name="codesift-test"))
    texts = ["def parse_config(path): return json.load(open(path))", "open a socket", "x"]
    with live_server(app) as (_, base):
        api = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        full = api.embeddings.create(model="codesift-test", input=texts)  # the client asks for base64 by default
        floats = api.embeddings.create(model="codesift-test", input=texts[0], encoding_format="float")
        short = api.embeddings.create(model="codesift-test", input=texts, dimensions=16)
    expected = encoder.encode(texts).vectors
    got = np.array([d.embedding for d in full.data], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [d.index for d in full.data] == [0, 1, 2] and full.model == "codesift-test"
    assert full.usage.prompt_tokens == full.usage.total_tokens == sum(encoder.count_tokens(texts))
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-6)
    cut = np.array([d.embedding for d in short.data])
    assert cut.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)  # truncated, then re-normalized
    reference = expected[:, :16] / np.maximum(np.linalg.norm(expected[:, :16], axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(cut[np.linalg.norm(expected[:, :16], axis=1) > 0],
                               reference[np.linalg.norm(expected[:, :16], axis=1) > 0], atol=1e-5)


def test_concurrent_requests_get_their_own_vectors_in_order():
    encoder = GatedEncoder(delay=0.002)
    app = create_app(encoder, ServeSettings(max_batch_size=16))
    words = "read parse write socket json config retry cache token stream".split()
    requests = [[" ".join(words[: 1 + (i + j) % 10]) + f" req{i} item{j}" for j in range(1 + i % 3)]
                for i in range(40)]

    async def main():
        async with client(app) as c:
            responses = await asyncio.gather(*(c.post("/embed", json={"inputs": texts}) for texts in requests))
            metrics = (await c.get("/metrics")).text
        return responses, metrics

    responses, metrics = asyncio.run(main())
    for texts, r in zip(requests, responses):
        assert r.status_code == 200
        body = r.json()
        np.testing.assert_allclose(np.array(body["embeddings"]), encoder.encode(texts).vectors, atol=1e-6)
        assert body["tokens"] == encoder.count_tokens(texts) and body["truncated"] == [False] * len(texts)
    sizes = [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("codesift_batch_size_")]
    assert sizes and "codesift_queue_depth" in metrics and "codesift_inference_seconds_bucket" in metrics


def test_truncation_is_reported_per_input():
    app = create_app(HashEncoder(dim=32, max_seq_len=8))

    async def main():
        async with client(app) as c:
            return await c.post("/embed", json={"inputs": ["short one", "a b c d e f g h i j k"]})

    body = asyncio.run(main()).json()
    assert body["truncated"] == [False, True] and body["tokens"] == [4, 13]
    assert body["usage"]["tokens"] == 4 + 8


@pytest.mark.parametrize("path, payload, status, code", [
    ("/embed", {"inputs": ["a"] * 9}, 413, "too_many_items"),
    ("/embed", {"inputs": ["x" * 101]}, 422, "item_too_long"),
    ("/embed", {"inputs": []}, 422, "invalid_request_error"),
    ("/embed", {"inputs": ["  "]}, 422, "empty_input"),
    ("/embed", {"inputs": "ok", "dimensions": 65}, 422, "invalid_dimensions"),
    ("/embed", {"inputs": "ok", "colour": "red"}, 422, "invalid_value"),
    ("/v1/embeddings", {"input": [[1, 2, 3]], "model": "m"}, 422, "invalid_type"),
    ("/v1/embeddings", {"input": "ok", "encoding_format": "hex"}, 422, "invalid_value"),
    ("/search", {"query": "ok", "top_k": 11}, 422, "invalid_top_k"),
    ("/embed", b"{not json", 400, "invalid_json"),
    ("/embed", {"inputs": "y" * 600}, 413, "body_too_large"),
])
def test_limits_and_bad_input(path, payload, status, code):
    app = create_app(HashEncoder(dim=64), ServeSettings(max_items=8, max_chars=100, max_body_bytes=512,
                                                        max_top_k=10))

    async def main():
        async with client(app) as c:
            if isinstance(payload, bytes):
                return await c.post(path, content=payload, headers={"content-type": "application/json"})
            return await c.post(path, json=payload)

    r = asyncio.run(main())
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]


def test_limit_messages_name_the_value_and_the_limit():
    app = create_app(HashEncoder(dim=64), ServeSettings(max_items=8, max_chars=100))

    async def main():
        async with client(app) as c:
            return [await c.post("/embed", json=p) for p in ({"inputs": ["a"] * 9}, {"inputs": ["ok", "x" * 101]})]

    many, long = asyncio.run(main())
    assert many.json()["error"]["message"].startswith("inputs has 9 items; the limit is 8 per request")
    assert long.json()["error"]["message"].startswith("inputs[1] has 101 characters; the limit is 100")


def test_overload_answers_429_with_retry_after():
    encoder = GatedEncoder()
    app = create_app(encoder, ServeSettings(max_queue_items=4))

    async def main():
        async with client(app) as c:
            encoder.gate.clear()
            encoder.entered.clear()
            held = asyncio.ensure_future(c.post("/embed", json={"inputs": "held in the encoder"}))
            await asyncio.to_thread(encoder.entered.wait, 5)
            burst = [asyncio.ensure_future(c.post("/embed", json={"inputs": [f"t{i}a", f"t{i}b"]}))
                     for i in range(6)]
            await asyncio.sleep(0.05)
            encoder.gate.set()
            responses = await asyncio.gather(held, *burst)
            return responses, (await c.get("/metrics")).text

    responses, metrics = asyncio.run(main())
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) == {200, 429} and statuses.count(200) == 3  # held + two requests of 2 fill the 4 places
    refused = [r for r in responses if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 and r.json()["error"]["code"] == "queue_full" for r in refused)
    assert 'codesift_rejections_total{reason="queue_full"} 4.0' in metrics


def test_auth_scopes(tmp_path):
    from codesift.index import CodeIndex
    from codesift.serve.search_index import CodeIndexBackend

    encoder = HashEncoder(dim=64)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_text("def load_settings(path):\n    return open(path).read()\n")
    CodeIndex.create(tmp_path / "idx", encoder).update([tmp_path / "repo"], encoder)
    settings = ServeSettings(api_keys={READ_KEY: "read", ADMIN_KEY: "admin"})
    app = create_app(encoder, settings, lambda: CodeIndexBackend(CodeIndex.open(tmp_path / "idx", encoder=encoder)))

    async def main():
        async with client(app) as c:
            await wait_ready(c)

            def auth(key):
                return {"Authorization": f"Bearer {key}"}

            return {
                "none": await c.post("/embed", json={"inputs": "x"}),
                "wrong": await c.post("/embed", json={"inputs": "x"}, headers=auth("not-a-key-000000000")),
                "read": await c.post("/embed", json={"inputs": "x"}, headers=auth(READ_KEY)),
                "read_search": await c.post("/search", json={"query": "load settings"}, headers=auth(READ_KEY)),
                "read_admin": await c.post("/admin/index/update", json={}, headers=auth(READ_KEY)),
                "admin_admin": await c.post("/admin/index/update", json={}, headers=auth(ADMIN_KEY)),
                "health": await c.get("/healthz"), "ready": await c.get("/readyz"),
                "info_anon": await c.get("/info"),
            }

    r = asyncio.run(main())
    assert r["none"].status_code == 401 and r["none"].headers["WWW-Authenticate"].startswith("Bearer")
    assert r["wrong"].status_code == 401 and r["wrong"].json()["error"]["message"] == "unknown API key"
    assert r["read"].status_code == 200 and r["read_search"].status_code == 200
    assert r["read_admin"].status_code == 403
    assert r["read_admin"].json()["error"]["code"] == "admin_scope_required"
    assert r["admin_admin"].status_code == 200, r["admin_admin"].text
    assert r["health"].status_code == 200 and r["ready"].status_code == 200 and r["info_anon"].status_code == 401


async def wait_ready(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (r := await c.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.02)


def test_readiness_waits_for_warm_up_and_index():
    index_ready = threading.Event()
    encoder = GatedEncoder()
    encoder.gate.clear()  # the warm-up itself is held

    def load_index():
        index_ready.wait(10)
        return FakeBackend()

    app = create_app(encoder, ServeSettings(), load_index)

    async def main():
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as c:
                cold = (await c.get("/readyz")).json()
                alive = (await c.get("/healthz")).status_code
                encoder.gate.set()
                await asyncio.to_thread(app.state.service.batcher.warm.wait, 5)
                loading = (await c.get("/readyz")).json()
                search_early = await c.post("/search", json={"query": "anything"})
                index_ready.set()
                await wait_ready(c)
                info = (await c.get("/info")).json()
                return cold, alive, loading, search_early, info

    cold, alive, loading, search_early, info = asyncio.run(main())
    assert alive == 200
    assert cold == {"status": "unready", "reasons": ["encoder warming up", "index loading"]}
    assert loading["reasons"] == ["index loading"]
    assert search_early.status_code == 503 and search_early.headers["Retry-After"] == "1"
    assert info["index"] == {"kind": "fake"} and info["model"]["dimensions"] == 64


class FakeBackend:
    """Counts searches; the generation moves when `update` is called."""

    def __init__(self):
        self.generation, self.searches = 1, 0

    def search(self, query, vector, top_k, filters, hybrid):
        self.searches += 1
        time.sleep(0.02)
        return []

    def update(self, paths, encoder):
        self.generation += 1
        return {}

    def info(self):
        return {"kind": "fake"}


def test_search_results_are_cached_per_index_generation(tmp_path):
    from codesift.index import CodeIndex
    from codesift.serve.search_index import CodeIndexBackend

    encoder = HashEncoder(dim=64)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.py").write_text("def load_config(path):\n    '''Read the yaml config file.'''\n"
                                    "    return yaml.safe_load(open(path))\n")
    (repo / "net.py").write_text("def open_socket(host, port):\n    return socket.create_connection((host, port))\n")
    CodeIndex.create(tmp_path / "idx", encoder).update([repo], encoder)
    app = create_app(encoder, ServeSettings(),
                     lambda: CodeIndexBackend(CodeIndex.open(tmp_path / "idx", encoder=encoder)))
    query = {"query": "frobnicate the widgets", "top_k": 3, "filters": {"language": "python"}}

    async def main():
        async with client(app) as c:
            await wait_ready(c)
            first = (await c.post("/search", json=query)).json()
            second = (await c.post("/search", json=query)).json()
            other_filter = (await c.post("/search", json={**query, "filters": {"path": "net.py"}})).json()
            (repo / "widgets.py").write_text("def frobnicate_widgets(widgets):\n"
                                             "    '''frobnicate the widgets'''\n    return [w.frob() for w in widgets]\n")
            update = await c.post("/admin/index/update", json={})
            third = (await c.post("/search", json=query)).json()
            return first, second, other_filter, update.json(), third, (await c.get("/info")).json()

    first, second, other_filter, update, third, info = asyncio.run(main())
    assert not first["cached"] and second["cached"] and second["hits"] == first["hits"]
    assert not other_filter["cached"] and {h["path"] for h in other_filter["hits"]} == {"net.py"}
    assert update["generation"] == first["generation"] + 1 and update["stats"]["files_added"] == 1
    assert not third["cached"] and third["generation"] == update["generation"]
    assert third["hits"][0]["symbol"] == "frobnicate_widgets" and third["hits"][0]["path"] == "widgets.py"
    assert set(third["hits"][0]) >= {"path", "start_line", "end_line", "symbol", "language", "score"}
    assert info["index"]["generation"] == update["generation"] and info["index"]["config"]["m"] == 16


def test_identical_concurrent_searches_are_coalesced():
    backend = FakeBackend()
    app = create_app(HashEncoder(dim=64), ServeSettings(), lambda: backend)

    async def main():
        async with client(app) as c:
            await wait_ready(c)
            same = await asyncio.gather(*(c.post("/search", json={"query": "read a file"}) for _ in range(6)))
            return same, (await c.get("/metrics")).text

    same, metrics = asyncio.run(main())
    assert all(r.status_code == 200 for r in same)
    assert backend.searches == 1
    assert 'codesift_coalesced_total{kind="search"} 5.0' in metrics


def test_client_that_disconnects_has_its_text_dropped():
    encoder = GatedEncoder()
    app = create_app(encoder)
    with live_server(app) as (_, base):
        encoder.gate.clear()
        encoder.entered.clear()
        held = threading.Thread(target=lambda: httpx.post(f"{base}/embed", json={"inputs": "held"}, timeout=10))
        held.start()
        assert encoder.entered.wait(5)
        body = b'{"inputs": "abandoned text"}'
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:  # a client that sends, then hangs up
            raw.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            batcher, deadline = app.state.service.batcher, time.monotonic() + 10
            while ("document", "abandoned text") not in batcher._inflight:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        while ("document", "abandoned text") in batcher._inflight:  # the server noticed the closed connection
            assert time.monotonic() < deadline
            time.sleep(0.01)
        encoder.gate.set()
        held.join(10)
        metrics = httpx.get(f"{base}/metrics").text
    assert "abandoned text" not in encoder.seen and "held" in encoder.seen
    assert "codesift_dropped_total 1.0" in metrics
    assert 'codesift_rejections_total{reason="client_gone"} 1.0' in metrics


def test_client_that_disconnects_mid_body_is_counted_as_499(caplog):
    app = create_app(HashEncoder(dim=64))
    with live_server(app) as (_, base):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:  # promises 1000 bytes, sends 10, hangs up
            raw.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"inputs\":")
        deadline = time.monotonic() + 10
        while 'status="499"' not in (metrics := httpx.get(f"{base}/metrics").text):
            assert time.monotonic() < deadline, "the abandoned request was never counted"
            time.sleep(0.02)
    assert 'codesift_responses_total{route="embed",status="499"} 1.0' in metrics and 'status="500"' not in metrics
    assert 'codesift_rejections_total{reason="client_gone"} 1.0' in metrics
    assert "unexpected error" not in caplog.text


def test_index_update_with_a_bad_path_is_a_client_error(tmp_path):
    from codesift.index import CodeIndex, store
    from codesift.serve.search_index import CodeIndexBackend

    encoder = HashEncoder(dim=64)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_text("def alpha():\n    return 1\n")
    CodeIndex.create(tmp_path / "idx", encoder).update([tmp_path / "repo"], encoder)
    app = create_app(encoder, ServeSettings(),
                     lambda: CodeIndexBackend(CodeIndex.open(tmp_path / "idx", encoder=encoder)))

    async def main():
        async with client(app) as c:
            await wait_ready(c)
            return [await c.post("/admin/index/update", json={"paths": [str(tmp_path / "repo"), bad]})
                    for bad in (str(tmp_path / "missing"), "repo\0x", " ")]

    for response in asyncio.run(main()):
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_path"
        assert "paths[1]" in response.json()["error"]["message"]
    assert store.current_generation(tmp_path / "idx") == "g000001"  # nothing was updated


def test_sigterm_drains_open_requests_then_stops():
    encoder = GatedEncoder(delay=0.05)
    app = create_app(encoder, ServeSettings(max_batch_size=1, drain_seconds=10))
    results: list[int] = []
    with live_server(app) as (server, base):
        encoder.gate.clear()
        callers = [threading.Thread(target=lambda i=i: results.append(
            httpx.post(f"{base}/embed", json={"inputs": f"text {i}"}, timeout=10).status_code)) for i in range(4)]
        for t in callers:
            t.start()
        batcher, deadline = app.state.service.batcher, time.monotonic() + 10
        while len(batcher._inflight) < 4:  # all four are queued or in the encoder
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.handle_exit(signal.SIGTERM, None)
        assert app.state.service.unready_reasons() == ["shutting down"]
        time.sleep(0.3)  # uvicorn notices, closes the listener and waits for the open requests
        encoder.gate.set()
        for t in callers:
            t.join(10)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.post(f"{base}/embed", json={"inputs": "late"}, timeout=2)
    assert results == [200] * 4


def test_serve_command_starts_and_exits_cleanly_on_sigterm(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "codesift.cli", "serve", "--model", "hash:32", "--port",
                             str(port), "--api-key", f"{ADMIN_KEY}:admin"], stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env={**os.environ, "CODESIFT_MODEL": ""})
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            time.sleep(0.1)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/embeddings", json={"input": "hi"},
                       headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 32
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down gracefully
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert "Shutting down" in log and "stopped: every queued text was answered" in log


def test_the_shipped_model_is_the_default_anywhere(tmp_path, monkeypatch):
    from codesift.serve import command

    monkeypatch.chdir(tmp_path)  # not in the checkout: the checkout's models/default is found
    monkeypatch.delenv("CODESIFT_MODEL", raising=False)
    assert command.resolve_model_dir(None) == command.REPO_MODEL
    assert (command.REPO_MODEL / "encoder.json").is_file() and (command.REPO_MODEL / "README.md").is_file()


def test_missing_model_error_names_the_flag(tmp_path, monkeypatch):
    from codesift.serve import command

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODESIFT_MODEL", raising=False)
    monkeypatch.setattr(command, "REPO_MODEL", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="pass --model DIR"):
        command.resolve_model_dir(None)
    with pytest.raises(FileNotFoundError, match="--model /no/such: no such folder"):
        command.resolve_model_dir("/no/such")
    assert Path(command.DEFAULT_MODEL) == Path("models/static")


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_bench_serve_runs_end_to_end(tmp_path, capsys, client):
    from codesift.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "serve", "--model", "hash:32", "--batching", "on", "--concurrency", "2", "--duration",
                 "0.5", "--warmup", "0.2", "--soak", "1", "--rss-every", "0.25", "--bulk-docs", "4", "--client",
                 client, "--out", str(out)]) == 0
    import json

    report = json.loads(out.read_text())
    assert [(c["traffic"], c["concurrency"]) for c in report["cells"]] == [("query", 2), ("bulk", 2)]
    for cell in report["cells"]:
        assert cell["ok"] > 0 and cell["errors_5xx"] == 0 and cell["timeouts"] == 0 and not cell["other"]
        assert cell["p50_ms"] <= cell["p95_ms"] <= cell["p99_ms"]
    assert report["cells"][1]["texts_per_s"] == 4 * report["cells"][1]["req_per_s"]
    soak = report["soak"]
    assert soak["queries"]["ok"] > 0 and soak["bulk"]["ok"] > 0 and len(soak["rss_mb"]) >= 3
    assert report["server"]["model"]["dimensions"] == 32 and "| on | query | 2 |" in capsys.readouterr().err


def test_index_that_fails_to_load_is_reported_and_stops_the_server():
    def broken():
        raise FileNotFoundError("/nowhere: no index here")

    app = create_app(HashEncoder(dim=32), ServeSettings(), broken)
    called = threading.Event()
    app.state.service.on_index_failure = called.set

    async def main():
        async with client(app) as c:
            await asyncio.to_thread(called.wait, 5)
            return (await c.get("/readyz")).json(), await c.post("/search", json={"query": "x"})

    ready, search = asyncio.run(main())
    assert ready["reasons"] == ["index failed to load: FileNotFoundError: /nowhere: no index here"]
    assert search.status_code == 503 and search.json()["error"]["code"] == "index_failed"
