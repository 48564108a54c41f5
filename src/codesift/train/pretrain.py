"""The `pretrain` stage: MLM + identifier-deobfuscation (or RTD) pretraining of the encoder.

One plain loop (nanoGPT-style): bf16 autocast where native, gradient accumulation, AdamW with warmup and
cosine decay, clipping, packed windows (no padding), a seeded data order that is a pure function of the step,
batches masked ahead of the step in the background (`pretrain.prefetch`), atomic safetensors checkpoints,
resume to the same step and batch after a kill, TensorBoard logs (tokens/s, MFU and the share of step time spent
waiting for input) and a validation loss on held-out repositories. Under `torchrun` it trains with DDP unchanged.

Output: `encoder/` (a Hugging Face folder + our tokenizer: `AutoModel.from_pretrained` gives the encoder the
contrastive stage starts from), `metrics.jsonl`, `summary.json`, `report.md`, `loss.png`, `tb/`.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from codesift.config import ModelConfig, PretrainConfig
from codesift.log import get_logger
from codesift.model.encoder import CLS_ID, MASK_ID, PAD_ID, SEP_ID, build_mlm, count_parameters
from codesift.runs import StageContext, atomic_write, write_json
from codesift.train.accel import adamw, compiled
from codesift.train.checkpoint import (
    append_metrics, list_checkpoints, load_checkpoint, save_checkpoint, trim_metrics,
)
from codesift.train.distributed import World, current_world
from codesift.train.flops import pretraining_flops_per_token
from codesift.train.masking import IGNORE, mask_batch
from codesift.train.precision import autocast, matmul_peak, resolve_precision
from codesift.train.prefetch import Prefetcher, to_device
from codesift.train.pretrain_data import Windows, held_out_repos, pack_windows, split_files, window_indices
from codesift.train.schedule import Budget, lr_at

log = get_logger(__name__)

FIRST_REGULAR_ID = 5  # ids below are special tokens; random replacements never draw them
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class StepStats:
    step: int
    loss: float
    lr: float
    grad_norm: float
    seconds: float
    tokens: int
    extra: dict[str, float]
    wait_s: float  # of `seconds`, spent waiting for the step's batches


class Pretrainer:
    """Owns the model, optimizer and data order; `train()` runs (or resumes) the loop to `cfg.steps`."""

    def __init__(
        self, model_cfg: ModelConfig, cfg: PretrainConfig, vocab_size: int, train: Windows, val: Windows,
        out_dir: Path, seed: int, world: World | None = None,
    ):
        self.cfg, self.model_cfg, self.vocab_size, self.seed = cfg, model_cfg, vocab_size, seed
        self.train_windows, self.val_windows, self.out_dir = train, val, out_dir
        self.world = world or current_world()
        self.device = self.world.device
        self.precision = resolve_precision(cfg.precision, self.device)
        torch.manual_seed(seed)  # identical initial weights on every rank and every rerun
        self.model = self._build_model().to(self.device)
        self.optimizer = adamw(self._param_groups(), cfg.lr, self.device)
        self.ddp = None
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.forward_model = compiled(self.ddp or self.model, cfg.compile)
        self.step = 0
        self.budget = Budget(cfg.steps, cfg.max_minutes)
        self.flops_per_token = pretraining_flops_per_token(self.model, cfg)

    # --- setup ----------------------------------------------------------------------------------------------

    def _build_model(self) -> torch.nn.Module:
        if self.cfg.objective == "rtd":
            from codesift.train.rtd import ReplacedTokenDetection

            return ReplacedTokenDetection(self.model_cfg, self.vocab_size, self.cfg.rtd_generator_ratio,
                                          self.cfg.rtd_weight)
        model = build_mlm(self.model_cfg, self.vocab_size)
        if hasattr(model.config, "sparse_prediction"):
            model.config.sparse_prediction = True  # the MLM head runs on masked positions only
        return model

    def _param_groups(self) -> list[dict[str, Any]]:
        """No weight decay on norms, biases and embeddings (standard for BERT-style pretraining)."""
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.ndim < 2 or "embeddings" in name or "norm" in name else decay).append(p)
        return [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    @property
    def encoder(self) -> torch.nn.Module:
        """The part downstream stages keep: the MLM model (its base loads with AutoModel) or RTD's encoder."""
        return self.model.encoder if self.cfg.objective == "rtd" else self.model

    # --- batches ----------------------------------------------------------------------------------------------

    def batch(self, windows: Windows, indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The masked rows `indices` of `windows` as CPU tensors (the prefetcher moves them to the device)."""
        ids = windows.ids[indices]
        special = (ids == CLS_ID) | (ids == SEP_ID) | (ids == PAD_ID)
        inputs, labels, is_dobf = mask_batch(
            ids, windows.owners[indices], special, rate=self.cfg.mask_rate, dobf_fraction=self.cfg.dobf_fraction,
            rng=rng, mask_id=MASK_ID, vocab_size=self.vocab_size, first_regular_id=FIRST_REGULAR_ID,
        )
        arrays = {"input_ids": inputs, "attention_mask": (ids != PAD_ID).astype(np.int64), "labels": labels,
                  "is_dobf": is_dobf}
        return {k: torch.from_numpy(v) for k, v in arrays.items()}

    def micro_batch(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        b, w = self.cfg.batch_size, self.world
        start = ((step * self.cfg.grad_accum + micro) * w.size + w.rank) * b
        indices = window_indices(self.seed, len(self.train_windows), start, b)
        return self.batch(self.train_windows, indices, np.random.default_rng([self.seed, 1, step, micro, w.rank]))

    def step_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """Every micro-batch of optimizer step `step`: what the prefetcher makes ahead."""
        return [self.micro_batch(step, micro) for micro in range(self.cfg.grad_accum)]

    def loss(self, batch: dict[str, torch.Tensor], step: int, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        model = self.forward_model
        with autocast(self.precision, self.device):
            if self.cfg.objective == "rtd":
                seed = int(np.random.default_rng([self.seed, 3, step + 1, micro, self.world.rank]).integers(2**62))
                gen = torch.Generator(device=self.device).manual_seed(seed)
                return model(batch["input_ids"], batch["attention_mask"], batch["labels"], gen)
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
            return out.loss, {}

    # --- loop ---------------------------------------------------------------------------------------------

    def train(self, on_step: Callable[[StepStats], None] | None = None) -> dict[str, Any]:
        """Run from the latest checkpoint (if any) to `cfg.steps`; returns the summary."""
        cfg, w = self.cfg, self.world
        ckpt_dir = self.out_dir / "checkpoints"
        self._resume(ckpt_dir)
        writer = self._tensorboard() if w.is_main else None
        peak = matmul_peak(self.precision, self.device)
        tokens_per_step = cfg.batch_size * cfg.grad_accum * w.size * self.train_windows.ids.shape[1]
        history = trim_metrics(self.out_dir / "metrics.jsonl", self.step) if w.is_main else []
        bar = tqdm(total=cfg.steps, initial=self.step, desc="pretrain", unit="step", disable=not w.is_main or None)
        train_seconds, wait_seconds, trained_steps = 0.0, 0.0, 0
        self.model.train()
        last = self.budget.done(self.step, self.world)
        with Prefetcher(self.step_batches, self.step, cfg.prefetch, self.device, cfg.prefetch_workers) as feed:
            while not last:
                stats = self._optimizer_step(feed, tokens_per_step)
                train_seconds += stats.seconds
                wait_seconds += stats.wait_s
                self.budget.elapsed_s += stats.seconds
                trained_steps += 1
                self.step += 1
                bar.update(1)
                last = self.budget.done(self.step, self.world)
                record: dict[str, Any] = {}
                if self.step % cfg.log_every == 0 or last:
                    tps = stats.tokens / stats.seconds
                    record = {"step": self.step, "loss": w.mean(stats.loss), "lr": stats.lr,
                              "grad_norm": stats.grad_norm, "tokens_per_s": tps,
                              "mfu": self.flops_per_token * tps / (peak * w.size),
                              "input_wait": stats.wait_s / stats.seconds,
                              **{k: w.mean(v) for k, v in stats.extra.items()}}
                    bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{tps:.0f}")
                    log.info("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s, MFU %.1f%%, input wait %.1f%%", self.step,
                             cfg.steps, record["loss"], stats.lr, tps, 100 * record["mfu"], 100 * record["input_wait"])
                if self.step % cfg.eval_every == 0 or last:
                    record = {"step": self.step, **record, **self.validate()}
                    log.info("step %d: val loss %.4f (mlm %.4f, dobf %.4f)", self.step, record["val_loss"],
                             record.get("val_mlm_loss", math.nan), record.get("val_dobf_loss", math.nan))
                if record and w.is_main:
                    history.append(record)
                    self._log(writer, record)
                if self.step % cfg.checkpoint_every == 0 or last:
                    self.checkpoint(ckpt_dir)
                if on_step is not None:
                    on_step(stats)
        bar.close()
        if writer is not None:
            writer.close()
        tokens_per_s = tokens_per_step * trained_steps / train_seconds if trained_steps else math.nan
        final = next((r for r in reversed(history) if "val_loss" in r), {})
        return {
            "steps": self.step, "stopped_by": self.budget.reason, "train_minutes": round(self.budget.elapsed_s / 60, 2),
            "precision": self.precision, "objective": cfg.objective,
            "parameters": count_parameters(self.encoder), "train_windows": len(self.train_windows),
            "val_windows": len(self.val_windows), "tokens_seen": tokens_per_step * self.step,
            "tokens_per_s": round(tokens_per_s, 1), "matmul_peak_tflops": round(peak / 1e12, 4),
            "mfu": round(self.flops_per_token * tokens_per_s / (peak * w.size), 4) if trained_steps else None,
            "input_wait": round(wait_seconds / train_seconds, 4) if trained_steps else None,
            "prefetch": cfg.prefetch, "prefetch_workers": cfg.prefetch_workers, "compile": cfg.compile,
            "final_loss": history[-1]["loss"] if history else None, "val_loss": final.get("val_loss"),
            "world_size": w.size,
        }

    def _optimizer_step(self, feed: Prefetcher, tokens: int) -> StepStats:
        cfg = self.cfg
        lr = lr_at(self.step, peak=cfg.lr, warmup=cfg.warmup_steps, total=cfg.steps, min_ratio=cfg.min_lr_ratio,
                   time_fraction=self.budget.time_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start, waited = time.perf_counter(), feed.wait_s
        total, extra = 0.0, {}
        for micro, batch in enumerate(feed.next()):
            last = micro == cfg.grad_accum - 1
            sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
            with sync:
                loss, parts = self.loss(batch, self.step, micro)
                (loss / cfg.grad_accum).backward()
            total += loss.item() / cfg.grad_accum
            for k, v in parts.items():
                extra[k] = extra.get(k, 0.0) + v / cfg.grad_accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip).item()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepStats(self.step, total, lr, grad_norm, time.perf_counter() - start, tokens, extra,
                         feed.wait_s - waited)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss on held-out repositories with fixed masks, split by MLM and DOBF examples (comparable over runs)."""
        self.model.eval()
        b = self.cfg.batch_size
        sums = {"mlm": [0.0, 0], "dobf": [0.0, 0]}
        for start in range(0, len(self.val_windows), b):
            indices = np.arange(start, min(start + b, len(self.val_windows)))
            batch = to_device(self.batch(self.val_windows, indices, np.random.default_rng([self.seed, 2, start])),
                              self.device)
            for kind, rows in (("dobf", batch["is_dobf"]), ("mlm", ~batch["is_dobf"])):
                if rows.any():
                    sub = {k: v[rows] for k, v in batch.items()}
                    loss, _ = self.loss(sub, -1, start)
                    n = int((sub["labels"] != IGNORE).sum())
                    sums[kind][0] += loss.item() * n
                    sums[kind][1] += n
        self.model.train()
        out = {f"val_{k}_loss": s / n for k, (s, n) in sums.items() if n}
        n_all = sums["mlm"][1] + sums["dobf"][1]
        out["val_loss"] = (sums["mlm"][0] + sums["dobf"][0]) / n_all if n_all else math.nan
        return {k: self.world.mean(v) for k, v in out.items()}

    # --- checkpoints and logs -------------------------------------------------------------------------------

    def checkpoint(self, ckpt_dir: Path) -> None:
        if self.world.is_main:
            save_checkpoint(ckpt_dir, self.step, self.model, self.optimizer,
                            {"precision": self.precision, "elapsed_s": self.budget.elapsed_s})
        self.world.barrier()

    def _resume(self, ckpt_dir: Path) -> None:
        found = list_checkpoints(ckpt_dir)
        if not found:
            return
        state = load_checkpoint(found[-1], self.model, self.optimizer)
        self.step = state["step"]
        self.budget.elapsed_s = state.get("elapsed_s", 0.0)
        log.info("resumed from %s (step %d of %d)", found[-1], self.step, self.cfg.steps)

    def _tensorboard(self):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.out_dir / "tb"), purge_step=self.step + 1)

    def _log(self, writer, record: dict[str, Any]) -> None:
        append_metrics(self.out_dir / "metrics.jsonl", record)
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                writer.add_scalar(f"pretrain/{key}", value, record["step"])
        writer.flush()


# --- the stage ------------------------------------------------------------------------------------------------


def _static_table(ctx: StageContext, tok_dir: Path) -> dict[str, Any]:
    """The static model's starting table from the corpus's token co-occurrence, saved as a model in encoder/."""
    from tokenizers import Tokenizer

    from codesift.train.static_init import cooccurrence_model, sample_texts

    model_cfg = ctx.recipe.model
    texts = sample_texts(ctx.inputs["data"] / "units.parquet", model_cfg.static_init_chars, ctx.recipe.seed)
    tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    model, summary = cooccurrence_model(tokenizer, texts, model_cfg.hidden, model_cfg.max_seq_len, ctx.recipe.seed,
                                        **model_cfg.folding)
    model.save(ctx.out_dir / "encoder")
    log.info("static init: %d texts, %d tokens given rows, %.0f s", summary["texts"], summary["tokens_with_rows"],
             summary["seconds"])
    return summary


def run(ctx: StageContext) -> dict[str, Any]:
    """Stage entry: build the windows (rank 0), train, save `encoder/` with the tokenizer, report."""
    from tokenizers import Tokenizer

    world = current_world()
    recipe, cfg = ctx.recipe, ctx.recipe.pretrain
    tok_dir = ctx.inputs["tokenizer"]
    if recipe.model.arch == "static":  # a table from co-occurrence counts, or none: training starts a random one
        summary: dict[str, Any] = {"arch": "static", "pretrained": False}
        if world.is_main:
            (ctx.out_dir / "encoder").mkdir(parents=True, exist_ok=True)
            if recipe.model.static_init == "cooccurrence":
                summary = {"arch": "static", "pretrained": True, **_static_table(ctx, tok_dir)}
            shutil.copy2(tok_dir / "tokenizer.json", ctx.out_dir / "encoder" / "tokenizer.json")
        world.barrier()
        return summary
    tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size()
    if world.is_main:
        prepare_windows(ctx, tokenizer, world.size)
    world.barrier()
    train, val = Windows.load(ctx.out_dir / "data" / "train.parquet"), Windows.load(ctx.out_dir / "data" / "val.parquet")
    trainer = Pretrainer(recipe.model, cfg, vocab_size, train, val, ctx.out_dir, recipe.seed, world)
    log.info("pretraining %s (%s, %.1fM parameters) on %d windows x %d tokens, %s, %d process(es)",
             recipe.model.arch, cfg.objective, count_parameters(trainer.encoder) / 1e6, len(train), cfg.seq_len,
             trainer.precision, world.size)
    summary = trainer.train()
    if world.is_main:
        save_encoder(trainer.encoder, tok_dir, ctx.out_dir / "encoder")
        write_json(ctx.out_dir / "summary.json", summary)
        write_report(ctx.out_dir, summary)
        shutil.rmtree(ctx.out_dir / "checkpoints", ignore_errors=True)  # the encoder is the artifact
    world.barrier()
    return summary


def prepare_windows(ctx: StageContext, tokenizer, world_size: int) -> None:
    """Pack train and validation windows once (kept across a resume, so the data order stays the same)."""
    import pyarrow.parquet as pq

    cfg = ctx.recipe.pretrain
    folder = ctx.out_dir / "data"
    if (folder / "train.parquet").exists() and (folder / "val.parquet").exists():
        return
    files = pq.read_table(ctx.inputs["data"] / "files.parquet", columns=["repo", "path", "text"])
    held_out = held_out_repos(ctx.inputs["pairs"] / "pairs.parquet")
    train_texts, val_texts = split_files(files, held_out, ctx.recipe.seed)
    needed = cfg.steps * cfg.batch_size * cfg.grad_accum * world_size
    train = pack_windows(train_texts, tokenizer, cfg.seq_len, min(needed, cfg.max_windows or needed))
    if not val_texts:
        log.warning("no held-out validation repositories; validating on the last training files instead")
        val_texts = train_texts[-max(1, len(train_texts) // 50):]
    val = pack_windows(val_texts, tokenizer, cfg.seq_len, cfg.val_windows)
    log.info("packed %d train windows (%.2f epochs of them over the run) and %d validation windows",
             len(train), needed / len(train), len(val))
    val.save(folder / "val.parquet")
    train.save(folder / "train.parquet")


def save_encoder(model: torch.nn.Module, tokenizer_dir: Path, out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copy2(tokenizer_dir / name, tmp / name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def write_report(out_dir: Path, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    for key, label in (("val_loss", "val (all)"), ("val_mlm_loss", "val MLM"), ("val_dobf_loss", "val DOBF")):
        points = [(r["step"], r[key]) for r in rows if key in r]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("pretraining loss (validation on held-out repositories)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "loss.png", dpi=120)
    plt.close(fig)
    lines = ["# Pretraining", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.items()]
    lines += ["", "![loss](loss.png)", ""]
    with atomic_write(out_dir / "report.md") as fh:
        fh.write("\n".join(lines))
