"""Batches (distinct positives, seeded order, resumable, pair-type weights, language groups, doc in code) and the
train stage end to end on a tiny encoder: rounds with mining, eval, best model, and resume after a kill."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from codesift.config import RecipeError, load_recipe
from codesift.runs import StageContext
from codesift.train import contrastive
from codesift.train.batches import BatchStream, Examples, web_query, with_doc

from conftest import BENCHMARKS, REPO
from tiny_encoder import one_thread, tiny_encoder, tiny_pairs  # noqa: F401  (fixtures)


def examples(n: int = 60) -> Examples:
    codes = [f"def f{i % 40}():\n    return {i % 40}" for i in range(n)]  # 40 distinct codes, 20 repeated
    queries = [f"query {i % 50}" for i in range(n)]  # 50 distinct queries
    types = np.array(["doc-body" if i % 3 else "signature-body" for i in range(n)])
    languages = np.array(["python" if i % 2 else "go" for i in range(n)])
    return Examples(queries, codes, types, languages)


def test_batches_hold_distinct_codes_and_queries_and_replay_from_the_seed():
    ex = examples()
    stream = BatchStream(ex, 16, seed=3)
    batches = [stream.next() for _ in range(12)]
    for b in batches:
        assert len(set(b.doc_ids.tolist())) == 16 and len(set(b.query_ids.tolist())) == 16
    again = BatchStream(ex, 16, seed=3)
    again.skip(5)
    assert again.next().index.tolist() == batches[5].index.tolist()
    assert BatchStream(ex, 16, seed=4).next().index.tolist() != batches[0].index.tolist()


def test_type_weights_language_groups_and_hard_negatives():
    ex = examples()
    only_docs = BatchStream(ex, 8, seed=0, type_weights={"signature-body": 0})
    assert all(ex.pair_types[i] == "doc-body" for _ in range(5) for i in only_docs.next().index)
    grouped = BatchStream(ex, 8, seed=0, group_languages=True)
    assert all(len({ex.languages[i] for i in grouped.next().index}) == 1 for _ in range(5))
    mined = {i: np.array([(i + 7) % 60]) for i in range(60)}
    stream = BatchStream(ex, 8, seed=0, hard_negatives=2, negatives=mined)
    b = stream.next()
    assert len(b.negatives) == 16 and len(b.doc_ids) == 24
    assert [b.negatives[2 * r] for r in range(8)] == [ex.codes[(i + 7) % 60] for i in b.index]
    with pytest.raises(ValueError, match="exceeds the 40 distinct codes"):
        BatchStream(ex, 41, seed=0)
    with pytest.raises(ValueError, match="unknown types"):
        BatchStream(ex, 8, seed=0, type_weights={"docs": 1.0})


def test_own_batch_types_never_share_a_batch_with_other_types():
    ex = examples(240)
    ex = Examples(ex.queries, [f"{c}  # {i}" for i, c in enumerate(ex.codes)], ex.pair_types, ex.languages)
    stream = BatchStream(ex, 16, seed=0, own_batch_types=["signature-body"])
    kinds = [{str(ex.pair_types[i]) for i in stream.next().index} for _ in range(30)]
    assert kinds.count({"signature-body"}) + kinds.count({"doc-body"}) == 30
    assert 4 <= kinds.count({"signature-body"}) <= 18  # about a third of the pairs, so about a third of the batches
    again = BatchStream(ex, 16, seed=0, own_batch_types=["signature-body"])
    again.skip(7)
    assert {str(ex.pair_types[i]) for i in again.next().index} == kinds[7]
    mixed = BatchStream(ex, 16, seed=0).next().index  # without own types, the stream is the one it always was
    assert mixed.tolist() == BatchStream(ex, 16, seed=0, own_batch_types=[]).next().index.tolist()
    with pytest.raises(ValueError, match="of type signature-body"):
        BatchStream(ex, 81, seed=0, own_batch_types=["signature-body"])
    with pytest.raises(ValueError, match="unknown types"):
        BatchStream(ex, 8, seed=0, own_batch_types=["comments"])


def test_repo_group_draws_runs_of_one_repository():
    n = 400
    codes = [f"def f{i}(): return {i}" for i in range(n)]
    ex = Examples([f"query {i}" for i in range(n)], codes, np.array(["doc-body"] * n), np.array(["python"] * n),
                  np.array([f"repo{i % 20}" for i in range(n)]))
    plain = BatchStream(ex, 40, seed=0).next().index
    grouped = BatchStream(ex, 40, seed=0, repo_group=8).next().index
    assert len(set(grouped.tolist())) == 40

    def same_repo_neighbours(index):
        return sum(ex.repos[a] == ex.repos[b] for a, b in zip(index[:-1], index[1:]))

    assert same_repo_neighbours(grouped) >= 30 and same_repo_neighbours(plain) < 10
    again = BatchStream(ex, 40, seed=0, repo_group=8)
    assert again.next().index.tolist() == grouped.tolist()
    assert sorted(again._permutation((None, "doc-body")).tolist()) == list(range(n))  # every pair once an epoch
    with pytest.raises(ValueError, match="repositories"):
        BatchStream(examples(), 8, seed=0, repo_group=4)


def test_code_header_rate_puts_the_index_line_above_codes():
    ex = examples()
    ex.headers = [f"pkg/mod{i}.py f{i % 40}" for i in range(len(ex))]
    batch = BatchStream(ex, 16, seed=0, code_header_rate=1.0).next()
    assert all(code.startswith(f"pkg/mod{i}.py f{i % 40}\n") for i, code in zip(batch.index, batch.positives))
    plain = BatchStream(ex, 16, seed=0).next()
    assert plain.positives == [ex.codes[i] for i in plain.index]
    with pytest.raises(ValueError, match="headers"):
        BatchStream(examples(), 8, seed=0, code_header_rate=0.5)


def test_doc_in_code():
    assert with_doc("def f(x):\n    return x", "Identity.", "python") == 'def f(x):\n    """Identity."""\n    return x'
    assert with_doc("func F() {}", "Does F.", "go") == "// Does F.\nfunc F() {}"
    assert with_doc("void f() {}", "Does f.", "java") == "/** Does f. */\nvoid f() {}"
    ex = examples()
    b = BatchStream(ex, 16, seed=0, doc_in_code_rate=1.0).next()
    for i, code in zip(b.index, b.positives, strict=True):
        assert (ex.queries[i] in code) == (ex.pair_types[i] == "doc-body")


def test_web_queries_keep_the_first_sentence_without_markup():
    rng = np.random.default_rng(0)
    seen = [web_query("Returns the :py:class:`~.Frame` of ``x``. Raises if empty.", "python", rng) for _ in range(60)]
    assert {q.replace("how to ", "").replace("python", "").replace(" in ", " ").strip() for q in seen} == {
        "returns the frame of x", "return the frame of x"}
    assert any(q.startswith("how to return the frame") for q in seen)
    assert any(q.startswith("python ") for q in seen) and any(q.endswith(" python") for q in seen)
    assert sum("python" in q for q in seen) in range(15, 46)  # about half
    assert not any(q.startswith("how to") for q in (web_query("A helper.", "go", rng) for _ in range(30)))
    assert web_query("See {@link Map#get} and [`Vec`](x).\nMore.", "java", np.random.default_rng(1)).replace(
        "java", "").replace("how to", "").strip() == "see map#get and vec"
    assert web_query("...", "rust", rng) == "..."  # nothing left: the doc as it was
    ex = examples()
    styled = BatchStream(ex, 16, seed=0, query_style_rate=1.0).next()
    plain = BatchStream(ex, 16, seed=0).next()
    assert styled.index.tolist() == plain.index.tolist()
    changed = [q != before for q, before in zip(styled.queries, plain.queries, strict=True)]
    assert plain.queries == [ex.queries[i] for i in plain.index]
    assert any(changed) and not any(c for c, i in zip(changed, styled.index, strict=True)
                                    if ex.pair_types[i] != "doc-body")  # doc queries only


# --- the stage --------------------------------------------------------------------------------------------------


def tiny_recipe(tmp_path, **train):
    settings = {"steps": 4, "batch_size": 16, "chunk_size": 8, "warmup_steps": 1, "rounds": 2, "hard_negatives": 1,
                "consistency_top_k": 60, "matryoshka_dims": [8], "checkpoint_every": 2, "log_every": 1,
                "eval_max_queries": 20, "eval_max_docs": 80, "temperature": "learned"} | train
    overrides = [f"train.{k}={json.dumps(v)}" for k, v in settings.items()] + [
        "model.layers=2", "model.hidden=32", "model.heads=2", "model.intermediate=64", "model.max_seq_len=64",
        "model.embedding_dim=16", "pretrain.seq_len=64", "train.code_max_len=64", "pretrain.warmup_steps=1", "mine.rank_window=[1, 30]",
        "mine.pool_size=150", f"eval.benchmarks_dir={BENCHMARKS}", f"run_dir={tmp_path}",
    ]
    return load_recipe(REPO / "recipes" / "tiny.yaml", overrides)


def stage_inputs(tmp_path, encoder, pairs):
    (tmp_path / "pretrain").mkdir(exist_ok=True)
    (tmp_path / "pairs").mkdir(exist_ok=True)
    for link, target in ((tmp_path / "pretrain" / "encoder", encoder), (tmp_path / "pairs" / "pairs.parquet", pairs)):
        if not link.exists():
            link.symlink_to(target)
    return {"pretrain": tmp_path / "pretrain", "pairs": tmp_path / "pairs"}


def test_rounds_are_scored_without_an_absent_cosqa(tmp_path, tiny_pairs, monkeypatch, caplog):  # noqa: F811
    monkeypatch.delenv("CODESIFT_BENCHMARKS", raising=False)
    recipe = tiny_recipe(tmp_path)
    recipe = recipe.model_copy(update={"eval": recipe.eval.model_copy(update={"benchmarks_dir": str(tmp_path)})})
    assert recipe.train.eval_benchmarks == ["val", "cosqa-dev"]
    assert [b.name for b in contrastive.round_benchmarks(recipe, tiny_pairs)] == ["val"]
    assert "rounds are scored without cosqa-dev" in caplog.text
    alone = recipe.model_copy(update={"train": recipe.train.model_copy(update={"eval_benchmarks": ["cosqa-dev"]})})
    with pytest.raises(FileNotFoundError, match="benchmark file not found"):
        contrastive.round_benchmarks(alone, tiny_pairs)


def test_train_stage_rounds_mining_eval_and_resume(tmp_path, tiny_encoder, tiny_pairs, monkeypatch):  # noqa: F811
    recipe = tiny_recipe(tmp_path)
    inputs = stage_inputs(tmp_path, tiny_encoder, tiny_pairs)
    out = tmp_path / "train"
    summary = contrastive.run(StageContext(recipe, out, inputs))

    assert summary["rounds"] == 2 and summary["best_round"] in (1, 2)
    assert {"val.mrr", "cosqa-dev.mrr"} <= set(summary)
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[0]["mining"] is None
    mining = rounds[1]["mining"]
    assert mining["pool"] == 150 and mining["consistency_top_k"] == 60 and mining["train_pairs"] > 16
    assert rounds[1]["eval"]["queries"] == {"val": 20, "cosqa-dev": 20}
    assert (out / "model" / "modules.json").is_file() and (out / "model" / "2_Dense" / "config.json").is_file()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))
    assert any((out / "tb").iterdir())
    final = load_file(str(out / "round-2" / "model" / "model.safetensors"))

    # a kill in round 2 after its step-2 checkpoint: the rerun resumes there and ends with the same weights
    killed = tmp_path / "killed"
    inputs2 = stage_inputs(killed, tiny_encoder, tiny_pairs) if killed.mkdir() is None else None
    original = contrastive.ContrastiveTrainer.loss_step
    calls = {"n": 0}

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 7:  # round 2, step 3
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(contrastive.ContrastiveTrainer, "loss_step", dying)
    with pytest.raises(KeyboardInterrupt):
        contrastive.run(StageContext(recipe, killed / "train", inputs2))
    assert (killed / "train" / "round-2" / "checkpoints" / "step-2").is_dir()
    monkeypatch.setattr(contrastive.ContrastiveTrainer, "loss_step", original)
    contrastive.run(StageContext(recipe, killed / "train", inputs2, resuming=True))
    resumed = load_file(str(killed / "train" / "round-2" / "model" / "model.safetensors"))
    for name, tensor in final.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)


def test_prefetched_rounds_equal_synchronous_ones_and_log_their_speed(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    from codesift.train.batches import load_examples

    ex = load_examples(tiny_pairs, "train")
    runs = {}
    for depth, workers in ((0, 0), (2, 0), (2, 1)):  # synchronous, a thread, a worker process
        out = tmp_path / f"prefetch-{depth}-{workers}"
        out.mkdir()
        recipe = tiny_recipe(tmp_path, precision="fp32", token_dropout=0.2, prefetch=depth, prefetch_workers=workers)
        trainer = contrastive.ContrastiveTrainer(recipe, tiny_encoder, out)
        stream = BatchStream(ex, 16, seed=3, hard_negatives=1, doc_in_code_rate=0.5, query_style_rate=0.5,
                             repo_group=4, code_header_rate=0.5)
        summary = trainer.train_round(out / "round-1", stream)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert all(0 <= r["input_wait"] < 1 and r["tokens_per_s"] > 0 and 0 < r["mfu"] < 1 for r in records)
        weights = trainer.embedder.state_dict()
        runs[workers, depth] = [r["loss"] for r in records], summary["duplicates_skipped"], weights
    sync_losses, sync_skipped, sync_weights = runs.pop((0, 0))
    assert len(sync_losses) == 4
    for losses, skipped, weights in runs.values():  # bitwise the same steps
        assert losses == sync_losses and skipped == sync_skipped
        assert all(torch.equal(weights[k], sync_weights[k]) for k in weights)


def test_rounds_end_on_their_time_budget(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    recipe = tiny_recipe(tmp_path, steps=100_000, max_minutes=0.002, consistency_top_k=None)  # 0.12 s a round
    contrastive.run(StageContext(recipe, tmp_path / "train", stage_inputs(tmp_path, tiny_encoder, tiny_pairs)))
    rounds = json.loads((tmp_path / "train" / "rounds.json").read_text())["rounds"]
    assert [r["train"]["stopped_by"] for r in rounds] == ["time budget", "time budget"]
    assert all(0 < r["train"]["steps"] < 100_000 for r in rounds)


def test_stage_refuses_bad_input(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    recipe = tiny_recipe(tmp_path, batch_size=4000)
    with pytest.raises(ValueError, match="batch_size 4000 exceeds"):
        contrastive.run(StageContext(recipe, tmp_path / "train", stage_inputs(tmp_path, tiny_encoder, tiny_pairs)))
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        contrastive.run(StageContext(tiny_recipe(tmp_path), tmp_path / "t2", {"pretrain": empty,
                                                                             "pairs": tmp_path / "pairs"}))


def test_training_continues_from_a_model_with_the_runs_tokenizer(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    inputs = stage_inputs(tmp_path, tiny_encoder, tiny_pairs)
    first = tiny_recipe(tmp_path, rounds=1, consistency_top_k=None)
    contrastive.run(StageContext(first, tmp_path / "first", inputs))
    before = load_file(str(tmp_path / "first" / "model" / "model.safetensors"))
    trainer = contrastive.ContrastiveTrainer(
        tiny_recipe(tmp_path, rounds=1, consistency_top_k=None, init_from=str(tmp_path / "first" / "model")),
        inputs["pretrain"] / "encoder", tmp_path / "second")
    for name, tensor in trainer.embedder.encoder.state_dict().items():
        torch.testing.assert_close(tensor, before[name])  # starts where the first run ended
    recipe = tiny_recipe(tmp_path, rounds=1, consistency_top_k=None, init_from=str(tmp_path / "first" / "model"))
    summary = contrastive.run(StageContext(recipe, tmp_path / "second", inputs))
    assert summary["rounds"] == 1
    after = load_file(str(tmp_path / "second" / "model" / "model.safetensors"))
    assert any(not torch.equal(after[k], before[k]) for k in before)

    other = tmp_path / "other"
    shutil.copytree(tmp_path / "first" / "model", other)
    vocab = json.loads((other / "tokenizer.json").read_text())
    vocab["model"]["vocab"]["zzz-not-ours"] = len(vocab["model"]["vocab"])
    (other / "tokenizer.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match="tokenizer differs"):
        contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, init_from=str(other)), inputs["pretrain"] / "encoder",
                                       tmp_path / "third")
    with pytest.raises(ValueError, match="differ from the recipe's model section"):
        contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, init_from=str(tmp_path / "first" / "model")).model_copy(
            update={"model": first.model.model_copy(update={"layers": 3})}), inputs["pretrain"] / "encoder",
            tmp_path / "fourth")
    with pytest.raises(FileNotFoundError, match="train.init_from: .*not a sentence-transformers folder"):
        contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, init_from=str(tmp_path / "missing")),
                                       inputs["pretrain"] / "encoder", tmp_path / "fifth")
    with pytest.raises(ValueError, match="exclude each other"):
        tiny_recipe(tmp_path, init="random", init_from="x")


def test_length_sorted_chunks_give_the_batch_order_loss(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    from codesift.train.batches import load_examples
    from codesift.train.losses import matryoshka_info_nce

    recipe = tiny_recipe(tmp_path, chunk_size=5, precision="fp32")  # the reference below runs in fp32
    trainer = contrastive.ContrastiveTrainer(recipe, tiny_encoder, tmp_path)
    ex = load_examples(tiny_pairs, "train")
    batch = BatchStream(ex, 16, seed=0, hard_negatives=1, doc_in_code_rate=0.5).next()
    got = trainer.loss_step(trainer.inputs(batch, step=0))
    emb = trainer.embedder
    reps = [emb(**emb.tokenize(t, n)) for t, n in ((batch.queries, 64), (batch.positives, 64), (batch.negatives, 64))]
    want = matryoshka_info_nce(*reps, trainer.temperature(), [8], doc_ids=torch.from_numpy(batch.doc_ids),
                               query_ids=torch.from_numpy(batch.query_ids))
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_document_views_make_each_code_as_the_runtime_embeds_it(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    from codesift.runtime.views import definition_parts
    from codesift.train.batches import load_examples
    from codesift.train.losses import matryoshka_info_nce

    views = {"doc": 0.35, "name": 0.3}
    recipe = tiny_recipe(tmp_path, chunk_size=5, precision="fp32", document_views=views)
    trainer = contrastive.ContrastiveTrainer(recipe, tiny_encoder, tmp_path)
    batch = BatchStream(load_examples(tiny_pairs, "train"), 16, seed=0, hard_negatives=1, doc_in_code_rate=0.5).next()
    inputs = trainer.inputs(batch, step=0)
    assert [(v["target"], v["weight"]) for v in inputs["views"]] == [(1, 0.35), (1, 0.3), (2, 0.35), (2, 0.3)]
    assert any(v["present"].any() for v in inputs["views"]) and not all(v["present"].all() for v in inputs["views"])
    got = trainer.loss_step(inputs)

    emb = trainer.embedder
    norm = torch.nn.functional.normalize

    def document(codes: list[str]) -> torch.Tensor:
        out = norm(emb(**emb.tokenize(codes, 64)), dim=-1)
        parts = [definition_parts(c) for c in codes]
        for which, weight in ((0, views["doc"]), (1, views["name"])):
            present = torch.tensor([bool(p[which]) for p in parts], dtype=out.dtype).unsqueeze(1)
            out = out + weight * present * norm(emb(**emb.tokenize([p[which] for p in parts], 64)), dim=-1)
        return out

    want = matryoshka_info_nce(emb(**emb.tokenize(batch.queries, 64)), document(batch.positives),
                               document(batch.negatives), trainer.temperature(), [8],
                               doc_ids=torch.from_numpy(batch.doc_ids), query_ids=torch.from_numpy(batch.query_ids))
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    plain = contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, chunk_size=5, precision="fp32"), tiny_encoder,
                                           tmp_path / "plain")
    assert plain.inputs(batch, step=0)["views"] == []
    assert got.item() != pytest.approx(plain.loss_step(plain.inputs(batch, step=0)).item(), rel=1e-4)


def test_token_dropout_hides_real_tokens_only_keeps_one_and_replays(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    from codesift.train.batches import load_examples

    mask = torch.zeros((400, 50), dtype=torch.long)
    lengths = torch.randint(1, 51, (400,), generator=torch.Generator().manual_seed(0))
    for row, n in enumerate(lengths.tolist()):
        mask[row, :n] = 1
    kept = contrastive.drop_tokens(mask, 0.3, torch.Generator().manual_seed(1))
    assert bool(((kept == 1) <= (mask == 1)).all()) and bool((kept.sum(1) >= 1).all())
    assert kept.sum().item() / mask.sum().item() == pytest.approx(0.7, abs=0.02)
    assert torch.equal(kept, contrastive.drop_tokens(mask, 0.3, torch.Generator().manual_seed(1)))
    everything = contrastive.drop_tokens(mask, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(everything, torch.nn.functional.pad(torch.ones(400, 1, dtype=torch.long), (0, 49)))

    # in training: codes lose tokens (a different loss), the same step replays the same drops
    batch = BatchStream(load_examples(tiny_pairs, "train"), 16, seed=0).next()
    plain = contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, precision="fp32"), tiny_encoder, tmp_path / "a")
    cut = contrastive.ContrastiveTrainer(tiny_recipe(tmp_path, precision="fp32", token_dropout=0.5), tiny_encoder,
                                         tmp_path / "b")
    first, again = (cut.loss_step(cut.inputs(batch, step=0)).item() for _ in range(2))
    assert first == pytest.approx(again, rel=1e-6)
    assert first != pytest.approx(plain.loss_step(plain.inputs(batch, step=0)).item(), rel=1e-3)


def test_soup_trains_each_model_from_the_start_averages_them_and_resumes(
        tmp_path, tiny_encoder, tiny_pairs, monkeypatch):  # noqa: F811
    inputs = stage_inputs(tmp_path, tiny_encoder, tiny_pairs)
    plain = dict(rounds=1, consistency_top_k=None, precision="fp32")
    contrastive.run(StageContext(tiny_recipe(tmp_path, **plain), tmp_path / "plain", inputs))
    soup = [{"weight": 3, "set": {}}, {"weight": 1, "set": {"steps": 3, "lr": 1e-3, "query_style_rate": 1.0}}]
    recipe = tiny_recipe(tmp_path, **plain, soup=soup)
    assert recipe.train.round_steps == 7
    out = tmp_path / "soup"
    contrastive.run(StageContext(recipe, out, inputs))

    first, second = (load_file(str(out / "round-1" / f"soup-{i}" / "weights.safetensors")) for i in (1, 2))
    alone = load_file(str(tmp_path / "plain" / "model" / "model.safetensors"))
    for name, tensor in alone.items():  # the first model is the plain run: same start, settings and batches
        torch.testing.assert_close(first[f"embedder.encoder.{name}"], tensor)
    averaged = load_file(str(out / "model" / "model.safetensors"))
    for name, tensor in averaged.items():
        a, b = first[f"embedder.encoder.{name}"], second[f"embedder.encoder.{name}"]
        assert not torch.equal(a, b) or not a.is_floating_point()
        torch.testing.assert_close(tensor, 0.75 * a + 0.25 * b if a.is_floating_point() else a)
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [x["steps"] for x in rounds[0]["train"]["soup"]] == [4, 3] and rounds[0]["train"]["steps"] == 7
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 8))  # the second model's steps follow the first's

    # a kill while the second model trains: the rerun keeps the first and ends with the same average
    original, calls = contrastive.ContrastiveTrainer.loss_step, {"n": 0}

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 7:  # the second model's third step, after its step-2 checkpoint
            raise KeyboardInterrupt
        return original(self, batch)

    killed = tmp_path / "killed"
    monkeypatch.setattr(contrastive.ContrastiveTrainer, "loss_step", dying)
    with pytest.raises(KeyboardInterrupt):
        contrastive.run(StageContext(recipe, killed, inputs))
    assert (killed / "round-1" / "soup-1" / "weights.safetensors").is_file()
    assert (killed / "round-1" / "soup-2" / "checkpoints" / "step-2").is_dir()
    monkeypatch.setattr(contrastive.ContrastiveTrainer, "loss_step", original)
    contrastive.run(StageContext(recipe, killed, inputs, resuming=True))
    resumed = load_file(str(killed / "model" / "model.safetensors"))
    for name, tensor in averaged.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)
    assert [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()] == steps


def test_soup_settings_are_checked_like_the_train_section(tmp_path):
    with pytest.raises(RecipeError, match="one ingredient is no average"):
        tiny_recipe(tmp_path, soup=[{"weight": 1}])
    with pytest.raises(RecipeError, match="rounds: shared by every ingredient"):
        tiny_recipe(tmp_path, soup=[{"weight": 1}, {"weight": 1, "set": {"rounds": 3}}])
    with pytest.raises(RecipeError, match=r"soup\[1\].set: stepz: Extra inputs"):
        tiny_recipe(tmp_path, soup=[{"weight": 1}, {"weight": 1, "set": {"stepz": 3}}])
    with pytest.raises(RecipeError, match=r"soup\[0\].set: pair_type_weights: .*weights must be >= 0"):
        tiny_recipe(tmp_path, soup=[{"weight": 1, "set": {"pair_type_weights": {"doc-body": -1}}}, {"weight": 1}])
    with pytest.raises(RecipeError, match="greater than 0"):
        tiny_recipe(tmp_path, soup=[{"weight": 0}, {"weight": 1}])


def test_batch_seed_gives_a_soup_model_another_batch_order(tmp_path, tiny_encoder, tiny_pairs):  # noqa: F811
    inputs = stage_inputs(tmp_path, tiny_encoder, tiny_pairs)
    soup = [{"weight": 1, "set": {}}, {"weight": 1, "set": {"batch_seed": 1}}, {"weight": 1, "set": {}}]
    out = tmp_path / "seeds"
    contrastive.run(StageContext(tiny_recipe(tmp_path, rounds=1, consistency_top_k=None, precision="fp32", soup=soup),
                                 out, inputs))
    first, other, again = (load_file(str(out / "round-1" / f"soup-{i}" / "weights.safetensors")) for i in (1, 2, 3))
    floats = [k for k in first if first[k].is_floating_point() and "temperature" not in k]
    assert all(torch.equal(first[k], again[k]) for k in floats)  # same settings, same batches
    assert any(not torch.equal(first[k], other[k]) for k in floats)
