"""CodeIndex: chunking a folder, incremental updates, filters, hybrid fusion, crashes, corruption, locking, Qdrant."""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from codesift.config import IndexConfig
from codesift.index import (
    CodeIndex, Filters, IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError,
)
from codesift.index import store
from codesift.index.chunking import chunk_file
from codesift.ranking import search
from codesift.runtime.fake import HashEncoder

ENC = HashEncoder(64)

GEOMETRY = '''\
"""Geometry helpers."""
import math

UNIT = 1.0


def circle_area(radius):
    """Area of a circle with the given radius."""
    return math.pi * radius * radius


class Vector:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def dot(self, other):
        """Dot product with another vector."""
        return self.x * other.x + self.y * other.y
'''
SLUG = '''\
// Turn titles into URL slugs.
export function slugify(title) {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

export function reverseString(s) {
  return s.split("").reverse().join("");
}
'''
SERVER = '''\
package server

// ListenAndServe starts the HTTP server on the given address.
func ListenAndServe(addr string) error {
	return nil
}
'''


def make_repo(root: Path) -> Path:
    files = {"geo/geometry.py": GEOMETRY, "web/slug.js": SLUG, "srv/server.go": SERVER,
             "README.md": "# Demo\n\nA demo repository for search tests.\n", "notes.txt": "plain text notes\n",
             "empty.py": "", "node_modules/dep/index.js": "function vendored() {}\n",
             ".hidden/secret.py": "def secret(): pass\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "logo.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")  # binary under a code name
    (root / "latin1.py").write_bytes("caf\xe9 = 1\n".encode("latin-1"))  # not UTF-8
    return root


def chunk_keys(index: CodeIndex) -> set[tuple]:
    c = index.chunks.c
    return set(zip(c["repo"], c["path"], c["start_line"].tolist(), c["end_line"].tolist(), c["content_hash"]))


def top(index: CodeIndex, query: str, **kw) -> list:
    return [(h.path, h.start_line, h.symbol) for h in index.search([query], 5, encoder=ENC, **kw)[0]]


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "demo")


@pytest.fixture
def built(repo, tmp_path):
    index = CodeIndex.open_or_create(tmp_path / "idx", ENC)
    index.update([repo], ENC)
    return index


def test_chunks_are_extraction_units_plus_windows():
    chunks = chunk_file("geo/geometry.py", GEOMETRY, "python", window_lines=40)
    got = [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks]
    assert ("function", "circle_area", 7, 9) in got
    # A class is its header; each method is a chunk of its own; no line is in two chunks.
    assert ("class", "Vector", 12, 12) in got and ("method", "Vector.dot", 16, 18) in got
    assert ("window", "", 1, 4) in got  # docstring, import and constant outside any unit
    lines = GEOMETRY.splitlines()
    covered = [n for c in chunks for n in range(c.start_line, c.end_line + 1)]
    assert len(covered) == len(set(covered))
    assert all(n in covered for n, line in enumerate(lines, 1) if line.strip())
    windows = chunk_file("notes.txt", "\n".join(f"line {i}" for i in range(95)), "text", window_lines=40)
    assert [(c.start_line, c.end_line) for c in windows] == [(1, 40), (41, 80), (81, 95)]


def test_build_skips_binary_hidden_vendored_and_counts_reasons(built, repo):
    paths = set(built.chunks.c["path"])
    assert paths == {"geo/geometry.py", "web/slug.js", "srv/server.go", "README.md", "notes.txt"}
    assert ("demo", "empty.py") in built.files  # indexed, no chunks
    report = built.update([repo], ENC)
    assert report.committed is False and report.files_seen == 8 and report.files_unchanged == 6
    assert report.skipped == {"binary": 1, "invalid-utf8": 1}  # remembered: not re-read while unchanged
    fresh = CodeIndex.create(built.directory.parent / "other", ENC)
    skipped = fresh.update([repo], ENC).skipped
    assert skipped == {"binary": 1, "invalid-utf8": 1}
    assert top(built, "area of a circle radius")[0] == ("geo/geometry.py", 7, "circle_area")


def test_incremental_update_equals_a_fresh_build(built, repo, tmp_path):
    (repo / "web/slug.js").write_text(SLUG.replace("reverseString", "mirrorString"))
    (repo / "srv/server.go").unlink()
    (repo / "geo/moved.py").write_text((repo / "geo/geometry.py").read_text())  # same code, new path
    (repo / "geo/geometry.py").unlink()
    report = built.update([repo], ENC)
    assert report.files_changed == 1 and report.files_removed == 2 and report.files_added == 1
    # The renamed function, and moved.py: a chunk is embedded under a line naming its file, so moved code is read
    # in its new place; the unchanged files reuse their vectors.
    moved = len(chunk_file("geo/moved.py", GEOMETRY, "python"))
    assert report.chunks_embedded == 1 + moved
    fresh = CodeIndex.create(tmp_path / "fresh", ENC)
    fresh.update([repo], ENC)
    assert chunk_keys(built) == chunk_keys(fresh)
    for query in ("area of a circle", "mirror string", "start the http server"):
        assert top(built, query) == top(fresh, query)
    reopened = CodeIndex.open(built.directory, encoder=ENC)
    assert reopened.generation == built.generation == 2 and chunk_keys(reopened) == chunk_keys(fresh)
    assert not any(p.startswith("srv/") for p in reopened.chunks.c["path"])


def test_touched_files_are_rehashed_not_rechunked(built, repo):
    os.utime(repo / "web/slug.js", ns=(1, 1))
    report = built.update([repo], ENC)
    assert report.files_unchanged == 6 and report.chunks_added == report.chunks_removed == 0
    assert report.committed  # the new mtime is recorded so the next update skips the read


def test_a_rewrite_that_keeps_size_and_mtime_is_seen(built, repo):
    """Editors, rsync -t and `touch -r` can put the mtime back; the ctime still moves, so results stay current."""
    path = repo / "web/slug.js"
    before = path.stat()
    path.write_text(SLUG.replace("slugify", "slugger"))  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    if after.st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this filesystem's ctime did not move")
    report = built.update([repo], ENC)
    assert report.files_changed == 1 and "slugger" in {h[2] for h in top(built, "slugger text")}
    assert built.update([repo], ENC).files_unchanged == 6  # recorded: the next update reads nothing


def test_tombstones_trigger_a_graph_rebuild(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    for i in range(10):
        (root / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    index = CodeIndex.create(tmp_path / "idx", ENC, IndexConfig(rebuild_tombstone_fraction=0.25))
    index.update([root], ENC)
    (root / "m0.py").unlink()
    assert index.update([root], ENC).graph_rebuilt is False  # 1 of 10 dead
    for i in (1, 2):
        (root / f"m{i}.py").unlink()
    assert index.update([root], ENC).graph_rebuilt is True  # 3 of 10 dead > 25%
    assert index.backend.tombstones == 0 and len(index.backend) == 7
    assert {h.path for h in index.search(["f"], 10, encoder=ENC)[0]} == {f"m{i}.py" for i in range(3, 10)}


def test_filters_by_repo_language_and_glob(built, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "area.py").write_text("def square_area(side):\n    return side * side\n")
    built.update([other], ENC)  # a second root joins the index; the first keeps its chunks
    assert set(built.roots) == {"demo", "other"}
    assert {h.repo for h in built.search(["area"], 20, encoder=ENC, filters=Filters(repos=("other",)))[0]} == {"other"}
    py = built.search(["area"], 20, encoder=ENC, filters=Filters(languages=("python",)))[0]
    assert py and {h.language for h in py} == {"python"}
    web = built.search(["string"], 20, encoder=ENC, filters=Filters(paths=("web/*",)))[0]
    assert web and {h.path for h in web} == {"web/slug.js"}
    by_name = built.search(["area"], 20, encoder=ENC, filters=Filters(paths=("*.go", "geometry.py")))[0]
    assert {h.path for h in by_name} == {"srv/server.go", "geo/geometry.py"}
    assert built.search(["x"], 5, encoder=ENC, filters=Filters(languages=("cobol",))) == [[]]


def test_a_repeated_filter_hands_the_backend_the_same_ids_array(built, monkeypatch):
    """The vector backend caches a filter's slots and bitmap by the identity of the ids array (at 1M chunks
    rebuilding them cost 25 ms a search): the same filter must come back as the same array, and a new generation
    of the index as a new one."""
    seen = []
    search = built.backend.search
    monkeypatch.setattr(built.backend, "search", lambda v, k, ef, allowed=None: seen.append(allowed) or
                        search(v, k, ef, allowed))
    python = Filters(languages=("python",))
    for hybrid in (False, False, True):
        built.search(["area"], 3, encoder=ENC, filters=python, hybrid=hybrid)
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2] and len(seen[0]) > 0
    built.search(["area"], 3, encoder=ENC, filters=Filters(languages=("go",)))
    assert seen[3] is not seen[0]
    built.generation += 1  # what a committed update does
    built.search(["area"], 3, encoder=ENC, filters=python, hybrid=False)
    assert seen[4] is not seen[0]
    np.testing.assert_array_equal(seen[4], seen[0])


def test_hybrid_with_all_candidates_equals_the_eval_harness_rrf(built):
    from codesift.eval.systems import BM25System, rrf

    config = IndexConfig(hybrid=True, fusion="rrf", bm25_weight=0.5, dense_weight=1.0, hybrid_candidates=1000)
    index = CodeIndex.open(built.directory, config)
    texts = list(index.chunks.c["text"])
    bm25 = BM25System()
    bm25.index(texts)
    vectors = index.backend.vectors(index.chunks.c["id"])
    for query in ("reverse a string", "circle area radius", "http server address"):
        fused = rrf([ENC.encode([query]).vectors @ vectors.T, bm25.score([query])], [1.0, 0.5])[0]
        expected = [int(i) for i in index.chunks.c["id"][np.lexsort((index.chunks.c["id"], -fused))[:5]]]
        assert [h.id for h in index.search([query], 5, encoder=ENC)[0]] == expected


@pytest.mark.parametrize("language", [None, "python"])
def test_zscore_hybrid_with_all_candidates_equals_the_eval_harness(built, language):
    """The default fusion: with every chunk a candidate, the index ranks (and scores) as the harness's
    hybrid-zscore system over its own BM25, over the chunks the filter keeps (BM25 statistics stay the whole
    index's)."""
    from codesift.eval.systems import zscore_fusion

    index = CodeIndex.open(built.directory, IndexConfig(hybrid=True, hybrid_candidates=1000))
    assert (index.config.fusion, index.config.dense_weight, index.config.bm25_weight) == ("zscore", 0.7, 0.3)
    keep = np.ones(len(index.chunks), bool) if language is None else index.chunks.c["language"] == language
    ids = index.chunks.c["id"][keep]
    vectors = index.backend.vectors(ids)
    filters = Filters(languages=(language,)) if language else None
    for query in ("reverse a string", "circle area radius", "http server address"):
        lexical = index.bm25().scores(query)[None, keep]
        fused = zscore_fusion([ENC.encode([query]).vectors @ vectors.T, lexical], [0.7, 0.3], top=1000)[0]
        order = np.lexsort((ids, -fused))[:5]
        hits = index.search([query], 5, encoder=ENC, filters=filters)[0]
        assert [h.id for h in hits] == [int(i) for i in ids[order]]
        assert [h.score for h in hits] == pytest.approx(fused[order].tolist(), abs=1e-5)


@pytest.mark.parametrize("positives", [0, 3, 40, 900])
@pytest.mark.parametrize("filtered", [False, True])
def test_bm25_reference_from_the_candidates_equals_the_top_of_every_score(positives, filtered):
    """z-score fusion standardizes BM25 by the best `top` searchable scores, zeros included; the index reads them off
    the candidates instead of partitioning every chunk's score. Same values, with few or many positive scores, a
    filter, and fewer searchable chunks than `top`."""
    from codesift.eval.systems import top_scores
    from codesift.index.lexical import top_candidates, top_reference

    rng = np.random.default_rng(positives)
    scores = np.zeros(1000, np.float32)
    scores[rng.choice(1000, positives, replace=False)] = rng.gamma(2.0, 3.0, positives).astype(np.float32)
    mask = rng.random(1000) < (0.05 if filtered else 1.0)
    for top in (10, 100):
        candidates = top_candidates(scores, max(top, 20), mask)
        expected = np.sort(top_scores(scores[mask], top))
        got = np.sort(top_reference(scores, candidates, top, int(mask.sum())))
        np.testing.assert_array_equal(got, expected)


def test_bm25_is_saved_with_each_generation_and_searched_without_rebuilding(built, repo, tmp_path, monkeypatch):
    """A process that opens the index reads the generation's BM25 instead of rebuilding it (50 s over 294k chunks,
    every `codesift search`), with the same results; an update saves the new generation's; an index whose default
    is dense search saves none and builds BM25 in memory when a search asks for hybrid."""
    from codesift.index.lexical import BM25Index

    queries = ["circle area radius", "reverse a string", "http server address"]
    expected = built.search(queries, 5, encoder=ENC, hybrid=True)
    generation = built.directory / store.generation_name(built.generation)
    assert "bm25/weights.npy" in store.read_manifest(generation)["files"]  # checksummed like the rest

    def no_build(*args, **kwargs):
        raise AssertionError("BM25 rebuilt")

    with monkeypatch.context() as patch:
        patch.setattr(BM25Index, "build", no_build)
        assert CodeIndex.open(built.directory).search(queries, 5, encoder=ENC, hybrid=True) == expected
    (repo / "geo" / "more.py").write_text("def sphere_volume(radius):\n    return 4 / 3 * 3.14 * radius ** 3\n")
    built.update([repo], ENC)
    with monkeypatch.context() as patch:
        patch.setattr(BM25Index, "build", no_build)
        assert search(CodeIndex.open(built.directory), ["sphere volume"], 1, encoder=ENC)[0][0].path == "geo/more.py"

    dense = CodeIndex.open_or_create(tmp_path / "dense", ENC, IndexConfig(hybrid=False))
    dense.update([repo], ENC)
    assert not (dense.directory / store.generation_name(dense.generation) / "bm25").exists()
    reopened = CodeIndex.open(dense.directory)
    assert [h.path for h in search(reopened, ["sphere volume"], 1, encoder=ENC)[0]] == ["geo/more.py"]


def test_chunk_texts_are_read_on_first_use_and_never_lost(built, repo):
    """An opened index reads its chunk texts (most of chunks.parquet) only when something needs them: a search with
    the saved BM25 does not, a snippet does, and an update carries every text over into the next generation; the
    open file still serves them after a later writer removed the generation (Linux)."""
    texts = dict(zip(built.chunks.c["id"].tolist(), built.chunks.c["text"]))
    opened = CodeIndex.open(built.directory)
    hit = opened.search(["circle area radius"], 1, encoder=ENC)[0][0]
    assert "text" not in opened.chunks.c
    if sys.platform.startswith("linux"):
        import shutil

        shutil.rmtree(built.directory / store.generation_name(opened.generation))
        built.update([repo], ENC, rebuild=True)  # a new generation in its place
    assert opened.chunk_text(hit) == texts[hit.id]
    assert dict(zip(opened.chunks.c["id"].tolist(), opened.chunks.c["text"])) == texts

    fresh = CodeIndex.open(built.directory)
    before = dict(zip(fresh.chunks.c["id"].tolist(), CodeIndex.open(built.directory).chunks.c["text"]))
    (repo / "geo" / "more.py").write_text("def sphere_volume(radius):\n    return 4 / 3 * 3.14 * radius ** 3\n")
    fresh.update([repo], ENC)  # appends to columns whose texts were never read
    after = CodeIndex.open(built.directory).chunks
    saved = dict(zip(after.c["id"].tolist(), after.c["text"]))
    assert {i: saved[i] for i in before} == before and len(saved) > len(before)


def test_a_snippet_reads_only_its_row_group(repo, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from codesift.index import code_index

    monkeypatch.setattr(code_index, "ROW_GROUP", 4)
    index = CodeIndex.open_or_create(tmp_path / "idx", ENC)
    index.update([repo], ENC)
    texts = dict(zip(index.chunks.c["id"].tolist(), index.chunks.c["text"]))
    generation = index.directory / store.generation_name(index.generation)
    assert pq.ParquetFile(generation / "chunks.parquet").num_row_groups == -(-len(texts) // 4) > 2
    opened = CodeIndex.open(index.directory)
    hits = opened.search(["area", "string", "server"], 20, encoder=ENC)
    assert {h.id for found in hits for h in found} == set(texts)  # every chunk, across every row group
    for hit in (h for found in hits for h in found):
        assert opened.chunk_text(hit) == texts[hit.id]
    assert "text" not in opened.chunks.c


def test_bm25_round_trip_and_unreadable_folder(tmp_path):
    from codesift.index.lexical import BM25Index, search_tokens

    texts = ["def read_json(path): return json.load(open(path))", "func ListenAndServe(addr string)", "x = 1"]
    bm25 = BM25Index.build([" ".join(search_tokens(t)) for t in texts])
    assert bm25.scores("reading json")[0] > 0 and bm25.scores("reading json")[1:].tolist() == [0, 0]  # stems
    bm25.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.size == 3
    for query in ("read json file", "listen and serve", "nothing matches"):
        np.testing.assert_array_equal(loaded.scores(query), bm25.scores(query))
    with pytest.raises(ValueError, match="unreadable BM25 index"):
        BM25Index.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="nothing to save"):
        BM25Index.build([]).save(tmp_path / "empty")


def test_empty_repository_and_empty_index(tmp_path):
    (tmp_path / "empty").mkdir()
    index = CodeIndex.open_or_create(tmp_path / "idx", ENC)
    report = index.update([tmp_path / "empty"], ENC)
    assert report.committed and len(index.chunks) == 0
    assert CodeIndex.open(tmp_path / "idx").search(["anything"], 3, encoder=ENC, hybrid=True) == [[]]
    with pytest.raises(IndexNotFoundError, match="no index here"):
        CodeIndex.open(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no such file"):
        index.update([tmp_path / "missing"], ENC)


def test_exception_during_save_keeps_the_previous_generation(built, repo, monkeypatch):
    before = chunk_keys(built)
    (repo / "web/slug.js").write_text(SLUG + "\nexport const extra = 1;\n")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(store, "commit", boom)
    with pytest.raises(OSError, match="disk full"):
        built.update([repo], ENC)
    assert chunk_keys(built) == before and built.generation == 1  # memory rolled back to what is on disk
    assert not [p for p in built.directory.iterdir() if ".tmp-" in p.name]
    monkeypatch.undo()
    assert chunk_keys(CodeIndex.open(built.directory)) == before
    assert built.update([repo], ENC).chunks_embedded == 1  # the file's other chunks keep their vectors


CRASH = """
import os, signal, sys
from pathlib import Path
from codesift.index import CodeIndex, store
from codesift.runtime.fake import HashEncoder
real = store.commit
def crash(directory, tmp, generation, manifest):
    if sys.argv[2] == "before-rename":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace = os.replace
    def replace(a, b):
        real_replace(a, b)
        if Path(b).name == "g000002":  # the generation folder is in place, CURRENT not yet moved
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    real(directory, tmp, generation, manifest)
store.commit = crash
index = CodeIndex.open(sys.argv[1])
index.update(None, HashEncoder(64))
"""


@pytest.mark.parametrize("when", ["before-rename", "after-rename"])
def test_hard_kill_during_save_leaves_the_previous_index_usable(built, repo, when):
    before, answer = chunk_keys(built), top(built, "area of a circle")
    (repo / "geo/geometry.py").write_text(GEOMETRY.replace("circle_area", "disk_area"))
    proc = subprocess.run([sys.executable, "-c", CRASH, str(built.directory), when], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    left = {"before-rename": ".g000002.tmp-", "after-rename": "g000002"}[when]
    assert any(p.name.startswith(left) for p in built.directory.iterdir())  # the crash left a half-done save
    index = CodeIndex.open(built.directory, encoder=ENC)
    assert index.generation == 1 and chunk_keys(index) == before and top(index, "area of a circle") == answer
    report = index.update(None, ENC)  # the next writer cleans up and commits over the leftovers
    assert report.committed and report.generation == 2 and top(index, "disk_area")[0][2] == "disk_area"
    assert sorted(p.name for p in index.directory.iterdir()) == [".lock", "CURRENT", "g000001", "g000002"]


def test_corrupt_files_are_detected_and_rebuilt(built, repo):
    gen = built.directory / "g000001"
    data = bytearray((gen / "vectors" / "hnsw.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    (gen / "vectors" / "hnsw.faiss").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum mismatch.*rebuild the index"):
        CodeIndex.open(built.directory)
    (gen / "chunks.parquet").write_bytes(b"short")
    with pytest.raises(IndexCorruptError, match="chunks.parquet: 5 bytes"):
        CodeIndex.open(built.directory)
    (built.directory / "CURRENT").write_text("../../etc\n")
    with pytest.raises(IndexCorruptError, match="does not name a generation"):
        CodeIndex.open(built.directory)
    index = CodeIndex.open_or_create(built.directory, ENC)  # warns, then the update rebuilds from the sources
    report = index.update([repo], ENC)
    assert report.committed and report.generation == 2 and report.chunks_embedded == report.chunks_added > 0
    assert top(CodeIndex.open(built.directory), "area of a circle")[0][2] == "circle_area"


def test_another_encoder_is_a_mismatch(built):
    with pytest.raises(IndexMismatchError, match="built with encoder hash-64-256"):
        CodeIndex.open(built.directory, encoder=HashEncoder(32))
    with pytest.raises(IndexMismatchError):
        built.search(["q"], 3, encoder=HashEncoder(32))
    replaced = CodeIndex.open_or_create(built.directory, HashEncoder(32))
    assert replaced.encoder_info["dim"] == 32 and len(replaced.chunks) == 0


def test_concurrent_updates_queue_on_the_lock(built, repo, tmp_path):
    with store.write_lock(built.directory, timeout=1):
        with pytest.raises(IndexLockedError, match="another process is updating"):
            built.update([repo], ENC, lock_timeout=0.2)
    # Two processes and this one update at once: each waits its turn and refreshes before writing.
    (repo / "a.py").write_text("def alpha():\n    return 1\n")
    script = "import sys; from codesift.index import CodeIndex; from codesift.runtime.fake import HashEncoder;" \
             "i = CodeIndex.open(sys.argv[1]); i.update(None, HashEncoder(64))"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(built.directory)]) for _ in range(2)]
    (repo / "b.py").write_text("def beta():\n    return 2\n")
    errors = []
    thread = threading.Thread(target=lambda: errors.append(built.update([repo], ENC)))
    thread.start()
    thread.join()
    assert all(p.wait(timeout=60) == 0 for p in procs)
    index = CodeIndex.open(built.directory, encoder=ENC)
    fresh = CodeIndex.create(tmp_path / "fresh", ENC)
    fresh.update([repo], ENC)
    assert chunk_keys(index) == chunk_keys(fresh)
    manifest = json.loads((built.directory / store.current_generation(built.directory) / "manifest.json").read_text())
    assert manifest["chunks"] == len(fresh.chunks)


@pytest.mark.parametrize("where", [":memory:", "folder"])
def test_qdrant_backend_behind_the_same_interface(repo, tmp_path, where):
    pytest.importorskip("qdrant_client")
    url = ":memory:" if where == ":memory:" else None
    full = IndexConfig(vectors="float32")  # float vectors on both sides: the scores must agree exactly
    index = CodeIndex.create(tmp_path / "q", ENC, full.model_copy(update={"backend": "qdrant", "qdrant_url": url}))
    index.update([repo], ENC)
    local = CodeIndex.create(tmp_path / "h", ENC, full)
    local.update([repo], ENC)
    exact = IndexConfig(exact_filter_max=10**6)  # the local index answers exactly: the reference
    reference = CodeIndex.open(local.directory, exact)
    for query in ("area of a circle", "reverse a string"):
        got = index.search([query], 3, encoder=ENC)[0]
        want = reference.search([query], 3, encoder=ENC, filters=Filters(repos=("demo",)))[0]
        assert np.allclose([h.score for h in got], [h.score for h in want])  # equal scores (ties may swap)
    assert top(index, "area of a circle")[0] == ("geo/geometry.py", 7, "circle_area")
    assert {h.language for h in index.search(["x"], 9, encoder=ENC, filters=Filters(languages=("go",)))[0]} == {"go"}
    (repo / "srv/server.go").unlink()
    report = index.update([repo], ENC)
    assert report.chunks_removed == 2 and len(index.backend) == len(index.chunks)  # its window and function
    assert "srv/server.go" not in {h.path for h in index.search(["http server"], 9, encoder=ENC)[0]}
    if where == "folder":  # local mode persists in the index folder: reopen and search
        again = CodeIndex.open(tmp_path / "q", encoder=ENC)
        assert top(again, "area of a circle") == top(index, "area of a circle")


@pytest.mark.parametrize("backend", ["hnsw", "qdrant"])
def test_half_float_vectors_find_what_float_vectors_find(repo, tmp_path, backend):
    if backend == "qdrant":
        pytest.importorskip("qdrant_client")
    config = IndexConfig(backend=backend, qdrant_url=":memory:" if backend == "qdrant" else None, vectors="fp16")
    index = CodeIndex.create(tmp_path / "h", ENC, config)
    index.update([repo], ENC)
    full = CodeIndex.create(tmp_path / "f", ENC, config.model_copy(update={"vectors": "float32"}))
    full.update([repo], ENC)
    for query in ("area of a circle", "reverse a string", "http server"):
        got, want = index.search([query], 5, encoder=ENC)[0], full.search([query], 5, encoder=ENC)[0]
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=2e-3)
    if backend == "qdrant":
        info = index.backend.client.get_collection(index.backend.collection)
        assert info.config.params.vectors.datatype == "float16"
    else:
        assert CodeIndex.open(index.directory).backend.stats()["codec"] == "fp16"


def test_search_settings_from_open_do_not_change_build_settings(built):
    index = CodeIndex.open(built.directory, IndexConfig(ef_search=7, m=48, hybrid=True))
    assert index.config.ef_search == 7 and index.config.hybrid and index.config.m == 16


def test_readme_example_runs(repo, tmp_path):
    """The package docstring's example, as written."""
    import codesift.index as pkg

    example = textwrap.dedent(pkg.__doc__.split("::", 1)[1].split("\n\n")[1])
    code = "\n".join(line.split("#")[0] for line in example.splitlines() if "query_vectors" not in line
                     and not line.strip().startswith("hits[0][0]"))
    code = code.replace('"runs/idx"', repr(str(tmp_path / "idx"))).replace('"~/src/repo"', repr(str(repo)))
    env = {"encoder": ENC}
    exec(code, env)  # noqa: S102
    assert env["hits"][0] and env["hits"][0][0].language == "python"
