"""Hard-negative mining: positives and their copies never come back, the margin and rank window hold, the
consistency filter ranks correctly; `codesift mine` end to end on a tiny checkpoint."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from codesift.cli import main
from codesift.config import MineConfig
from codesift.model.embedder import Embedder
from codesift.train.batches import load_examples
from codesift.train.mining import mine_negatives, mine_pool, search

from tiny_encoder import one_thread, tiny_encoder, tiny_pairs  # noqa: F401  (fixtures)


def unit(angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([np.cos(a), np.sin(a)], dtype=np.float32)


def docs_at(angles) -> np.ndarray:
    return np.stack([unit(a) for a in angles])


def test_positive_and_margin_are_excluded():
    # one query at 0 degrees; its positive at 30 (score 0.866); others at 10 (scores above the positive),
    # 31 (within 95% of it), 60 and 80 (true negatives)
    docs = docs_at([30, 10, 31, 60, 80])
    mined = mine_negatives(docs_at([0]), docs, np.array([0]), rank_window=(0, 5), margin=0.95, per_query=5,
                           duplicate_cosine=1.0)
    assert sorted(mined.negatives[0].tolist()) == [3, 4]
    assert mined.stats["dropped"]["positive"] == 1 and mined.stats["dropped"]["margin"] == 2
    assert mined.positive_rank[0] == 1  # only doc 1 scores above the positive


def test_torch_search_matches_exact_faiss():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((70, 16)).astype(np.float32)
    exact_scores, exact_ids = search(queries, docs, 10, "flat")
    scores, ids = search(queries, docs, 10, "torch")
    assert (ids == exact_ids).all() and np.allclose(scores, exact_scores, atol=1e-4)
    with pytest.raises(ValueError, match="unknown index kind"):
        search(queries, docs, 10, "ivf")


def test_rank_window_near_duplicates_and_identical_queries():
    docs = docs_at([40, 50, 52, 55, 60, 70, 75])  # query at 0: ranking 0, 1, 2, 3, 4, 5, 6
    others = [{5}]  # doc 5 answers an identical query elsewhere: never a negative
    mined = mine_negatives(docs_at([0]), docs, np.array([1]), others, rank_window=(2, 7), margin=1.0,
                           per_query=7, duplicate_cosine=np.cos(np.deg2rad(2.5)))
    # window ranks 2..6 = docs 2..6; doc 2 is 2 degrees from the positive (near duplicate), doc 5 is a positive
    assert sorted(mined.negatives[0].tolist()) == [3, 4, 6]
    assert mined.stats["dropped"] == {"positive": 1, "margin": 0, "near-duplicate": 1}


def test_sampling_k_is_seeded_and_bounded():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 8)).astype(np.float32)
    d = rng.normal(size=(200, 8)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    positive = np.arange(20)
    a = mine_negatives(q, d, positive, rank_window=(3, 50), margin=0.95, per_query=4, seed=1)
    b = mine_negatives(q, d, positive, rank_window=(3, 50), margin=0.95, per_query=4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.negatives, b.negatives, strict=True))
    for i, negs in enumerate(a.negatives):
        assert len(negs) <= 4 and i not in negs
        pos = q[i] @ d[i]
        assert np.all(q[i] @ d[negs].T <= pos - 0.05 * abs(pos) + 1e-6)
    hnsw = mine_negatives(q, d, positive, rank_window=(3, 50), per_query=4, seed=1, index="hnsw")
    assert all(i not in negs for i, negs in enumerate(hnsw.negatives))


def test_consistency_filter_uses_the_positive_rank():
    docs = docs_at([5, 10, 20, 30])  # query at 0 ranks docs 0, 1, 2, 3
    mined = mine_negatives(docs_at([0, 0]), docs, np.array([0, 3]), rank_window=(0, 4), consistency_top_k=2)
    assert mined.positive_rank.tolist() == [0, 3] and mined.consistent.tolist() == [True, False]
    assert mined.stats["consistent"] == 1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="positives for"):
        mine_negatives(docs_at([0, 1]), docs_at([0]), np.array([0]))
    with pytest.raises(ValueError, match="rank window"):
        mine_negatives(docs_at([0]), docs_at([0]), np.array([0]), rank_window=(5, 5))


def test_mine_pool_and_command(tiny_encoder, tiny_pairs, tmp_path):  # noqa: F811
    examples = load_examples(tiny_pairs, "train", limit=120, seed=0)
    embedder = Embedder.from_encoder(tiny_encoder, 64)
    result = mine_pool(embedder, examples, MineConfig(rank_window=(1, 30), per_query=2), pool_size=80,
                       consistency_top_k=10, seed=3)
    assert len(result.pool) == 80 and result.stats["pool"] == 80
    for i, negs in result.negatives.items():
        assert all(examples.code_ids[j] != examples.code_ids[i] for j in negs)  # never the positive's code
        assert all(examples.query_ids[j] != examples.query_ids[i] or examples.code_ids[j] != examples.code_ids[i]
                   for j in negs)
    model = embedder.save(tmp_path / "model")
    out = tmp_path / "neg.parquet"
    code = main(["mine", "--model", str(model), "--pairs", str(tiny_pairs), "--out", str(out), "--limit", "60",
                 "--per-query", "2", "--rank-window", "1", "20", "--consistency-top-k", "5"])
    assert code == 0
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 60 and {"query", "positive", "negatives", "consistent", "positive_rank"} <= set(rows[0])
    assert all(r["positive"] not in r["negatives"] and len(r["negatives"]) <= 2 for r in rows)
    stats = json.loads(out.with_suffix(".json").read_text())
    assert stats["queries"] == 60 and "dropped" in stats
    assert main(["mine", "--model", str(tmp_path), "--pairs", str(tiny_pairs), "--out", str(out)]) == 2
