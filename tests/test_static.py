"""The static embedding model: sentence-transformers parity, the train stage on it (rounds, mining, eval), its ONNX
export through the gate, and the recipe checks that keep static and transformer settings apart."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

from codesift.config import ExportConfig, RecipeError, load_recipe
from codesift.export.exporter import export_model
from codesift.export.stage import export_and_gate
from codesift.model.static import (STATIC_DIR, StaticEmbedder, case_folding, inflection_bases, is_static_folder,
                                   token_folding)
from codesift.runs import StageContext
from codesift.runtime.onnx import load_encoder
from codesift.train import contrastive, pretrain

from conftest import BENCHMARKS, REPO
from tiny_encoder import one_thread, tiny_encoder, tiny_pairs, word_tokenizer  # noqa: F401  (fixtures)

TEXTS = ["def read_json(path):\n    return json.load(open(path))", "read a json file", "x = 1\n" * 40, "ok"]


def static_model(tiny_encoder, dim=16, max_seq_len=12):  # noqa: F811
    torch.manual_seed(0)
    return StaticEmbedder(Tokenizer.from_file(str(tiny_encoder / "tokenizer.json")), dim, max_seq_len)


def test_sentence_transformers_loads_it_with_the_same_vectors(tmp_path, tiny_encoder):  # noqa: F811
    model = static_model(tiny_encoder)
    folder = model.save(tmp_path / "m")
    assert is_static_folder(folder) and not is_static_folder(tiny_encoder)
    saved = Tokenizer.from_file(str(folder / STATIC_DIR / "tokenizer.json"))
    assert saved.num_special_tokens_to_add(False) == 0 and saved.truncation["max_length"] == 12
    assert len(model.tokenize([TEXTS[2]])["input_ids"][0]) == 12  # the long text is cut at max_seq_len

    ours = model.encode(TEXTS)
    st = SentenceTransformer(str(folder), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(st, ours, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(StaticEmbedder.load(folder).encode(TEXTS), ours, atol=1e-7)


@torch.no_grad()
def test_postprocessed_tables_move_every_embedding_alike(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    """bench/static_postprocess.py edits rows to edit embeddings: a mean taken out of every row is taken out of every
    text's mean, and a token weight is a row scaled by it (the same direction once normalized)."""
    folder = static_model(tiny_encoder).save(tmp_path / "m")
    subprocess.run([sys.executable, str(REPO / "bench" / "static_postprocess.py"), str(folder), str(tiny_pairs),
                    str(tmp_path / "post"), "--sample", "50"], check=True, capture_output=True)
    model, centered = StaticEmbedder.load(folder), StaticEmbedder.load(tmp_path / "post" / "center-all")
    shift = model(**model.tokenize(TEXTS)) - centered(**centered.tokenize(TEXTS))
    assert shift.norm(dim=1).min() > 0
    torch.testing.assert_close(shift, shift[:1].expand_as(shift))
    weighted = StaticEmbedder.load(tmp_path / "post" / "sif-0.001").embedding.weight
    scale = (weighted * model.embedding.weight).sum(1) / model.embedding.weight.pow(2).sum(1)
    assert 0 < scale.min() and scale.max() <= 1
    torch.testing.assert_close(weighted, model.embedding.weight * scale[:, None])


def test_runs_soup_is_the_weighted_mean_of_their_tables(tmp_path, tiny_encoder):  # noqa: F811
    first, second = static_model(tiny_encoder), static_model(tiny_encoder)
    second.embedding.weight.data.normal_()
    tables = [first.embedding.weight.detach(), second.embedding.weight.detach()]
    first.save(tmp_path / "run0" / "train" / "model")
    second.save(tmp_path / "run1" / "train" / "model")
    script = [sys.executable, str(REPO / "bench" / "soup_runs.py"), str(tmp_path / "soup"),
              str(tmp_path / "run0"), str(tmp_path / "run1")]
    subprocess.run([*script, "--weights", "3", "1"], check=True, capture_output=True)
    soup = StaticEmbedder.load(tmp_path / "soup").embedding.weight
    torch.testing.assert_close(soup, 0.75 * tables[0] + 0.25 * tables[1])
    wrong = subprocess.run([*script, "--weights", "1"], check=False, capture_output=True, text=True)
    assert wrong.returncode != 0 and "1 weights for 2 runs" in wrong.stderr


def test_case_folding_shares_rows_and_saves_them_folded(tmp_path, tiny_encoder):  # noqa: F811
    tok = Tokenizer.from_file(str(tiny_encoder / "tokenizer.json"))
    vocab = tok.get_vocab()
    fold = case_folding(tok)
    pairs = [(t, t.lower()) for t in vocab if t.isascii() and t.lower() != t and t.lower() in vocab]
    assert pairs, "the tiny vocabulary has cased tokens with lower-case twins"
    for cased, lower in pairs:
        assert fold[vocab[cased]] == vocab[lower]
    # byte-level spellings of other bytes use non-ASCII letters ("Ã"): lower-casing them would change the byte
    assert all(fold[i] == i for t, i in vocab.items() if not any("A" <= c <= "Z" for c in t))

    torch.manual_seed(0)
    model = StaticEmbedder(tok, 16, 64, fold_case=True)
    cased, lower = pairs[0]
    np.testing.assert_allclose(model.encode([cased]), model.encode([lower]), atol=1e-7)
    folder = model.save(tmp_path / "m")
    np.testing.assert_allclose(SentenceTransformer(str(folder), device="cpu").encode(TEXTS + [cased]),
                               model.encode(TEXTS + [cased]), atol=1e-6)
    np.testing.assert_allclose(StaticEmbedder.load(folder).encode(TEXTS), model.encode(TEXTS), atol=1e-7)


def test_inflection_bases_are_the_candidates_longest_first():
    assert inflection_bases("values").index("value") < inflection_bases("values").index("valu")
    assert "run" in inflection_bases("running") and "save" in inflection_bases("saving")
    assert "category" in inflection_bases("categories") and "copi" not in inflection_bases("copied")
    assert inflection_bases("file") == [] and inflection_bases("bus") == []  # a base of 3+ letters only
    assert "set" in inflection_bases("sets")


def test_stem_folding_shares_an_inflections_row_and_leaves_other_words_alone(tmp_path):
    words = ["file", "files", "Files", "FILES", "sort", "sorting", "sorted", "string", "str", "valu", "value", "values",
             "copy", "copied", "copi", "set", "setting", "settings", "during", "dur", "categories", "category", "sorts"]
    tok = word_tokenizer(words)
    vocab = tok.get_vocab()
    fold = token_folding(tok, fold_case=True, fold_stems=True)
    read = {w: next(k for k, i in vocab.items() if i == fold[vocab[w]]) for w in words}
    assert read["files"] == read["Files"] == read["FILES"] == "file"  # case first, then the inflection
    assert read["sorting"] == read["sorted"] == read["sorts"] == "sort" and read["settings"] == "set"
    assert read["values"] == "value" and read["copied"] == "copy" and read["categories"] == "category"
    for word in ("string", "during", "value", "valu", "copi", "str", "dur", "file"):  # pieces and words left alone
        assert read[word] == word
    assert token_folding(tok) is None
    assert torch.equal(token_folding(tok, fold_case=True), case_folding(tok))

    torch.manual_seed(0)
    model = StaticEmbedder(tok, 8, 16, fold_case=True, fold_stems=True)
    np.testing.assert_allclose(model.encode(["sorting files"]), model.encode(["sort file"]), atol=1e-7)
    assert not np.allclose(model.encode(["string"]), model.encode(["str"]))
    folder = model.save(tmp_path / "m")  # every token's folded row is written: readers need no folding
    st = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(st.encode(["sorted Files", "string"]), model.encode(["sorted Files", "string"]),
                               atol=1e-6)
    np.testing.assert_allclose(StaticEmbedder.load(folder).encode(["copied"]), model.encode(["copy"]), atol=1e-7)


def test_forward_is_the_mean_of_the_real_tokens_rows(tiny_encoder):  # noqa: F811
    model = static_model(tiny_encoder)
    batch = model.tokenize(TEXTS)
    out = model(**batch)
    for row, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"], strict=True)):
        expected = model.embedding.weight[ids[mask.bool()]].mean(0)
        torch.testing.assert_close(out[row], expected)


def static_recipe(tmp_path, **train):
    settings = {"steps": 6, "batch_size": 16, "chunk_size": 8, "warmup_steps": 1, "rounds": 2, "hard_negatives": 1,
                "checkpoint_every": 3, "log_every": 1, "eval_max_queries": 20, "eval_max_docs": 80, "soup": []} | train
    overrides = [f"train.{k}={json.dumps(v)}" for k, v in settings.items()] + [
        "model.hidden=16", "model.max_seq_len=64", "model.static_init=random", "mine.rank_window=[1, 30]",
        "mine.pool_size=150",
        f"eval.benchmarks_dir={BENCHMARKS}", f"run_dir={tmp_path}",
    ]
    return load_recipe(REPO / "recipes" / "static.yaml", overrides)


def shipped_soup(steps: int) -> list[dict]:
    """The shipped recipe's soup with a short run for the model that sets its own steps."""
    shipped = load_recipe(REPO / "recipes" / "static.yaml").train.soup
    return [{"weight": x.weight, "set": x.set | ({"steps": steps} if "steps" in x.set else {})} for x in shipped]


def test_train_stage_trains_mines_and_exports_a_static_model(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    recipe = static_recipe(tmp_path, soup=shipped_soup(4))
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "tokenizer.json").write_text((tiny_encoder / "tokenizer.json").read_text())
    assert pretrain.run(StageContext(recipe, tmp_path / "pretrain", {"tokenizer": tmp_path / "tokenizer"})) == {
        "arch": "static", "pretrained": False}
    (tmp_path / "pairs").mkdir()
    (tmp_path / "pairs" / "pairs.parquet").symlink_to(tiny_pairs)
    inputs = {"pretrain": tmp_path / "pretrain", "pairs": tmp_path / "pairs"}
    summary = contrastive.run(StageContext(recipe, tmp_path / "train", inputs))

    rounds = json.loads((tmp_path / "train" / "rounds.json").read_text())["rounds"]
    steps = [4 if "steps" in x["set"] else 6 for x in shipped_soup(4)]  # each of the shipped soup's models
    assert [r["train"]["steps"] for r in rounds] == [sum(steps)] * 2 and rounds[1]["mining"]["pool"] == 150
    assert [[x["steps"] for x in r["train"]["soup"]] for r in rounds] == [steps, steps] and len(steps) >= 2
    assert summary["best_round"] in (1, 2) and {"val.mrr", "cosqa-dev.mrr"} <= set(summary)
    model_dir = tmp_path / "train" / "model"
    assert is_static_folder(model_dir)
    trained = StaticEmbedder.load(model_dir)
    fresh = static_model(tiny_encoder, 16, 64)
    assert not torch.equal(trained.embedding.weight, fresh.embedding.weight)  # it learned something

    out = tmp_path / "export"
    cfg = ExportConfig(gate_benchmarks=["heldout"], gate_texts=40, gate_queries=None, gate_docs=None,
                       int8_embeddings=True)
    export = export_and_gate(model_dir, out, cfg, tiny_pairs)
    assert export["gate"] == "passed" and export["default_quantization"] == "int8"
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["source"]["arch"] == "static" and meta["builder"] == "fused" and meta["max_seq_len"] == 64
    reference = trained.encode(TEXTS)
    fp32 = load_encoder(out, quantization="fp32").encode(TEXTS)
    np.testing.assert_allclose(fp32.vectors, reference, atol=1e-5)
    assert fp32.truncated == [False, False, True, False]  # the runtime cuts where the tokenizer does
    int8 = load_encoder(out).encode(TEXTS)
    assert np.sum(int8.vectors * reference, axis=1).min() > 0.99


def test_export_needs_something_to_quantize_in_a_static_model(tmp_path, tiny_encoder):  # noqa: F811
    folder = static_model(tiny_encoder).save(tmp_path / "m")
    with pytest.raises(ValueError, match="int8_embeddings: true"):
        export_model(folder, tmp_path / "x", ExportConfig(int8_embeddings=False))
    export_model(folder, tmp_path / "fp32", ExportConfig(int8=False, builder="trace"))  # fused all the same
    assert json.loads((tmp_path / "fp32" / "encoder.json").read_text())["builder"] == "fused"


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.layers=2"], "a static model has no layers"),
    (["pretrain.steps=10", "pretrain.batch_size=4"], "a static model is not pretrained"),
    (["model.arch=modernbert", "model.layers=2", "model.heads=2", "model.intermediate=64", "model.fold_case=false",
      "model.static_init=random"], "missing required section 'pretrain'"),
    (["model.arch=bert", "model.fold_case=false", "model.static_init=random"],
     "arch bert needs layers, heads, intermediate"),
    (["model.arch=bert", "model.layers=2", "model.heads=2", "model.intermediate=64", "pretrain.steps=1",
      "pretrain.batch_size=1", "model.static_init=random"], "fold_case and fold_stems are for static models"),
    (["model.arch=bert", "model.layers=2", "model.heads=2", "model.intermediate=64", "pretrain.steps=1",
      "pretrain.batch_size=1", "model.static_init=random", "model.fold_case=false", "model.fold_stems=true"],
     "fold_case and fold_stems are for static models"),
    (["model.arch=bert", "model.layers=2", "model.heads=2", "model.intermediate=64", "pretrain.steps=1",
      "pretrain.batch_size=1", "model.fold_case=false"], "static_init is for static models"),
])
def test_recipe_keeps_static_and_transformer_settings_apart(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(REPO / "recipes" / "static.yaml", overrides)


def test_model_card_says_a_static_model_was_not_pretrained():
    from codesift.export.package import _training_lines

    machine = {"cpu": "x", "cpus": 2}
    manifests = {
        "data": {"summary": {"files": 3, "units": 9}}, "pairs": {"summary": {"pairs": 5}},
        "tokenizer": {"summary": {"kind": "bpe", "vocab_size": 512}},
        "pretrain": {"summary": {"arch": "static", "pretrained": False}, "machine": machine, "duration_s": 0},
        "train": {"summary": {"rounds": 1, "pairs": 5, "best_round": 1, "score": 0.5}, "machine": machine,
                  "duration_s": 60, "config": {"train": {}}},
    }
    assert "- Pretraining: none (a static model starts from a random table)." in _training_lines(manifests)


def test_training_continues_from_a_static_model_of_the_recipes_shape(tmp_path, tiny_encoder):  # noqa: F811
    folder = static_model(tiny_encoder, 16, 64).save(tmp_path / "m")
    model = contrastive.continued_model(folder, tiny_encoder, static_recipe(tmp_path))
    np.testing.assert_allclose(model.encode(TEXTS), StaticEmbedder.load(folder).encode(TEXTS), atol=1e-7)
    assert model.fold is not None  # the recipe folds case, so further training does too
    with pytest.raises(ValueError, match="differ from the recipe's model section"):
        contrastive.continued_model(folder, tiny_encoder, load_recipe(REPO / "recipes" / "static.yaml",
                                                                      ["model.hidden=32", "model.max_seq_len=64"]))
    with pytest.raises(FileNotFoundError, match="expected a train stage's model/ folder of a static model"):
        contrastive.continued_model(tiny_encoder, tiny_encoder, static_recipe(tmp_path))


def test_document_views_grid_scores_each_weight_pair_as_the_eval_harness_does(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    """bench/document_views.py: its (0, 0) cell is the harness's plain MRR, any other cell the harness's MRR with
    those views."""
    sys.path.insert(0, str(REPO / "bench"))
    from document_views import grid_mrr

    from codesift.eval.benchmarks import load_heldout
    from codesift.eval.retrieval import evaluate
    from codesift.eval.systems import DenseSystem
    from codesift.runtime.views import DocumentViews

    folder = static_model(tiny_encoder).save(tmp_path / "m")
    bench = load_heldout(tiny_pairs)
    grid = grid_mrr(DenseSystem(folder, precision="fp32"), bench, (0.0, 0.35), (0.0, 0.3))
    for (i, j), views in (((0, 0), DocumentViews()), ((1, 1), DocumentViews(0.35, 0.3))):
        system = DenseSystem(folder, precision="fp32", document_views=views)
        mrr = evaluate({"m": system}, [bench])["benchmarks"][bench.name]["results"]["m"]["mrr"]
        assert grid[i, j] == pytest.approx(100 * mrr, abs=1e-6)
