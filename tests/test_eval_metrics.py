import math

import numpy as np
import pytest

from codesift.eval.metrics import (
    bootstrap_ci, paired_difference, per_query, recall_curve, relevant_ranks, summarize,
)

INF = math.inf


def one(ranks):
    """Metrics of a single query, as plain floats."""
    return {k: float(v[0]) for k, v in per_query([np.array(ranks, dtype=float)]).items()}


def test_rank_of_single_relevant_item():
    assert relevant_ranks(np.array([0.1, 0.9, 0.5]), [2]).tolist() == [2]
    assert relevant_ranks(np.array([0.1, 0.9, 0.5]), [1]).tolist() == [1]


def test_ties_are_broken_against_the_relevant_item():
    assert relevant_ranks(np.array([0.5, 0.5, 0.5]), [0]).tolist() == [3]
    assert relevant_ranks(np.array([0.5, 0.5, 0.5]), [2]).tolist() == [3]
    # Two relevant items tied with one non-relevant item: the non-relevant one goes first.
    assert relevant_ranks(np.array([1.0, 1.0, 1.0, 0.0]), [0, 1]).tolist() == [2, 3]


def test_several_relevant_items_and_duplicates():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert relevant_ranks(scores, [3, 1]).tolist() == [2, 4]
    assert relevant_ranks(scores, [3, 1, 1]).tolist() == [2, 4]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one relevant"):
        relevant_ranks(np.array([0.1, 0.2]), [])
    with pytest.raises(ValueError, match="NaN"):
        relevant_ranks(np.array([0.1, np.nan]), [0])
    with pytest.raises(ValueError, match="no queries"):
        per_query([])
    with pytest.raises(ValueError, match="no relevant item"):
        per_query([np.array([])])


def test_metrics_of_one_relevant_item_at_rank_2():
    m = one([2])
    assert m["mrr"] == m["mrr@10"] == 0.5
    assert (m["recall@1"], m["recall@5"], m["recall@10"]) == (0.0, 1.0, 1.0)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))  # 0.6309


def test_metrics_of_two_relevant_items_at_ranks_2_and_4():
    m = one([2, 4])
    assert m["mrr"] == 0.5
    assert (m["recall@1"], m["recall@5"]) == (0.0, 1.0)
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)  # 0.6509


def test_recall_counts_the_share_of_relevant_items_found():
    m = one([1, 7, 30])
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@10"] == pytest.approx(2 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # three relevant items could fill ranks 1-3
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(8)) / ideal)


def test_relevant_item_beyond_the_cutoffs():
    m = one([11])
    assert m["mrr"] == pytest.approx(1 / 11)  # full-ranking MRR still credits it
    assert m["mrr@10"] == m["ndcg@10"] == m["recall@10"] == 0.0


def test_nothing_relevant_retrieved_scores_zero():
    m = one([INF])
    assert all(v == 0.0 for v in m.values())


def test_many_relevant_items_ndcg_is_capped_at_10():
    assert one(list(range(1, 13)))["ndcg@10"] == pytest.approx(1.0)


def test_recall_curve():
    assert recall_curve([np.array([1.0]), np.array([3.0])], 3).tolist() == [0.5, 0.5, 1.0]
    assert recall_curve([np.array([2.0, INF])], 3).tolist() == [0.0, 0.5, 0.5]


def test_bootstrap_ci_is_reproducible_and_brackets_the_mean():
    values = np.random.default_rng(1).random(200)
    lo, hi = bootstrap_ci(values)
    assert (lo, hi) == bootstrap_ci(values)
    assert lo < values.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * values.std() / math.sqrt(200), rel=0.2)
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]))


def test_summarize_means_and_intervals():
    s = summarize(per_query([np.array([1.0]), np.array([2.0]), np.array([INF])]))
    assert s["mrr"] == pytest.approx(0.5)
    assert s["recall@1"] == pytest.approx(1 / 3)
    assert set(s["ci95"]) == {"mrr", "ndcg@10"}
    lo, hi = s["ci95"]["mrr"]
    assert 0.0 <= lo <= s["mrr"] <= hi <= 1.0


def test_paired_difference_is_narrower_than_either_systems_interval():
    rng = np.random.default_rng(0)
    difficulty = rng.random(500)  # queries hard for both systems alike
    a = np.clip(difficulty + 0.05 + 0.05 * rng.standard_normal(500), 0, 1)
    b = np.clip(difficulty + 0.05 * rng.standard_normal(500), 0, 1)
    paired = paired_difference(a, b)
    assert paired["diff"] == pytest.approx(a.mean() - b.mean())
    lo, hi = paired["ci95"]
    assert 0 < lo < paired["diff"] < hi  # a is better, and the paired interval says so
    a_lo, a_hi = bootstrap_ci(a)
    assert hi - lo < (a_hi - a_lo) / 3
    assert paired_difference(b, b) == {"diff": 0.0, "ci95": [0.0, 0.0]}
    with pytest.raises(ValueError, match="same queries"):
        paired_difference(a, b[:-1])
