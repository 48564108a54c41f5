"""The `codesift` entry point: a search goes to the warm search server when one runs (`index.search_server`),
everything else (and a search with no server) to `codesift.cli`. Standard library only, so that path starts in
tens of milliseconds."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
from pathlib import Path

SWITCH = "CODESIFT_SERVER"  # 'off': never use or start the warm search server
ENV_KEYS = ("CODESIFT_MODEL", "CODESIFT_CACHE", "CODESIFT_BENCHMARKS")  # what a search reads from the environment
SOCKET_VERSION = 1  # bump when a request's or an answer's shape changes


def socket_path() -> Path:
    """Where this user's server listens: in the cache folder (`CODESIFT_CACHE`, else ~/.cache/codesift), named
    for this codesift's version so an upgraded install never talks to an old server."""
    from codesift import __version__

    base = Path(os.environ.get("CODESIFT_CACHE") or Path.home() / ".cache" / "codesift").expanduser()
    return base / f"search-{__version__}-{SOCKET_VERSION}.sock"


def stop_server() -> bool:
    """Ask this cache folder's server to exit; False when none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(socket_path()))
            conn.sendall(json.dumps({"stop": True}).encode())
            conn.shutdown(socket.SHUT_WR)
            return bool(conn.recv(1 << 10))
        except OSError:
            return False


def try_server(argv: list[str]) -> int | None:
    """Send a search to the running server and print its answer; None when no server answers."""
    if os.environ.get(SWITCH, "on") == "off":
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(socket_path()))
        except OSError:
            return None
        stdin = _stdin_text() if "-" in argv and "--queries" in argv else ""
        if stdin is None:
            return None  # not UTF-8: the command itself reads it again and says so
        request = {"argv": argv, "cwd": os.getcwd(), "stdin": stdin,
                   "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ}}
        try:
            conn.sendall(json.dumps(request).encode())
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)
            reply = json.loads(b"".join(chunks))
        except (OSError, ValueError):
            sys.stdin = io.StringIO(stdin) if stdin else sys.stdin
            return None  # the server went away mid-request: answer it here instead
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    return int(reply["code"])


def _stdin_text() -> str | None:
    """All of stdin as text; None, with stdin put back for the command to read, when it is not UTF-8."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
        return None


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["search"]:
        code = try_server(argv)
        if code is not None:
            return code
    from codesift.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
