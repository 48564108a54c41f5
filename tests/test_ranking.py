"""The ranking pipeline's rules, each on a small repository written here (weightless hashing encoder)."""

import json
from pathlib import Path

import numpy as np
import pytest

from codesift.cli import main
from codesift.index import CodeIndex
from codesift.index.chunking import chunk_file
from codesift.ranking import search
from codesift.ranking.paths import path_kind
from codesift.ranking.pipeline import RankingSettings, diversify
from codesift.ranking.query import understand
from codesift.runtime.fake import HashEncoder

ENC = HashEncoder(64)

USES = "\n\n".join(f"def use_{i}(call):\n    info = CallInfo(call)\n    return CallInfo.from_call(info)"
                   for i in range(6))
DEFINES = '''class CallInfo:
    """Result of one call."""

    def __init__(self, call):
        self.call = call

    @classmethod
    def from_call(cls, call):
        return cls(call)
'''
PARSER = "\n\n".join(f"def parse_header_{i}(line):\n    # parse one header line of a request\n    return line.split(':')"
                     for i in range(6))


def build(root: Path, files: dict[str, str]) -> CodeIndex:
    for rel, text in files.items():
        (root / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "repo" / rel).write_text(text)
    index = CodeIndex.create(root / "idx", ENC)
    index.update([root / "repo"], ENC)
    return index


@pytest.mark.parametrize("text,kind,names", [
    ("CallInfo", "symbol", ("CallInfo",)),
    ("try_get_value", "symbol", ("try_get_value",)),
    ("Sinatra::Base", "symbol", ("Base", "Sinatra::Base")),
    ("ProxyBalancer.pick()", "symbol", ("pick", "ProxyBalancer.pick")),
    ("session", "text", ()),
    ("where is parseArgs called", "text", ("parseArgs",)),
    ("retry a request after a connection reset", "text", ()),
])
def test_query_kinds(text, kind, names):
    query = understand(text)
    assert (query.kind, query.names) == (kind, names)


def test_identifier_query_finds_the_definition_first(tmp_path):
    """BM25 alone ranks the six functions that use CallInfo twice above the class that defines it once."""
    index = build(tmp_path, {"runner.py": USES, "reports.py": DEFINES})
    hits = search(index, ["CallInfo"], 3, encoder=ENC)[0]
    assert (hits[0].path, hits[0].symbol, hits[0].kind) == ("reports.py", "CallInfo", "class")
    plain = search(index, ["CallInfo"], 3, encoder=ENC, settings=RankingSettings(definition=0))[0]
    assert plain[0].path == "runner.py"


def test_tests_and_examples_are_weighted_down_never_hidden(tmp_path):
    code = "def parse_header(line):\n    return line.split(':')\n"
    index = build(tmp_path, {"tests/test_http.py": code, "examples/http.py": code, "http.py": code})
    paths = [h.path for h in search(index, ["parse header"], 3, encoder=ENC)[0]]
    assert paths[0] == "http.py" and set(paths) == {"http.py", "tests/test_http.py", "examples/http.py"}
    assert [path_kind(p) for p in ("tests/test_http.py", "src/app.test.ts", "FooTest.java", "vendor/x/y.go",
                                   "lib/compat.py", "api.pb.go", "src/app.py")] == \
           ["test", "test", "test", "vendored", "compat", "generated", ""]


UNRELATED = {f"util{i}.py": f"def helper_{i}(x):\n    return x * {i}\n" for i in range(4)}


def test_one_file_does_not_fill_the_page_unless_it_deserves_it(tmp_path):
    other = "def parse_header(line):\n    # parse one header line of a request\n    return line.split(':')\n"
    index = build(tmp_path, {"headers.py": PARSER, "other.py": other, **UNRELATED})
    paths = [h.path for h in search(index, ["parse header line"], 4, encoder=ENC)[0]]
    assert "other.py" in paths and paths[0] == "headers.py"
    crowded = [h.path for h in search(index, ["parse header line"], 4, encoder=ENC,
                                      settings=RankingSettings(same_file=0))[0]]
    assert crowded.count("headers.py") == 4
    scores = np.array([5.0, 4.9, 4.8, 4.0])
    assert diversify(np.array(["a", "a", "a", "b"]), scores.copy(), 3, 1.5).tolist() == [0, 3, 1]
    assert diversify(np.array(["a", "a", "a", "b"]), scores.copy(), 3, 0.0).tolist() == [0, 1, 2]


def test_files_mode_gives_one_hit_per_file(tmp_path):
    index = build(tmp_path, {"headers.py": PARSER, "other.py": "def parse_header(line):\n    return line\n",
                             "unrelated.py": "def area(r):\n    return 3.14 * r * r\n"})
    hits = search(index, ["parse header line"], 5, encoder=ENC, files=True)[0]
    assert [h.path for h in hits][:2] == ["headers.py", "other.py"] and len({h.path for h in hits}) == len(hits)
    assert hits[0].symbol.startswith("parse_header_") and hits[0].start_line >= 1


def test_file_level_evidence_lifts_chunks_of_the_file_about_the_query(tmp_path):
    """Two identical functions: the one whose file is otherwise about the query ranks first."""
    same = "def handle(x):\n    return x\n"
    about = same + "\n\ndef tls_handshake():\n    return 'tls handshake certificate'\n" * 1
    index = build(tmp_path, {"a.py": same + "\n\ndef area():\n    return 1\n", "tls.py": about})
    hits = search(index, ["handle tls certificate"], 4, encoder=ENC)[0]
    assert hits[0].path == "tls.py"
    level = index.file_level()
    assert level.vectors.shape == (2, ENC.dim) and np.allclose(np.linalg.norm(level.vectors, axis=1), 1)


def test_doc_comments_belong_to_their_definition():
    go = "package p\n\n// Next returns an upstream target\n// using round-robin.\nfunc Next() int {\n\treturn 1\n}\n"
    chunks = chunk_file("p.go", go, "go")
    assert [(c.symbol, c.start_line, c.end_line) for c in chunks if c.kind != "window"] == [("Next", 3, 7)]
    java = "class A {\n  /** Adds one. */\n  @Override\n  int inc(int x) { return x + 1; }\n}\n"
    method = next(c for c in chunk_file("A.java", java, "java") if c.kind == "method")
    assert (method.start_line, method.end_line) == (2, 4)


def test_embedded_text_names_the_file_and_symbol():
    chunk = next(c for c in chunk_file("pkg/tmp.py", DEFINES, "python") if c.symbol == "CallInfo.from_call")
    assert chunk.embedding_text.startswith("pkg/tmp.py CallInfo.from_call\n") and chunk.text in chunk.embedding_text


def test_search_cli_prints_what_the_library_ranks(tmp_path, capsys, monkeypatch):
    """`codesift search` and the eval harness's `search` system share one path: same hits, same order."""
    from codesift.eval.repo_eval import CodesiftSearch

    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    index = build(tmp_path, {"runner.py": USES, "reports.py": DEFINES, "headers.py": PARSER})
    system = CodesiftSearch("hash:64")
    system.index(tmp_path / "repo")
    for query in ("CallInfo", "parse header line"):
        assert main(["search", query, str(tmp_path / "repo"), "--model", "hash:64", "--format", "json"]) == 0
        printed = json.loads(capsys.readouterr().out)["results"]
        assert [(h["path"], h["start_line"], h["symbol"]) for h in printed] == \
               [(h["path"], h["start_line"], h["symbol"]) for h in system.search(query, 10)]
        assert [h.path for h in search(index, [query], 10, encoder=ENC)[0]] == [h["path"] for h in printed]
