"""The static model's co-occurrence pretraining: counts, PPMI, the table it starts from, and the stages using it."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer

from codesift.config import load_recipe
from codesift.export.package import _static_pretraining
from codesift.model.static import INIT_STD, StaticEmbedder, is_static_folder
from codesift.runs import StageContext
from codesift.train import contrastive, pretrain
from codesift.train.static_init import cooccurrence, cooccurrence_model, ppmi, sample_texts, svd_rows, with_doc_above

from conftest import REPO
from tiny_encoder import tiny_encoder, word_tokenizer  # noqa: F401  (fixture)


def test_cooccurrence_weights_distance_and_never_spans_two_texts():
    counts = cooccurrence([[np.array([0, 1, 2]), np.array([3])]], vocab_size=4, window=2).toarray()
    assert counts[0, 1] == counts[1, 0] == 1.0 and counts[1, 2] == 1.0
    assert counts[0, 2] == counts[2, 0] == 0.5  # two tokens apart
    assert counts[:, 3].sum() == 0 and counts[3].sum() == 0  # alone in its text
    np.testing.assert_array_equal(counts, counts.T)


def test_ppmi_keeps_only_pairs_seen_more_than_chance():
    counts = cooccurrence([[np.array([0, 1] * 20), np.array([2, 3] * 20), np.array([0, 2])]], 4, window=1)
    scores = ppmi(counts).toarray()
    assert (scores >= 0).all() and scores[0, 1] > 0 and scores[2, 3] > 0
    assert scores[0, 1] > scores[0, 2]


def test_svd_rows_place_tokens_of_shared_contexts_together():
    """Tokens 0 and 1 always sit between 4..7, tokens 2 and 3 between 8..11: each pair shares its contexts."""
    rng = np.random.default_rng(0)
    texts = [np.array([4, 5, rng.choice([0, 1]), 6, 7]) for _ in range(200)]
    texts += [np.array([8, 9, rng.choice([2, 3]), 10, 11]) for _ in range(200)]
    rows = torch.nn.functional.normalize(torch.from_numpy(svd_rows(ppmi(cooccurrence([texts], 12)), 4, seed=0)), dim=1)
    assert rows[0] @ rows[1] > rows[0] @ rows[2] and rows[2] @ rows[3] > rows[2] @ rows[1]
    np.testing.assert_allclose(rows.norm(dim=1)[:12], 1.0, atol=1e-6)


TEXTS = [f"def read_{i}(path):\n    with open(path) as f:\n        return json.load(f)  # item {i}" for i in range(40)]


def test_cooccurrence_model_is_deterministic_at_the_random_inits_scale(tiny_encoder):  # noqa: F811
    tokenizer = Tokenizer.from_file(str(tiny_encoder / "tokenizer.json"))
    model, summary = cooccurrence_model(tokenizer, TEXTS, dim=8, max_seq_len=32, fold_case=True, seed=0)
    again, _ = cooccurrence_model(tokenizer, TEXTS, dim=8, max_seq_len=32, fold_case=True, seed=0)
    assert torch.equal(model.embedding.weight, again.embedding.weight)  # deterministic for a seed
    assert 0 < summary["tokens_with_rows"] < summary["vocab"] and summary["texts"] == len(TEXTS)
    norms = model.embedding.weight.detach().norm(dim=1)
    assert abs(float(norms.mean()) - INIT_STD * 8**0.5) < 0.5 * INIT_STD * 8**0.5  # the random init's scale
    assert model.fold is not None and (norms > 0).all()  # tokens the texts never show keep random rows


def test_sample_texts_leaves_tests_out_and_stops_at_the_budget(tmp_path):
    path = tmp_path / "units.parquet"
    pq.write_table(pa.table({"code": ["a" * 10, "b" * 10, "c" * 10, "t" * 10], "doc": [None] * 4,
                             "is_test": [False] * 3 + [True]}), path)
    assert sorted(sample_texts(path, 1_000, seed=0)) == ["a" * 10, "b" * 10, "c" * 10]
    assert len(sample_texts(path, 15, seed=0)) == 2
    assert sample_texts(path, 15, seed=0) == sample_texts(path, 15, seed=0)


def test_sample_texts_count_a_doc_with_its_code_once(tmp_path):
    go = "func Parse(s string) int {\n\treturn len(s)\n}"
    python = 'def parse(s):\n    """Parse a string.\n\n    Slowly."""\n    return len(s)'
    assert with_doc_above(go, "Parse reads a string.\nIt counts.") == "Parse reads a string.\nIt counts.\n" + go
    assert with_doc_above(python, "Parse a string.\n\nSlowly.") == python  # the docstring is in the code
    assert with_doc_above(go, None) == with_doc_above(go, "") == go
    path = tmp_path / "units.parquet"
    pq.write_table(pa.table({"code": [go, python], "doc": ["Parse reads a string.", "Parse a string."],
                             "is_test": [False, False]}), path)
    assert sorted(sample_texts(path, 1_000, seed=0)) == sorted(["Parse reads a string.\n" + go, python])


def test_pretrain_stage_builds_the_table_the_train_stage_starts_from(tmp_path, tiny_encoder):  # noqa: F811
    recipe = load_recipe(REPO / "recipes" / "static.yaml", [
        "model.hidden=16", "model.max_seq_len=64", "model.static_init=cooccurrence", f"run_dir={tmp_path}"])
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "tokenizer.json").write_text((tiny_encoder / "tokenizer.json").read_text())
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"code": TEXTS, "doc": [None] * len(TEXTS), "is_test": [False] * len(TEXTS)}),
                   tmp_path / "data" / "units.parquet")
    inputs = {"tokenizer": tmp_path / "tokenizer", "data": tmp_path / "data"}
    summary = pretrain.run(StageContext(recipe, tmp_path / "pretrain", inputs))
    assert summary["pretrained"] and summary["init"] == "cooccurrence" and summary["texts"] == len(TEXTS)
    encoder = tmp_path / "pretrain" / "encoder"
    assert is_static_folder(encoder) and (encoder / "tokenizer.json").is_file()
    trainer = contrastive.ContrastiveTrainer(recipe, encoder, tmp_path / "train")
    start = StaticEmbedder.load(encoder, fold_case=True)
    assert torch.equal(trainer.embedder.embedding.weight, start.embedding.weight)
    assert trainer.embedder.fold is not None
    card = _static_pretraining(json.loads(json.dumps(summary)))
    assert card.startswith("- Pretraining: the table starts from token co-occurrence") and "40 units" in card


def test_cooccurrence_counts_an_inflection_as_its_word():
    tokenizer = word_tokenizer(["read", "reads", "reading", "file", "files", "json", "path", "open"])
    texts = ["read json file path", "reads files open", "reading file json open path"] * 20
    model, _ = cooccurrence_model(tokenizer, texts, dim=4, max_seq_len=16, seed=0, fold_stems=True)
    np.testing.assert_allclose(model.encode(["reads files"]), model.encode(["read file"]), atol=1e-7)
    plain, _ = cooccurrence_model(tokenizer, texts, dim=4, max_seq_len=16, seed=0)
    assert not np.allclose(plain.encode(["reads files"]), plain.encode(["read file"]))
