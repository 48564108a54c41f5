"""Pretraining: the loop learns, resumes exactly, and runs under torchrun with 2 processes."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from codesift.config import ModelConfig, PretrainConfig, TokenizerConfig
from codesift.model.encoder import CLS_ID, PAD_ID
from codesift.tokenizer import train_tokenizer
from codesift.train.checkpoint import list_checkpoints
from codesift.train.distributed import World
from codesift.train.prefetch import Prefetcher
from codesift.train.pretrain import Pretrainer
from codesift.train.masking import mask_batch
from codesift.train.pretrain_data import Windows, pack_windows, window_indices
from codesift.train.schedule import Budget, lr_at

from conftest import REPO

TEMPLATE = '''def {verb}_{noun}({arg}):
    """{Verb} the {noun} from {arg}."""
    {noun} = read_{noun}({arg})
    return {noun}.{verb}()
'''
WORDS = [("load", "config", "path"), ("parse", "header", "line"), ("save", "record", "db"), ("close", "socket", "conn"),
         ("open", "file", "name"), ("sort", "items", "key"), ("send", "message", "client"), ("read", "table", "src")]
TEXTS = [TEMPLATE.format(verb=v, Verb=v.title(), noun=n, arg=a) for v, n, a in WORDS] * 4
MODEL = ModelConfig(arch="modernbert", layers=2, hidden=32, heads=2, intermediate=64, max_seq_len=32)
CPU = World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def windows():
    tok = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=512))
    return pack_windows(TEXTS, tok, seq_len=32, limit=10_000), tok.get_vocab_size()


def config(**kw):
    base = dict(steps=40, batch_size=8, seq_len=32, lr=3e-3, warmup_steps=4, eval_every=1000, checkpoint_every=1000,
                val_windows=8, log_every=1000, mask_rate=0.3, dobf_fraction=0.5)
    return PretrainConfig(**(base | kw))


def trainer(windows, tmp_path, **kw):
    (train, vocab) = windows
    return Pretrainer(MODEL, config(**kw), vocab, train, train, tmp_path, seed=0, world=CPU)


def test_pack_windows_fills_every_position(windows):
    train, _ = windows
    assert train.ids.shape[1] == 32 and len(train) > 10
    assert (train.ids[:, 0] == CLS_ID).all() and not (train.ids == PAD_ID).any()


def test_window_order_is_a_pure_function_of_position():
    a = window_indices(7, 10, 0, 25)
    assert sorted(a[:10]) == list(range(10)) and sorted(a[10:20]) == list(range(10))  # each epoch a permutation
    assert (window_indices(7, 10, 13, 5) == a[13:18]).all()


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_at(s, peak=1.0, warmup=10, total=100, min_ratio=0.1) for s in range(101)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0 and max(lrs) == 1.0
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False)) and lrs[100] == pytest.approx(0.1)


def test_time_budget_drives_the_decay_and_the_stop():
    budget = Budget(steps=1000, max_minutes=1.0, elapsed_s=45.0)
    assert budget.time_fraction == 0.75 and not budget.done(10)
    # a quarter of the steps but three quarters of the time: the decay follows the time
    assert lr_at(250, peak=1.0, warmup=0, total=1000, time_fraction=0.75) == pytest.approx(
        lr_at(750, peak=1.0, warmup=0, total=1000))
    budget.elapsed_s = 60.0
    assert budget.done(10) and budget.reason == "time budget"
    assert Budget(steps=5).done(5) and Budget(steps=5).reason == "steps"


def test_a_time_budget_ends_pretraining_early_and_survives_a_resume(windows, tmp_path):
    t = trainer(windows, tmp_path, steps=10_000, max_minutes=0.002, checkpoint_every=10_000)  # 0.12 s
    summary = t.train()
    assert summary["stopped_by"] == "time budget" and 0 < summary["steps"] < 10_000
    assert summary["tokens_seen"] == summary["steps"] * 8 * 32
    resumed = trainer(windows, tmp_path, steps=10_000, max_minutes=0.002, checkpoint_every=10_000)
    assert resumed.train()["steps"] == summary["steps"]  # the saved clock says the budget is spent


def test_windows_round_trip_compactly_with_the_same_masks(windows, tmp_path):
    train, vocab = windows
    train.save(tmp_path / "w.parquet")
    back = Windows.load(tmp_path / "w.parquet")
    assert (back.ids == train.ids).all() and back.owners.max() < train.ids.shape[1]
    special = train.ids == CLS_ID

    def masks(w):
        return mask_batch(w.ids, w.owners, special, rate=0.3, dobf_fraction=1.0, rng=np.random.default_rng(3),
                          mask_id=4, vocab_size=vocab, first_regular_id=5)

    for a, b in zip(masks(train), masks(back), strict=True):
        assert (a == b).all()


def test_loss_falls_on_a_tiny_fixture(windows, tmp_path):
    losses = []
    summary = trainer(windows, tmp_path).train(on_step=lambda s: losses.append(s.loss))
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])  # the log's speed figures
    assert logged["tokens_per_s"] > 0 and 0 < logged["mfu"] < 1 and 0 <= logged["input_wait"] < 1
    assert 0 <= summary["input_wait"] < 1 and summary["prefetch"] == 2 and summary["compile"] is False


def test_rtd_objective_trains(windows, tmp_path):
    losses = []
    t = trainer(windows, tmp_path, objective="rtd", steps=12, rtd_weight=10.0)
    summary = t.train(on_step=lambda s: losses.append(s.loss))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert summary["parameters"] == sum(p.numel() for p in t.encoder.parameters())


class Killed(Exception):
    pass


def test_prefetched_batches_equal_the_synchronous_ones_on_every_rank(windows, tmp_path):
    t = trainer(windows, tmp_path, grad_accum=2)
    per_rank = []
    for rank in (0, 1):
        t.world = replace(CPU, rank=rank, size=2)
        made = [t.step_batches(step) for step in range(3, 9)]
        for workers in (0, 2):  # a thread, or two processes taking turns
            with Prefetcher(t.step_batches, 3, 2, t.device, workers) as feed:
                fed = [feed.next() for _ in range(6)]
            for want, got in zip(made, fed, strict=True):
                assert len(got) == 2
                assert all(torch.equal(w[k], g[k]) for w, g in zip(want, got, strict=True) for k in w)
        per_rank.append(made)
    assert not torch.equal(per_rank[0][0][0]["input_ids"], per_rank[1][0][0]["input_ids"])  # ranks see other rows


def test_resume_after_a_kill_reproduces_the_next_losses_exactly(windows, tmp_path):
    reference = []  # the synchronous loop, never interrupted
    trainer(windows, tmp_path / "a", steps=8, checkpoint_every=3, prefetch=0).train(
        on_step=lambda s: reference.append(s.loss))

    def kill_after_step_5(stats):
        if stats.step == 4:  # 0-based: the fifth step, two steps past the checkpoint at step 3
            raise Killed

    with pytest.raises(Killed):
        trainer(windows, tmp_path / "b", steps=8, checkpoint_every=3).train(on_step=kill_after_step_5)
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == ["step-3"]
    resumed = []
    t = trainer(windows, tmp_path / "b", steps=8, checkpoint_every=3)  # prefetching, as the killed run did
    t.train(on_step=lambda s: resumed.append(s.loss))
    assert resumed == reference[3:]  # bitwise: same weights, optimizer state, batches and masks


def test_two_process_torchrun_smoke(tmp_path):
    """`codesift pretrain` under `torchrun --nproc_per_node=2` (gloo on CPU) completes with DDP."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_pipeline import recipe

    from codesift.runs import RunDir
    from codesift.stages import STAGES

    r = recipe(tmp_path)
    run = RunDir(r, tmp_path / "runs")
    for stage in ("data", "pairs", "tokenizer"):
        run.run_stage(STAGES[stage], log=lambda _: None)
    sources = json.dumps([s.model_dump() for s in r.data.sources])
    overrides = [f"data.sources={sources}", f"data.decontaminate_against={r.data.decontaminate_against}",
                 "pairs.test_fraction=0.3", "pairs.val_fraction=0.0", "tokenizer.vocab_size=1024",
                 "model.max_seq_len=32", "pretrain.seq_len=32", "train.code_max_len=32", "pretrain.steps=4", "pretrain.batch_size=2",
                 "pretrain.warmup_steps=1", "pretrain.checkpoint_every=2", "pretrain.val_windows=4"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "-m", "codesift.cli", "pretrain", str(REPO / "recipes" / "tiny.yaml"), "--run-dir", str(tmp_path / "runs")]
    for item in overrides:
        cmd += ["--set", item]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "runs" / "tiny" / "pretrain" / "manifest.json").read_text())
    assert manifest["summary"]["world_size"] == 2 and manifest["summary"]["steps"] == 4
    assert (tmp_path / "runs" / "tiny" / "pretrain" / "encoder" / "model.safetensors").exists()


def test_trim_metrics_keeps_records_up_to_the_resumed_step(tmp_path):
    from codesift.train.checkpoint import append_metrics, trim_metrics

    path = tmp_path / "metrics.jsonl"
    for step in (1, 2, 3, 4):
        append_metrics(path, {"step": step, "loss": 1.0 / step})
    path.write_text(path.read_text() + '{"step": 5, "lo')  # torn by a kill
    assert [r["step"] for r in trim_metrics(path, 2)] == [1, 2]
    append_metrics(path, {"step": 3, "loss": 0.3})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
    assert trim_metrics(tmp_path / "none.jsonl", 5) == []
