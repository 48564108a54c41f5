"""The warm search server: `codesift search` answered by a resident process that keeps the model and the open
indexes, so a repeated search (what coding agents do) costs a socket round trip instead of Python's start-up and
imports (numpy, onnxruntime, faiss, pyarrow, pydantic: about a second on 2 cores, BENCHMARKS.md).

A cold `codesift search` starts the server in the background when it is done; later searches reach it through a
Unix socket in the cache folder (owner-only) and get exactly what the command prints, since the server runs the
same `search_command.run` over its kept state. Every search still refreshes the index from the files on disk. The
server exits after `IDLE_SECONDS` without a request, or when asked (`launcher.stop_server`); a socket left by a dead
server is replaced.
`CODESIFT_SERVER=off` turns it off (tests do).

The client side (`launcher.try_server`) imports only the standard library; this module is the server side.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from codesift.launcher import ENV_KEYS, SWITCH, socket_path

IDLE_SECONDS = 600


def start_in_background() -> None:
    """Start a server for this cache folder unless one answers already or the switch is off."""
    if os.environ.get(SWITCH, "on") == "off" or _answers(socket_path()):
        return
    subprocess.Popen([sys.executable, "-m", "codesift.index.search_server"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False


class Warm:
    """What the server keeps between searches: encoders by --model, open indexes by folder, the parser."""

    def __init__(self):
        self.encoders: dict[str | None, object] = {}
        self.indexes: dict[Path, object] = {}
        self._parser = None

    @property
    def parser(self):
        """The command line's parser, built once (14 ms a request otherwise)."""
        if self._parser is None:
            from codesift.cli import build_parser

            self._parser = build_parser()
        return self._parser

    def encoder(self, spec: str | None, load):
        if spec not in self.encoders:
            self.encoders[spec] = load(spec)
        return self.encoders[spec]

    def index(self, directory: Path, roots, encoder, refresh: bool, open_and_update):
        """(the kept index of `directory` refreshed from the files and other writers' commits, the update's report
        or None when nothing was refreshed)."""
        kept = self.indexes.get(directory)
        if kept is None or kept.encoder_info["revision"] != encoder.revision or not directory.is_dir():
            kept, report = open_and_update(directory, roots, encoder, refresh=refresh)
            self.indexes[directory] = kept
            return kept, report
        return kept, kept.update(roots or None, encoder) if refresh else None


def serve(path: Path, idle_seconds: float = IDLE_SECONDS) -> None:
    """Answer search requests on `path` until idle for `idle_seconds`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _answers(path):
        return  # another server got there first
    path.unlink(missing_ok=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave through `finally`: the socket goes too
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(16)
        server.settimeout(idle_seconds)
        warm = Warm()
        try:
            while True:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    return
                with conn:
                    conn.settimeout(None)
                    try:
                        request = json.loads(_read_all(conn))
                    except (OSError, ValueError):  # a probe (`_answers`) or a client that left mid-request
                        continue
                    if isinstance(request, dict) and request.get("stop"):
                        conn.sendall(json.dumps({"stopped": True}).encode())
                        return
                    reply = answer(request, warm) if _well_formed(request) else {
                        "code": 2, "stdout": "", "stderr": "codesift search server: not a search request\n"}
                    with contextlib.suppress(OSError):  # the client may be gone
                        conn.sendall(json.dumps(reply).encode())
        finally:
            path.unlink(missing_ok=True)


def _well_formed(request) -> bool:
    return (isinstance(request, dict) and isinstance(request.get("argv"), list)
            and all(isinstance(a, str) for a in request["argv"]) and isinstance(request.get("cwd"), str)
            and isinstance(request.get("env", {}), dict) and isinstance(request.get("stdin", ""), str))


def answer(request: dict, warm: Warm) -> dict:
    """Run one `codesift search` request (argv, cwd, env, stdin) over the kept state; its exit code and output."""
    from codesift.cli import USER_ERRORS, user_error_message
    from codesift.index import search_command
    from codesift.log import setup_logging

    out, err = io.StringIO(), io.StringIO()
    saved_env = {key: os.environ.get(key) for key in ENV_KEYS}
    cwd = os.getcwd()
    try:
        os.chdir(request["cwd"])
        for key in ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update({k: v for k, v in request.get("env", {}).items() if k in ENV_KEYS})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.stdin = io.StringIO(request.get("stdin", ""))
            try:
                args = warm.parser.parse_args(request["argv"])
                setup_logging(args.log_level)
                code = search_command.run(args, warm=warm)
            except SystemExit as e:  # argparse's usage errors
                code = e.code if isinstance(e.code, int) else 2
            except USER_ERRORS as e:  # reported as `codesift.cli.main` reports them
                logging.getLogger("codesift.search").error("%s", user_error_message(e))
                code = 2
            except Exception:  # one bad request must not take the server down
                traceback.print_exc()
                code = 1
    finally:
        sys.stdin = sys.__stdin__
        os.chdir(cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    serve(socket_path())
