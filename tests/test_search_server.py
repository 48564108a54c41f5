"""The warm search server: the same output as a cold `codesift search`, kept state refreshed from the files, and
the client's fallback when no server answers."""

import io
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from codesift import launcher
from codesift.cli import main
from codesift.index import search_server

FIXTURE = Path(__file__).parent / "fixtures" / "repo_search" / "code"


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    path = launcher.socket_path()
    thread = threading.Thread(target=search_server.serve, args=(path, 30), daemon=True)
    thread.start()
    for _ in range(100):
        if path.exists():
            break
        time.sleep(0.05)
    monkeypatch.setenv("CODESIFT_SERVER", "on")
    yield path
    path.unlink(missing_ok=True)  # the thread ends with the test process


def cold(capsys, *args):
    code = main(["search", *args])
    return code, capsys.readouterr().out


def warm(capsys, *args):
    code = launcher.try_server(["search", *args])
    return code, capsys.readouterr().out


def test_warm_answers_what_a_cold_search_prints_and_sees_file_changes(server, tmp_path, capsys, monkeypatch):
    repo = Path(shutil.copytree(FIXTURE, tmp_path / "code"))
    args = ["reverse a string", str(repo), "--model", "hash:64", "--format", "json", "-k", "4"]
    monkeypatch.setenv("CODESIFT_SERVER", "off")
    expected = cold(capsys, *args)
    monkeypatch.setenv("CODESIFT_SERVER", "on")
    assert warm(capsys, *args) == expected == (0, expected[1]) and json.loads(expected[1])["results"]
    assert warm(capsys, *args) == expected  # kept model and index
    (repo / "solid.py").write_text("def cube_volume(side):\n    return side ** 3\n")
    code, out = warm(capsys, "cube_volume", str(repo), "--model", "hash:64", "--format", "json", "-k", "1")
    assert code == 0 and json.loads(out)["results"][0]["symbol"] == "cube_volume"
    monkeypatch.chdir(repo)  # relative paths are the client's
    code, out = warm(capsys, "cube_volume", ".", "--model", "hash:64", "--format", "json", "-k", "1")
    assert code == 0 and json.loads(out)["results"][0]["path"] == "solid.py"


def test_errors_come_back_as_the_command_reports_them(server, tmp_path, capsys):
    code = launcher.try_server(["search", "q", str(tmp_path / "missing"), "--model", "hash:64"])
    captured = capsys.readouterr()
    assert code == 2 and "no such file or folder" in captured.err and captured.out == ""
    assert launcher.try_server(["search", "--top-k", "zero"]) == 2  # argparse's error, the server survives
    assert "invalid int value" in capsys.readouterr().err
    code, out = warm(capsys, "reverse a string", str(FIXTURE), "--model", "hash:64", "-k", "1")
    assert code == 0 and out.startswith("web/slugify.js:")


def test_every_error_the_command_reports_comes_back_without_a_traceback(server, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a.py"
    a_file.write_text("x = 1\n")
    for args, message in ((["--queries", str(tmp_path), str(FIXTURE)], "Is a directory"),
                          (["q", str(FIXTURE), "--index", str(a_file / "idx")], "Not a directory")):
        code = launcher.try_server(["search", *args, "--model", "hash:64"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"query": "caf\xe9"}\n')))
    assert launcher.try_server(["search", "--queries", "-", str(FIXTURE)]) is None  # left to the command:
    assert main(["search", "--queries", "-", str(FIXTURE), "--model", "hash:64"]) == 2
    assert "-: not UTF-8 text" in capsys.readouterr().err
    assert warm(capsys, "reverse a string", str(FIXTURE), "--model", "hash:64")[0] == 0  # the server is still up


def test_malformed_requests_do_not_stop_the_server(server, capsys):
    import socket

    for raw in (b"[1, 2]", b'{"argv": "search"}', b'{"cwd": 3}', b"not json"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(server))
            conn.sendall(raw)
            conn.shutdown(socket.SHUT_WR)
            reply = conn.recv(1 << 16)
        assert reply == b"" or json.loads(reply)["code"] == 2
    code, out = warm(capsys, "reverse a string", str(FIXTURE), "--model", "hash:64", "-k", "1")
    assert code == 0 and out.startswith("web/slugify.js:")


def test_stop_ends_the_server(server):
    assert launcher.stop_server() is True
    for _ in range(100):
        if not server.exists():
            break
        time.sleep(0.05)
    assert not server.exists() and launcher.stop_server() is False


def test_no_server_means_a_cold_search(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CODESIFT_SERVER", "on")
    assert launcher.try_server(["search", "anything", "."]) is None  # nothing listens
    path = launcher.socket_path()
    path.parent.mkdir(parents=True)
    path.write_text("a stale socket file")
    assert launcher.try_server(["search", "anything", "."]) is None
    monkeypatch.setenv("CODESIFT_SERVER", "off")
    assert launcher.try_server(["search", "anything", "."]) is None
