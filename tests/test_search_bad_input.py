"""`codesift search` and `codesift index` given bad input (issue 24, section 5): each case either works or stops
with exit status 2 and one clear message; none loses an index's folders or hangs."""

import json
import os
import shutil
from pathlib import Path

import pytest

from codesift.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "repo_search" / "code"
HASH = ["--model", "hash:64"]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CODESIFT_MODEL", raising=False)
    return Path(shutil.copytree(FIXTURE, tmp_path / "code"))


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def results(lines: list[str]) -> list[dict]:
    (line,) = lines
    return json.loads(line)["results"]


def test_a_query_with_bytes_that_are_not_utf8_is_searched(repo, capsys):
    """A shell passes such bytes as lone surrogates, which the tokenizer refused with a TypeError."""
    query = os.fsdecode(b"reverse a \xed\xa0\x80string")
    code, lines, _ = run(capsys, "search", query, str(repo), "--format", "json")  # the shipped ONNX model
    assert code == 0 and json.loads(lines[0])["query"] == "reverse a \ufffd\ufffd\ufffdstring" and results(lines)
    queries = repo.parent / "q.jsonl"
    queries.write_text('{"query": "reverse \\ud800 a string"}\n{"query": "circle area"}\n')
    code, lines, _ = run(capsys, "search", "--queries", str(queries), str(repo))  # text output prints the queries
    assert code == 0 and lines[0] == "== reverse \ufffd a string"


def test_a_file_name_that_is_not_utf8_is_indexed_under_an_escaped_name(repo, capsys):
    (repo / os.fsdecode(b"caf\xe9.py")).write_text("def brew_coffee():\n    return 'espresso'\n")
    code, lines, _ = run(capsys, "search", "brew_coffee espresso", str(repo), *HASH, "--format", "json", "-k", "1")
    assert code == 0 and results(lines)[0]["path"] == "caf\\xe9.py"


def test_top_k_beyond_the_index_size_returns_every_chunk(repo, capsys):
    code, lines, _ = run(capsys, "search", "string", str(repo), *HASH, "--format", "json", "-k", "1000000000")
    assert code == 0 and 10 < len(results(lines)) < 100


def test_paths_of_the_wrong_kind_are_errors_not_tracebacks(repo, capsys):
    a_file = repo / "geometry.py"
    for args, message in ((["--queries", str(repo)], "Is a directory"),
                          (["q", str(repo), "--cache-dir", str(a_file)], "the cache folder (--cache-dir, $CODESIFT_"),
                          (["q", str(repo), "--index", str(a_file)], f"--index {a_file}: not a folder"),
                          (["q", str(repo), "--index", str(a_file / "idx")], "Not a directory")):
        code, lines, err = run(capsys, "search", *args, *HASH)
        assert code == 2 and lines == [] and message in err and "Traceback" not in err


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_refused(repo, capsys, query):
    code, lines, err = run(capsys, "search", query, str(repo), *HASH)
    assert code == 2 and lines == [] and "the QUERY is empty" in err
