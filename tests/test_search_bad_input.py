"""`codesift search` and `codesift index` given bad input (issue 24, section 5): each case either works or stops
with exit status 2 and one clear message; none loses an index's folders or hangs."""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from codesift.cli import main
from codesift.index import CodeIndex, store
from codesift.runtime.fake import HashEncoder

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


def built_twice(repo: Path, index: Path, capsys) -> None:
    """An index with two generations, as any index that has been updated once has."""
    assert run(capsys, "index", "build", str(repo), "--index", str(index), *HASH)[0] == 0
    (repo / "solid.py").write_text("def cube_volume(side):\n    return side ** 3\n")
    assert run(capsys, "index", "update", "--index", str(index), *HASH)[0] == 0
    assert store.current_generation(index) == "g000002" and (index / "g000001").is_dir()


@pytest.mark.parametrize("damage", ["truncated chunks", "garbage manifest", "missing ids", "missing generation",
                                    "CURRENT not utf-8"])
def test_a_damaged_index_is_rebuilt_from_the_folders_it_recorded(repo, tmp_path, capsys, damage):
    index = tmp_path / "idx"
    built_twice(repo, index, capsys)
    current = index / "g000002"
    if damage == "truncated chunks":
        (current / "chunks.parquet").write_bytes((current / "chunks.parquet").read_bytes()[:100])
    elif damage == "garbage manifest":
        (current / "manifest.json").write_text("garbage")
    elif damage == "missing ids":
        (current / "vectors" / "ids.npy").unlink()
    elif damage == "missing generation":
        (index / "CURRENT").write_text("g000007\n")
    else:
        (index / "CURRENT").write_bytes(b"\xff\xfe")
    code, lines, err = run(capsys, "search", "cube_volume side", "--index", str(index), *HASH, "--format", "json")
    assert code == 0 and f"rebuilding it from {repo}" in err and results(lines)[0]["symbol"] == "cube_volume"
    assert CodeIndex.open(index).roots == {"code": str(repo)}


def test_a_damaged_index_that_records_no_folders_is_an_error(repo, tmp_path, capsys):
    index = tmp_path / "idx"
    assert run(capsys, "index", "build", str(repo), "--index", str(index), *HASH)[0] == 0
    (index / "g000001" / "manifest.json").write_text("garbage")
    code, lines, err = run(capsys, "search", "q", "--index", str(index), *HASH)
    assert code == 2 and "damaged and records no folders, and no folders were given" in err
    assert store.current_generation(index) == "g000001"  # nothing committed over it
    assert run(capsys, "index", "build", str(repo), "--index", str(index), *HASH)[0] == 0  # naming them fixes it


def test_an_index_folder_that_holds_no_index_is_an_error(repo, tmp_path, capsys):
    missing = tmp_path / "idx-typo"
    for command in (["search", "q"], ["index", "update"]):
        code, lines, err = run(capsys, *command, "--index", str(missing), *HASH)
        assert code == 2 and lines == [] and f"{missing}: no index here" in err and not missing.exists()


def test_a_special_gitignore_is_skipped_not_read(repo, capsys):
    """A FIFO would block the walk forever, a link to /dev/zero would read until memory runs out."""
    os.mkfifo(repo / ".gitignore")
    (repo / "web").joinpath(".gitignore").symlink_to("/dev/zero")
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(
        run(capsys, "search", "slug", str(repo), *HASH, "--format", "json")), daemon=True)
    thread.start()
    thread.join(60)
    code, lines, err = outcome[0]
    assert code == 0 and results(lines) and "'special-file': 2" in err


def test_deeply_nested_folders_are_walked(repo, capsys):
    folders = [repo / ("d/" * n) for n in range(1, 1201)]
    for folder in folders:  # one level at a time: os.makedirs and shutil.rmtree recurse
        folder.mkdir()
    deep = folders[-1] / "deep.py"
    deep.write_text("def deepest_function():\n    return 'bottom'\n")
    try:
        code, lines, _ = run(capsys, "search", "deepest_function bottom", str(repo), *HASH, "--format", "json")
        assert code == 0 and results(lines)[0]["path"] == "d/" * 1200 + "deep.py"
    finally:
        deep.unlink()
        for folder in reversed(folders):
            folder.rmdir()


class CountingEncoder(HashEncoder):
    def __init__(self):
        super().__init__(64)
        self.texts = 0

    def encode(self, texts, kind="document"):
        self.texts += len(texts) if kind == "document" else 0
        return super().encode(texts, kind)


def test_concurrent_first_searches_embed_once_and_commit_once(repo, tmp_path):
    """Each update waits on the folder's lock; the ones after the first find its generation and reuse it."""
    encoder = CountingEncoder()
    directory = tmp_path / "idx"
    indexes = [CodeIndex.open_or_create(directory, encoder) for _ in range(3)]  # all fresh: nothing committed yet
    threads = [threading.Thread(target=index.update, args=([repo], encoder)) for index in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert store.current_generation(directory) == "g000001" and [i.generation for i in indexes] == [1, 1, 1]
    assert encoder.texts == len(indexes[0].chunks) > 10
