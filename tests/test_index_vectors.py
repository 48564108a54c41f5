"""HNSW vectors against exact search: recall, reload, filters, tombstones, fp16 codes, SQ8 rescoring."""

import numpy as np
import pytest

from codesift.index.vectors import HNSWVectors, exact_search


def clustered(n: int, dim: int = 32, centers: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim))
    x = c[rng.integers(0, centers, n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum()) for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def data():
    x = clustered(3000)
    q = clustered(100, seed=1)
    ids = np.arange(3000, dtype=np.int64) * 3 + 7  # caller ids need not be positions
    return x, q, ids


@pytest.fixture(scope="module")
def built(data):
    x, _, ids = data
    index = HNSWVectors(32)
    index.add(ids[:1000], x[:1000])
    index.add(ids[1000:], x[1000:])  # incremental adds land in the same graph
    return index


def test_exact_search_matches_a_full_sort(data):
    x, q, ids = data
    found, scores = exact_search(x, ids, q, 10)
    order = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]
    assert (found == ids[order]).all()
    assert np.allclose(scores, np.take_along_axis(q @ x.T, order, axis=1))
    few, _ = exact_search(x[:4], ids[:4], q[:2], 10)  # fewer vectors than k: padded with -1
    assert (few[:, 4:] == -1).all() and (few[:, :4] >= 0).all()


def test_hnsw_recall_against_exact_and_equal_after_reload(data, built, tmp_path):
    x, q, ids = data
    truth, _ = exact_search(x, ids, q, 10)
    found, scores = built.search(q, 10, ef=64)
    assert recall(found, truth) >= 0.95
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    built.save(tmp_path / "v")
    again = HNSWVectors.load(tmp_path / "v")
    found2, scores2 = again.search(q, 10, ef=64)
    assert (found2 == found).all() and np.allclose(scores2, scores)
    assert np.allclose(again.vectors(ids[[5, 2000]]), x[[5, 2000]])


def test_filters_return_only_allowed_ids_exactly_or_through_the_graph(data, built):
    x, q, ids = data
    for allowed in (ids[::500], ids[::2]):  # 6 ids: exact search; 1500 ids: graph search with a selector
        built.exact_max = 100
        found, _ = built.search(q, 10, ef=64, allowed=allowed)
        assert np.isin(found[found >= 0], allowed).all()
        sel = np.isin(ids, allowed)
        truth, _ = exact_search(x[sel], ids[sel], q, 10)
        assert recall(found, truth) >= (1.0 if len(allowed) < 10 else 0.95)
    found, _ = built.search(q[:3], 10, ef=64, allowed=ids[:3])
    assert (found[:, 3:] == -1).all() and set(found[0, :3]) == set(ids[:3])


def test_tombstones_are_never_returned_and_rebuild_keeps_results(data, tmp_path):
    x, q, ids = data
    index = HNSWVectors(32)
    index.add(ids, x)
    gone = ids[::3]
    index.remove(np.concatenate([gone[:10], gone, gone[:5], [ids[-1] + 7]]))  # repeated, and an unknown id
    index.remove(gone[:20])  # already gone
    assert len(index) == len(ids) - len(gone) and index.tombstones == len(gone)
    index.save(tmp_path)
    assert len(HNSWVectors.load(tmp_path)) == len(index)
    found, _ = index.search(q, 10, ef=64)
    assert not np.isin(found, gone).any()
    keep = ~np.isin(ids, gone)
    truth, _ = exact_search(x[keep], ids[keep], q, 10)
    assert recall(found, truth) >= 0.95
    index.rebuild()
    assert index.tombstones == 0 and len(index) == keep.sum()
    found, _ = index.search(q, 10, ef=64)
    assert recall(found, truth) >= 0.95
    with pytest.raises(ValueError, match="increasing"):
        index.add(ids[:1], x[:1])  # ids are never reused


def test_int8_vectors_rescored_in_float(data, tmp_path):
    x, q, ids = data
    index = HNSWVectors(32, codec="int8", rescore_factor=4)
    index.add(ids, x)
    truth, truth_scores = exact_search(x, ids, q, 10)
    found, scores = index.search(q, 10, ef=64)
    assert recall(found, truth) >= 0.95
    hit = found == truth
    assert np.allclose(scores[hit], truth_scores[hit], atol=1e-5)  # float scores, not quantized ones
    index.save(tmp_path / "sq8")
    again = HNSWVectors.load(tmp_path / "sq8")
    assert (again.search(q, 10, ef=64)[0] == found).all()
    assert again.stats()["kind"] == "HNSWSQ8"


def test_fp16_vectors_search_reload_filter_and_rebuild(data, tmp_path, monkeypatch):
    import codesift.index.vectors as vectors

    x, q, ids = data
    index = HNSWVectors(32, codec="fp16")
    index.add(ids[:1000], x[:1000])
    index.add(ids[1000:], x[1000:])
    truth, truth_scores = exact_search(x, ids, q, 10)
    found, scores = index.search(q, 10, ef=64)
    assert recall(found, truth) >= 0.95
    hit = found == truth
    assert np.allclose(scores[hit], truth_scores[hit], atol=2e-3)  # half-float dot products
    stored = index.vectors(ids[:5])
    assert stored.dtype == np.float32 and np.allclose(stored, x[:5], atol=1e-3)
    allowed = ids[::7]
    gathered = index.search(q, 10, ef=64, allowed=allowed)
    monkeypatch.setattr(vectors, "GATHER_LIMIT", 0)  # faiss's in-place scan of the fp16 codes
    index.exact_max = 10**9
    scanned = index.search(q, 10, ef=64, allowed=allowed)
    assert recall(scanned[0], gathered[0]) == 1.0 and np.allclose(scanned[1], gathered[1], atol=2e-3)
    assert recall(gathered[0], exact_search(x[::7], allowed, q, 10)[0]) == 1.0
    index.exact_max = 4096
    index.save(tmp_path / "fp16")
    again = HNSWVectors.load(tmp_path / "fp16")
    assert (again.search(q, 10, ef=64)[0] == found).all() and again.stats()["kind"] == "HNSWSQfp16"
    again.remove(ids[:1500])
    again.rebuild()
    assert len(again) == 1500
    assert recall(again.search(q, 10, ef=64)[0], exact_search(x[1500:], ids[1500:], q, 10)[0]) >= 0.95


def test_unknown_codec_and_indexes_saved_before_codecs(data, tmp_path):
    import json

    x, q, ids = data
    with pytest.raises(ValueError, match="unknown vector codec 'bf16'"):
        HNSWVectors(32, codec="bf16")
    index = HNSWVectors(32)
    index.add(ids[:500], x[:500])
    index.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "hnsw.json").read_text())
    del meta["codec"]
    (tmp_path / "old" / "hnsw.json").write_text(json.dumps({**meta, "int8": False}))  # the format before fp16
    assert HNSWVectors.load(tmp_path / "old").codec == "float32"


def test_empty_index_and_bad_files(tmp_path):
    index = HNSWVectors(8)
    found, scores = index.search(np.ones((2, 8), np.float32), 5, ef=16)
    assert (found == -1).all() and np.isinf(scores).all()
    index.save(tmp_path / "e")
    assert len(HNSWVectors.load(tmp_path / "e")) == 0
    (tmp_path / "e" / "ids.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable HNSW index"):
        HNSWVectors.load(tmp_path / "e")


def test_exact_filtered_search_scans_in_place_like_the_gather(data, built, monkeypatch):
    import codesift.index.vectors as vectors

    x, q, ids = data
    allowed = ids[::7]
    built.exact_max = 10**9  # every filter goes exact
    gathered = built.search(q, 10, ef=64, allowed=allowed)
    monkeypatch.setattr(vectors, "GATHER_LIMIT", 0)  # the faiss bitmap scan instead of copying vectors out
    scanned = built.search(q, 10, ef=64, allowed=allowed)
    built.exact_max = 4096
    assert np.allclose(scanned[1], gathered[1], atol=1e-5)
    assert recall(scanned[0], gathered[0]) == 1.0


@pytest.mark.parametrize("codec", ["float32", "fp16", "int8"])
def test_below_graph_min_vectors_are_flat_and_exact_then_a_graph(data, tmp_path, codec):
    """A small index searches exactly (no graph to build); past `graph_min` it becomes a graph, tombstones and
    filters honoured on both sides, and both states reload."""
    x, q, ids = data
    index = HNSWVectors(32, codec=codec, graph_min=2000)
    index.add(ids[:1500], x[:1500])
    assert not index.has_graph and index.stats()["kind"].startswith("exact")
    index.remove(ids[:10])
    live = slice(10, 1500)
    truth, _ = exact_search(x[live], ids[live], q, 10)
    found, _ = index.search(q, 10, ef=64)
    assert recall(found, truth) >= (0.999 if codec == "float32" else 0.98)
    allowed = ids[100:3000:2]
    found, _ = index.search(q, 10, ef=64, allowed=allowed)
    assert set(found.ravel()) - {-1} <= set(allowed[allowed < ids[1500]])
    index.save(tmp_path / "flat")
    reloaded = HNSWVectors.load(tmp_path / "flat")
    assert not reloaded.has_graph and (reloaded.search(q, 10, ef=64)[0] == index.search(q, 10, ef=64)[0]).all()
    index.add(ids[1500:], x[1500:])  # past graph_min: the live vectors become a graph
    assert index.has_graph and len(index) == 2990 and index.tombstones == 0
    truth, _ = exact_search(x[10:], ids[10:], q, 10)
    assert recall(index.search(q, 10, ef=128)[0], truth) >= 0.95
    index.save(tmp_path / "graph")
    assert HNSWVectors.load(tmp_path / "graph").has_graph
