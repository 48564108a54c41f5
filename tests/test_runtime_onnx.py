"""The torch-free runtime encoder: the Encoder contract, truncation reporting, length bucketing, thread and arena
settings, prefixes, document views, int8 output, errors for bad folders, and the eval system over an export
folder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codesift.config import ExportConfig, ModelConfig, TokenizerConfig
from codesift.export.exporter import export_model
from codesift.export.source import write_random_model
from codesift.runtime.base import Encoder
from codesift.runtime.onnx import ENCODER_JSON, ExportFolderError, OnnxEncoder, load_encoder
from codesift.runtime.views import DocumentViews, add_views
from codesift.tokenizer import train_tokenizer

WORDS = "read parse sort merge split load save count filter format json url list dict csv path file lines".split()
TEXTS = ["parse a url", "def read(path):\n    return open(path).read()", "sort " * 200, "", "x y z"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] + TEXTS
    tok = train_tokenizer(corpus * 5, TokenizerConfig(kind="bpe", vocab_size=512))
    cfg = ModelConfig(layers=2, hidden=64, heads=4, intermediate=96, max_seq_len=32)
    return write_random_model(tmp_path_factory.mktemp("model") / "model", cfg, tok, initializer_range=0.08)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, model_dir) -> Path:
    out = tmp_path_factory.mktemp("export")
    export_model(model_dir, out, ExportConfig())
    return out


@pytest.fixture(scope="module")
def encoder(folder) -> OnnxEncoder:
    return load_encoder(folder, quantization="fp32")


def test_implements_the_encoder_contract(folder, encoder):
    assert isinstance(encoder, Encoder)
    assert (encoder.dim, encoder.max_seq_len, encoder.quantization) == (64, 32, "fp32")
    assert encoder.revision == json.loads((folder / ENCODER_JSON).read_text())["revision"]
    out = encoder.encode(TEXTS)
    assert out.vectors.shape == (5, 64) and out.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1, atol=1e-5)
    assert load_encoder(folder).quantization == "int8"  # auto: the export's default


def test_truncation_is_reported(encoder):
    counts = encoder.count_tokens(TEXTS)
    out = encoder.encode(TEXTS)
    assert out.token_counts == counts
    full = [len(e.ids) for e in encoder.tokenizer.encode_batch(TEXTS)]  # with [CLS]/[SEP], no truncation
    assert counts == full and counts[3] == 2  # the empty text is [CLS] [SEP]
    assert out.truncated == [c > 32 for c in counts] == [False, False, True, False, False]
    ids, _ = encoder.tokenize(TEXTS)
    assert len(ids[2]) == 32 and ids[2][0] == 2 and ids[2][-1] == 3  # cut at the end, specials kept
    assert ids[2][1:-1] == encoder.tokenizer.encode(TEXTS[2]).ids[1:31]
    strict = load_encoder(encoder.folder, quantization="fp32", truncation="error")
    with pytest.raises(ValueError, match=r"text 2 has \d+ tokens, more than max_seq_len=32"):
        strict.encode(TEXTS)


def test_length_bucketing_keeps_order_and_bounds_batches(folder):
    enc = load_encoder(folder, quantization="fp32", batch_size=2, max_batch_tokens=64)
    lengths = [5, 30, 7, 31, 2, 6]
    batches = enc.batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 2 and max(lengths[i] for i in b) * len(b) <= 64
    assert batches[0] == [3, 1]  # longest first, similar lengths together
    texts = [" ".join(WORDS[: n % len(WORDS) + 1]) * (n % 3 + 1) for n in range(11)]
    calls = enc.calls
    together = enc.encode(texts).vectors
    assert enc.calls - calls == len(enc.batches([len(x) for x in enc.tokenize(texts)[0]]))
    alone = np.concatenate([enc.encode([t]).vectors for t in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_thread_and_arena_settings_are_honoured(folder):
    enc = load_encoder(folder, intra_op_threads=1, inter_op_threads=1, arena=False, spinning=False)
    options = enc.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.enable_cpu_mem_arena is False
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    enc2 = load_encoder(folder, intra_op_threads=2)
    assert enc2.session.get_session_options().intra_op_num_threads == 2
    assert enc2.session.get_session_options().enable_cpu_mem_arena is True
    assert np.allclose(enc.encode(TEXTS).vectors, enc2.encode(TEXTS).vectors, atol=1e-5)
    with pytest.raises(ValueError, match="intra_op_threads must be >= 0"):
        load_encoder(folder, intra_op_threads=-1)


def test_prefixes_are_applied_per_kind(folder, encoder):
    enc = load_encoder(folder, quantization="fp32", query_prefix="search: ", document_prefix="")
    as_query = enc.encode(["parse a url"], kind="query").vectors
    assert np.allclose(as_query, encoder.encode(["search: parse a url"], kind="document").vectors, atol=1e-6)
    assert not np.allclose(as_query, enc.encode(["parse a url"], kind="document").vectors, atol=1e-3)
    assert enc.count_tokens(["parse a url"], kind="query")[0] > enc.count_tokens(["parse a url"])[0]
    with pytest.raises(ValueError, match="kind must be 'query' or 'document'"):
        enc.encode(["x"], kind="code")
    with pytest.raises(TypeError, match="not one string"):
        enc.encode("parse a url")


DEFINITIONS = ['def read(path):\n    """Read a json file."""\n    return open(path).read()',
               "// Sort the list.\nfunc sortList(xs []int) {\n}", "parse a url", "x y z"]


def with_views(folder: Path, tmp_path: Path, views: dict) -> Path:
    out = tmp_path / "views"
    shutil.copytree(folder, out)
    meta = json.loads((out / ENCODER_JSON).read_text())
    (out / ENCODER_JSON).write_text(json.dumps({**meta, "document_views": views}))
    return out


def test_document_views_from_encoder_json_change_documents_only(folder, encoder, tmp_path):
    viewed = load_encoder(with_views(folder, tmp_path, {"doc": 0.35, "name": 0.3}), quantization="fp32")
    views = DocumentViews(0.35, 0.3)
    assert viewed.document_views == views and viewed.revision == views.revision(encoder.revision) != encoder.revision
    plain = encoder.encode(DEFINITIONS).vectors
    expected = add_views(DEFINITIONS, plain, views, lambda parts: encoder.encode(parts).vectors)
    got = viewed.encode(DEFINITIONS)
    np.testing.assert_allclose(got.vectors, expected, atol=1e-6)
    assert not np.allclose(got.vectors[0], plain[0], atol=1e-3)
    np.testing.assert_allclose(got.vectors[2:], plain[2:], atol=1e-6)  # no definition: the plain vectors
    assert got.token_counts == encoder.encode(DEFINITIONS).token_counts  # of the whole texts
    np.testing.assert_array_equal(viewed.encode(DEFINITIONS, kind="query").vectors,
                                  encoder.encode(DEFINITIONS, kind="query").vectors)
    off = load_encoder(viewed.folder, quantization="fp32", document_views=DocumentViews())
    assert off.revision == encoder.revision
    np.testing.assert_array_equal(off.encode(DEFINITIONS).vectors, plain)
    bad = with_views(folder, tmp_path / "bad", {"doc": -1})
    with pytest.raises(ExportFolderError, match="bad document_views"):
        load_encoder(bad)


def test_the_eval_harness_embeds_documents_with_views_as_the_runtime_does(model_dir, folder, tmp_path):
    """The eval stage scores the torch model; the index embeds with the export: one rule for both."""
    from codesift.eval.systems import build_systems

    views = DocumentViews(0.35, 0.3)
    systems = build_systems([str(model_dir), f"onnx-fp32:{folder}"], document_views=views, precision="fp32")
    torch_system, onnx_system = systems.values()
    for system in (torch_system, onnx_system):
        system.index(DEFINITIONS)
    np.testing.assert_allclose(torch_system._corpus, onnx_system._corpus, atol=1e-4)
    assert torch_system.describe()["document_views"] == onnx_system.describe()["document_views"] == views.to_json()
    np.testing.assert_allclose(onnx_system._corpus, load_encoder(with_views(folder, tmp_path, views.to_json()),
                                                                 quantization="fp32").encode(DEFINITIONS).vectors,
                               atol=1e-6)


def test_lone_surrogates_are_encoded_as_replacement_characters(encoder):
    """What Python makes of bytes that are not UTF-8 (a shell argument) or of a JSON "\\ud800": the tokenizer
    takes only valid Unicode, and raised a TypeError."""
    for kind in ("query", "document"):
        texts = ["abc\ud800def", "x\udced\udca0\udc80"]
        out = encoder.encode(texts, kind=kind)
        clean = encoder.encode(["abc\ufffddef", "x\ufffd\ufffd\ufffd"], kind=kind)
        np.testing.assert_array_equal(out.vectors, clean.vectors)
        assert out.token_counts == clean.token_counts == encoder.count_tokens(texts, kind)


def test_int8_output(encoder):
    floats = encoder.encode(TEXTS).vectors
    ints = encoder.encode(TEXTS, dtype="int8").vectors
    assert ints.dtype == np.int8 and np.abs(ints.astype(np.float32) / 127 - floats).max() <= 0.5 / 127 + 1e-6


def test_bad_folders_are_refused_with_a_clear_message(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="export folder not found"):
        load_encoder(tmp_path / "missing")
    with pytest.raises(ExportFolderError, match="not a codesift export folder"):
        load_encoder(tmp_path)
    partial = tmp_path / "partial"
    shutil.copytree(folder, partial)
    (partial / "model.int8.onnx").unlink()
    with pytest.raises(ExportFolderError, match="no int8 model .* this export has fp32"):
        load_encoder(partial, quantization="int8")
    (partial / "tokenizer.json").unlink()
    with pytest.raises(ExportFolderError, match="tokenizer.json is missing"):
        load_encoder(partial, quantization="fp32")
    meta = json.loads((partial / ENCODER_JSON).read_text())
    meta["format_version"] = 99
    (partial / ENCODER_JSON).write_text(json.dumps(meta))
    with pytest.raises(ExportFolderError, match="format_version 99"):
        load_encoder(partial)
    with pytest.raises(ValueError, match="quantization must be auto or one of"):
        load_encoder(folder, quantization="int4")


def test_runtime_imports_no_torch(folder):
    code = ("import sys; from codesift.runtime.onnx import load_encoder; "
            f"e = load_encoder({str(folder)!r}); e.encode(['parse a url'], kind='query'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_eval_system_over_an_export_folder(folder):
    from codesift.eval.systems import OnnxSystem, build_systems

    systems = build_systems([f"onnx-fp32:{folder}", str(folder)])
    assert all(isinstance(s, OnnxSystem) for s in systems.values())
    fp32 = systems[f"onnx-fp32:{folder}"]
    assert fp32.describe()["quantization"] == "fp32" and systems[str(folder)].encoder.quantization == "int8"
    fp32.index(TEXTS)
    scores = fp32.score(["parse a url"])
    assert scores.shape == (1, 5) and int(np.argmax(scores)) == 0
