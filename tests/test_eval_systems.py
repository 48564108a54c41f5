import logging

import numpy as np
import pytest

from codesift.eval.systems import (
    BM25System, DenseSystem, HybridSystem, build_systems, code_tokens, competition_ranks, minilm_dir, rrf,
    standardize, top_scores, zscore_fusion,
)

CODE = [
    "def parse_json(text):\n    return json.loads(text)",
    "def write_file(path, data):\n    with open(path, 'w') as fh:\n        fh.write(data)",
    "class HTTPServer:\n    def serve_forever(self): ...",
    "def read_file(path):\n    with open(path) as fh:\n        return fh.read()",
]


def test_code_tokens_split_identifiers_and_keep_them_whole():
    assert code_tokens("getHTTPResponse(parse_json)") == [
        "gethttpresponse", "get", "http", "response", "parse_json", "parse", "json"]
    assert code_tokens("sort the list") == ["sort", "the", "list"]  # a one-part word is not repeated
    assert code_tokens("__init__ v2") == ["__init__", "init", "v2", "v", "2"]
    assert code_tokens("") == []


def test_bm25_ranks_by_identifier_parts():
    bm25 = BM25System()
    bm25.index(CODE)
    ids, scores = bm25.search(["parse json", "http server", "qwertyuiop"], k=2)
    assert ids[0, 0] == 0 and ids[1, 0] == 2
    assert scores[2].tolist() == [0.0, 0.0]  # no known token: no document scores
    assert bm25.describe()["k1"] == 1.2


def test_bm25_needs_an_index():
    with pytest.raises(RuntimeError, match="index a corpus"):
        BM25System().score(["x"])


def test_competition_ranks_share_ties():
    assert competition_ranks(np.array([[1.0, 1.0, 0.0], [0.2, 0.9, 0.5]])).tolist() == [[1, 1, 3], [3, 1, 2]]


def test_rrf_by_hand():
    a = np.array([[3.0, 2.0, 1.0]])  # ranks 1 2 3
    b = np.array([[1.0, 3.0, 2.0]])  # ranks 3 1 2
    fused = rrf([a, b], [1.0, 1.0], k=60)[0]
    assert fused == pytest.approx([1 / 61 + 1 / 63, 1 / 62 + 1 / 61, 1 / 63 + 1 / 62])
    assert np.argsort(-fused).tolist() == [1, 0, 2]
    assert np.argsort(-rrf([a, b], [1.0, 0.0])[0]).tolist() == [0, 1, 2]  # weight 0 ignores b


def test_zscore_fusion_by_hand():
    a = np.array([[3.0, 2.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, 4.0, 0.0]])
    assert sorted(top_scores(a, 2)[0].tolist()) == [2.0, 3.0] and top_scores(a, 9) is a
    # a's top 2 (3, 2): mean 2.5, std 0.5; b's top 2 (4, 0): mean 2, std 2
    assert standardize(a, top_scores(a, 2))[0] == pytest.approx([1.0, -1.0, -3.0, -5.0])
    fused = zscore_fusion([a, b], [0.7, 0.3], top=2)[0]
    assert fused == pytest.approx([0.7 - 0.3, -0.7 - 0.3, -2.1 + 0.3, -3.5 - 0.3])
    assert np.argsort(-fused).tolist() == [0, 1, 2, 3]
    assert np.argsort(-zscore_fusion([a, b], [0.3, 0.7], top=2)[0]).tolist() == [2, 0, 1, 3]  # b's weight wins
    # a side whose top scores are all equal (BM25 with no query word in the corpus) adds nothing
    assert zscore_fusion([a, np.zeros_like(a)], [0.7, 0.3], top=2)[0] == pytest.approx(0.7 * np.array([1, -1, -3, -5]))


class Fixed(BM25System):
    """A fake system with fixed scores, to test fusion without a model."""

    def __init__(self, name, scores):
        super().__init__(name=name)
        self.fixed = np.array(scores)

    def index(self, texts):
        self.indexed = texts

    def score(self, queries):
        return np.tile(self.fixed, (len(queries), 1))


def test_hybrid_fuses_its_parts():
    hybrid = HybridSystem([(Fixed("a", [3.0, 2.0, 1.0]), 1.0), (Fixed("b", [1.0, 3.0, 2.0]), 1.0)])
    hybrid.index(["x", "y", "z"])
    assert hybrid.search(["q"], k=3)[0][0].tolist() == [1, 0, 2]
    assert hybrid.describe() == {"kind": "hybrid-rrf", "k": 60, "parts": {"a": 1.0, "b": 1.0}}
    with pytest.raises(ValueError, match="at least two"):
        HybridSystem([(Fixed("a", [1.0]), 1.0)])
    with pytest.raises(ValueError, match="unknown fusion 'mean'"):
        HybridSystem([(Fixed("a", [1.0]), 1.0), (Fixed("b", [1.0]), 1.0)], fusion="mean")


def test_zscore_hybrid_keeps_score_gaps_that_rrf_drops():
    # a spreads its scores evenly (document 0 first, 9 last); b is sure of 9, far above the rest, and puts 0
    # second: RRF follows the ranks (0), the z-score sum the gaps (9)
    b_scores = np.zeros(10)
    b_scores[[0, 9]] = 0.1, 5.0
    a, b = Fixed("a", 1.0 - 0.01 * np.arange(10)), Fixed("b", b_scores)
    assert HybridSystem([(a, 1.0), (b, 1.0)]).search(["q"], k=1)[0][0].tolist() == [0]
    zscore = HybridSystem([(a, 1.0), (b, 1.0)], fusion="zscore")
    zscore.index(["x"] * 10)
    assert zscore.search(["q"], k=1)[0][0].tolist() == [9]
    assert zscore.name == "hybrid-zscore:a@1+b@1"
    assert zscore.describe() == {"kind": "hybrid-zscore", "top": 100, "parts": {"a": 1.0, "b": 1.0}}


def test_specs_share_instances_and_parse_weights(tmp_path):
    systems = build_systems(["bm25", "hybrid:bm25@0.3+minilm@0.7", "minilm"])
    hybrid = systems["hybrid:bm25@0.3+minilm@0.7"]
    assert hybrid.parts[0][0] is systems["bm25"] and hybrid.parts[1][0] is systems["minilm"]
    assert [w for _, w in hybrid.parts] == [0.3, 0.7]
    assert systems["minilm"].model_dir == minilm_dir()
    zscore = build_systems(["hybrid-zscore:bm25@0.3+minilm@0.7"])["hybrid-zscore:bm25@0.3+minilm@0.7"]
    assert zscore.fusion == "zscore" and [w for _, w in zscore.parts] == [0.3, 0.7]


def test_bad_specs_are_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown system 'nope'"):
        build_systems(["nope"])
    with pytest.raises(ValueError, match="system 'hybrid:bm25@x\\+minilm'"):
        build_systems(["hybrid:bm25@x+minilm"])
    with pytest.raises(ValueError, match="system 'hybrid-zscore:bm25\\+nope'"):
        build_systems(["hybrid-zscore:bm25+nope"])
    with pytest.raises(FileNotFoundError, match="no modules.json"):
        build_systems([str(tmp_path)])
    with pytest.raises(ValueError, match="precision"):
        DenseSystem(minilm_dir(), precision="fp16")


@pytest.fixture(scope="module")
def minilm():
    return DenseSystem(minilm_dir(), "minilm")


def test_dense_matches_sentence_transformers_and_caches(minilm):
    texts = ["read the contents of a file", *CODE]
    emb = minilm.encode(texts)
    assert emb.shape == (5, 384) and emb.dtype == np.float32
    assert np.linalg.norm(emb, axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    reference = minilm.load_model().encode(texts, normalize_embeddings=True)  # sentence-transformers' own loop
    fp32 = DenseSystem(minilm_dir(), "minilm-fp32", precision="fp32").encode(texts)
    assert (fp32 * reference).sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)  # the same pipeline
    # "auto" runs bf16 on CPUs with native bf16 (AVX512-BF16, AMX): close to fp32, not equal
    assert (emb * reference).sum(axis=1) == pytest.approx(np.ones(5), abs=1e-3)

    spent = minilm.encode_seconds
    assert np.array_equal(minilm.encode(texts[::-1]), emb[::-1])
    assert minilm.encode_seconds == spent  # all cached: the model did not run again


def test_dense_search_finds_the_function(minilm):
    minilm.index(CODE)
    ids, scores = minilm.search(["read the contents of a file", "parse a json string"], k=1)
    assert ids[:, 0].tolist() == [3, 0]
    assert scores.shape == (2, 1)


def test_timings_count_new_documents_and_single_queries(minilm, caplog):
    from codesift.eval.benchmarks import Benchmark
    from codesift.eval.retrieval import evaluate

    caplog.set_level(logging.INFO, logger="codesift.eval")

    corpus = {f"d{i}": c for i, c in enumerate(CODE)}
    queries = {"q0": "read the contents of a file", "q1": "parse a json string"}
    relevant = {"q0": {"d3"}, "q1": {"d0"}}
    first, again = Benchmark("a", queries, corpus, relevant), Benchmark("b", queries, corpus, relevant)
    fresh = DenseSystem(minilm_dir(), "fresh")
    results = evaluate({"fresh": fresh, "bm25": BM25System()}, [first, again])
    a, b = (results["benchmarks"][n]["results"] for n in ("a", "b"))
    assert a["fresh"]["timing"]["docs_per_s"] > 0 and a["fresh"]["timing"]["query_p50_ms"] > 0
    assert b["fresh"]["timing"]["docs_per_s"] is None  # the same corpus again: nothing was encoded
    assert b["fresh"]["timing"]["query_p50_ms"] is None  # and the same queries: no latency to measure
    assert a["bm25"]["timing"]["docs_per_s"] > 0 and fresh.texts_encoded == len(CODE) + len(queries)
    assert b["bm25"]["timing"]["docs_per_s"] is None  # BM25 kept its index of the same corpus
    assert b["bm25"]["timing"]["query_p50_ms"] > 0  # but still scores each query
    # every system is compared with BM25 query by query; BM25 itself is not
    assert len(a["fresh"]["first_relevant_ranks"]) == 2 and "mrr_vs_bm25" not in a["bm25"]
    assert a["fresh"]["mrr_vs_bm25"]["diff"] == pytest.approx(a["fresh"]["mrr"] - a["bm25"]["mrr"])
    # the latency probes are one summary line per system and benchmark, not a line per probe
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [m for m in info if "encoded 1 texts" in m]
    assert sorted(m.split(":")[0] for m in info if "single-query probes" in m) == ["bm25 on a", "bm25 on b", "fresh on a"]
