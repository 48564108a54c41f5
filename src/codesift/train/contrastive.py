"""The `train` stage: contrastive training of the embedding model in rounds, with hard-negative mining between.

Round 1 trains on in-batch negatives only. Before each later round the previous round's model embeds a pool of
training pairs, mines hard negatives for it (train/mining.py) and, with `train.consistency_top_k`, drops the pairs
whose code it does not rank in the top k for their own query (after round 1 only: CodeSage v2's consistency
filter); the round then trains on the pool's surviving pairs with their negatives. Each step is one GradCache
update over the whole `batch_size` (train/gradcache.py), the loss symmetric InfoNCE (optionally Matryoshka) with a
fixed or learned temperature; with `train.token_dropout` every code loses a random share of its tokens each step
(token cutoff). Batches are drawn and tokenized ahead of the step in the background (`train.prefetch`); the
log shows pairs/s, tokens/s, MFU and the share of step time spent waiting for input. After each round the model
is saved as a sentence-transformers folder and scored with the eval harness on sampled validation pairs and CoSQA
dev; the best round by `eval.select_metric` becomes `model/`.

Output: `model/` (best), `round-<r>/model/`, `round-<r>/{eval,mining}.json`, `round-<r>/negatives.npz`,
`round-<r>/checkpoints/`, `metrics.jsonl`, `rounds.json`, `tb/`. A killed run resumes from the last checkpoint
with the same data order. Under torchrun each rank embeds its slice of every batch; rank 0 mines, evaluates and
writes.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from codesift.config import Recipe, TrainConfig
from codesift.log import get_logger
from codesift.model.embedder import Embedder
from codesift.model.static import STATIC_DIR, StaticEmbedder, is_static_folder
from codesift.runs import StageContext, atomic_write, write_json
from codesift.runtime.views import definition_parts
from codesift.train.accel import adamw, compiled
from codesift.train.batches import Batch, BatchStream, Examples, load_examples
from codesift.train.checkpoint import (
    append_metrics, list_checkpoints, load_checkpoint, save_checkpoint, trim_metrics,
)
from codesift.train.distributed import World, current_world
from codesift.train.flops import embedding_training_flops
from codesift.train.gradcache import all_reduce_grads, cached_backward
from codesift.train.losses import Temperature, matryoshka_info_nce
from codesift.train.mining import mine_pool
from codesift.train.precision import autocast, matmul_peak, resolve_precision
from codesift.train.prefetch import Prefetcher
from codesift.train.schedule import Budget, lr_at

log = get_logger(__name__)
BATCH_SEED_STRIDE = 1_000_003  # train.batch_seed moves the stream's seed far past any round's (seed + round)


class ContrastiveTrainer:
    """Owns the embedder, temperature, optimizer and batch stream of one round; `train_round` runs (or resumes) it."""

    def __init__(self, recipe: Recipe, encoder_dir: Path, out_dir: Path, world: World | None = None):
        self.recipe, self.cfg, self.out_dir = recipe, recipe.train, out_dir
        self.world = world or current_world()
        self.device = self.world.device
        self.precision = resolve_precision(self.cfg.precision, self.device)
        if self.cfg.batch_size % self.world.size:
            raise ValueError(
                f"train.batch_size ({self.cfg.batch_size}) must divide evenly over {self.world.size} ranks")
        torch.manual_seed(recipe.seed)  # the same projection / random init on every rank and every rerun
        if self.cfg.init_from:
            self.embedder = continued_model(Path(self.cfg.init_from), encoder_dir, recipe).to(self.device)
        elif recipe.model.arch == "static" and is_static_folder(encoder_dir):  # the pretrain stage's table
            self.embedder = StaticEmbedder.load(encoder_dir, **recipe.model.folding).to(self.device)
        elif recipe.model.arch == "static":  # a fresh table on the run's tokenizer
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
            self.embedder = StaticEmbedder(tokenizer, recipe.model.hidden, recipe.model.max_seq_len,
                                           **recipe.model.folding).to(self.device)
        else:
            self.embedder = Embedder.from_encoder(
                encoder_dir, recipe.model.max_seq_len, recipe.model.embedding_dim,
                random_init=self.cfg.init == "random",
            ).to(self.device)
        learned = self.cfg.temperature == "learned"
        self.temperature = Temperature(0.05 if learned else float(self.cfg.temperature), learned).to(self.device)
        self.modules = nn.ModuleDict({"embedder": self.embedder, "temperature": self.temperature})
        self.forward_model = compiled(self.embedder, self.cfg.compile)
        self.step = 0
        self._peak: float | None = None

    # --- one round ------------------------------------------------------------------------------------------

    def new_optimizer(self) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for name, p in self.modules.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 and "embeddings" not in name else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return adamw(groups, self.cfg.lr, self.device)

    @property
    def peak(self) -> float:
        """The measured matmul peak MFU is reported against (measured once, when first logged)."""
        if self._peak is None:
            self._peak = matmul_peak(self.precision, self.device)
        return self._peak

    def train_round(self, round_dir: Path, stream: BatchStream, writer=None, global_offset: int = 0) -> dict[str, Any]:
        """Run `train.steps` GradCache steps (or `train.max_minutes`) on `stream`, resuming from
        `round_dir/checkpoints` if any."""
        cfg = self.cfg
        optimizer = self.new_optimizer()
        ckpt_dir = round_dir / "checkpoints"
        self.step = 0
        budget = Budget(cfg.steps, cfg.max_minutes)
        if found := list_checkpoints(ckpt_dir):
            state = load_checkpoint(found[-1], self.modules, optimizer)
            self.step = state["step"]
            budget.elapsed_s = state.get("elapsed_s", 0.0)
            stream.skip(self.step)
            log.info("%s: resumed from %s (step %d of %d)", round_dir.name, found[-1], self.step, cfg.steps)
        if self.world.is_main:
            trim_metrics(self.out_dir / "metrics.jsonl", global_offset + self.step)
        params = [p for p in self.modules.parameters() if p.requires_grad]
        self.modules.train()
        t_start, losses = time.perf_counter(), []
        done = {"pairs": 0, "tokens": 0, "flops": 0.0}
        t_log, waited = time.perf_counter(), 0.0
        duplicates = stream.duplicates_skipped
        last = budget.done(self.step, self.world)

        def make(step: int) -> dict[str, Any]:  # in the producer: the stream is read there, in step order
            return {**self.inputs(stream.next(), step), "duplicates_skipped": stream.duplicates_skipped}

        with Prefetcher(make, self.step, cfg.prefetch, self.device, cfg.prefetch_workers) as feed:
            while not last:
                lr = lr_at(self.step, peak=cfg.lr, warmup=cfg.warmup_steps, total=cfg.steps,
                           min_ratio=cfg.min_lr_ratio, time_fraction=budget.time_fraction)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                t_step = time.perf_counter()
                inputs = feed.next()
                optimizer.zero_grad(set_to_none=True)
                loss = self.loss_step(inputs)
                all_reduce_grads(params)
                grad_norm = float(nn.utils.clip_grad_norm_(params, cfg.grad_clip))
                optimizer.step()
                self.step += 1
                budget.elapsed_s += time.perf_counter() - t_step
                last = budget.done(self.step, self.world)
                for key in done:
                    done[key] += inputs[key] or 0
                duplicates = inputs["duplicates_skipped"]
                losses.append(float(loss))
                if not math.isfinite(losses[-1]):
                    raise FloatingPointError(f"round {round_dir.name} step {self.step}: loss is {losses[-1]}")
                if self.step % cfg.log_every == 0 or last:
                    span = time.perf_counter() - t_log
                    record = {"step": global_offset + self.step, "round_step": self.step,
                              "loss": float(np.mean(losses)), "lr": lr, "temperature": self.temperature.value,
                              "grad_norm": grad_norm, "examples_per_s": done["pairs"] / span,
                              "tokens_per_s": done["tokens"] * self.world.size / span,  # ranks get even slices
                              "input_wait": (feed.wait_s - waited) / span}
                    if inputs["flops"] is not None:
                        record["mfu"] = done["flops"] / span / self.peak  # measured outside any step's time
                    losses, done, t_log, waited = [], dict.fromkeys(done, 0), time.perf_counter(), feed.wait_s
                    if self.world.is_main:
                        self._log(writer, record)
                    log.info("%s step %d/%d: loss %.4f lr %.2e t %.4f (%.1f pairs/s, %.0f tokens/s, MFU %s, input "
                             "wait %.1f%%)", round_dir.name, self.step, cfg.steps, record["loss"], lr,
                             record["temperature"], record["examples_per_s"], record["tokens_per_s"],
                             f"{100 * record['mfu']:.1f}%" if "mfu" in record else "-", 100 * record["input_wait"])
                if self.step % cfg.checkpoint_every == 0 and not last:
                    self.checkpoint(ckpt_dir, optimizer, budget)
        return {"steps": self.step, "stopped_by": budget.reason, "seconds": round(time.perf_counter() - t_start, 2),
                "temperature": self.temperature.value, "duplicates_skipped": duplicates}

    def train_soup(self, round_dir: Path, stream: Callable[[TrainConfig], BatchStream], writer=None,
                   global_offset: int = 0) -> dict[str, Any]:
        """Train each of `train.soup`'s models from the round's start in turn (in `round_dir/soup-<i>`, a finished
        one kept for a resume), then load their weight average. `stream(cfg)` draws an ingredient's batches."""
        base = self.cfg
        start = {k: v.detach().clone() for k, v in self.modules.state_dict().items()}
        states, trained = [], []
        try:
            for i in range(len(base.soup)):
                self.cfg = base.ingredient(i)
                folder = round_dir / f"soup-{i + 1}"
                if (folder / "weights.safetensors").is_file():  # finished before a kill
                    state, result = load_file(folder / "weights.safetensors"), _read_json(folder / "trained.json")
                else:
                    self.modules.load_state_dict(start)
                    result = self.train_round(folder, stream(self.cfg), writer, global_offset)
                    state = {k: v.detach().cpu().clone() for k, v in self.modules.state_dict().items()}
                    if self.world.is_main:
                        save_file(state, folder / "weights.safetensors")
                        write_json(folder / "trained.json", result)
                        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
                    self.world.barrier()
                states.append(state)
                trained.append({"weight": base.soup[i].weight, **result})
                global_offset += self.cfg.steps
        finally:
            self.cfg = base
        self.modules.load_state_dict(average_states(states, [x["weight"] for x in trained]))
        return {"steps": sum(x["steps"] for x in trained), "seconds": round(sum(x["seconds"] for x in trained), 2),
                "temperature": self.temperature.value, "soup": trained}

    def inputs(self, batch: Batch, step: int) -> dict[str, Any]:
        """What step `step` feeds the model from `batch`, as CPU tensors: this rank's contiguous slice of each group
        tokenized, the permutations that put the gathered embeddings back in batch order, the content ids the loss
        masks false negatives with, and this rank's token and model-FLOP counts.

        Each rank's slice of each group is embedded longest text first, so a GradCache chunk holds texts of
        similar length and little padding (codes range from a few tokens to the limit). Every rank derives every
        rank's order from the texts alone. A pure function of (batch, step, rank), so it can run ahead of the step."""
        cfg, size = self.cfg, self.world.size
        code_len = cfg.code_max_len or self.recipe.model.max_seq_len
        texts = [(batch.queries, cfg.query_max_len), (batch.positives, code_len)]
        if batch.negatives:
            texts.append((batch.negatives, code_len))
        groups, restore = [], []
        generator = None
        if cfg.token_dropout:  # seeded by step and rank: a resumed run replays it, ranks drop different tokens
            generator = torch.Generator().manual_seed((self.recipe.seed * 1_000_003 + step) * size + self.world.rank)
        views = []  # a view group per code group and weighted view, after the query and code groups
        for target, (items, max_len) in enumerate(list(texts[1:]) if cfg.document_views.active else [], start=1):
            parts = [definition_parts(code) for code in items]
            for which, weight in enumerate((cfg.document_views.doc, cfg.document_views.name)):
                if weight > 0:
                    texts.append(([p[which] for p in parts], max_len))
                    views.append({"target": target, "weight": weight,
                                  "present": torch.tensor([bool(p[which]) for p in parts])})
        for items, max_len in texts:
            per = len(items) // size
            order = [r * per + i for r in range(size)
                     for i in sorted(range(per), key=lambda i, r=r: -len(items[r * per + i]))]
            mine = order[self.world.rank * per : (self.world.rank + 1) * per]
            features = self.embedder.tokenize([items[i] for i in mine], max_len)
            if generator is not None and items is not batch.queries:
                features["attention_mask"] = drop_tokens(features["attention_mask"], cfg.token_dropout, generator)
            groups.append(features)
            restore.append(torch.argsort(torch.tensor(order)))  # gathered row -> batch row
        lengths = [g["attention_mask"].sum(1).numpy() for g in groups]
        return {"groups": groups, "restore": restore, "views": views, "doc_ids": torch.from_numpy(batch.doc_ids),
                "query_ids": torch.from_numpy(batch.query_ids), "pairs": len(batch.queries),
                "tokens": int(sum(x.sum() for x in lengths)), "flops": embedding_training_flops(self.embedder, lengths)}

    def loss_step(self, inputs: dict[str, Any]) -> torch.Tensor:
        """GradCache forward/backward of one global batch from its `inputs` (on the device); returns the loss."""
        cfg, restore = self.cfg, inputs["restore"]

        def loss_fn(reps: list[torch.Tensor]) -> torch.Tensor:
            reps = [r[back] for r, back in zip(reps, restore, strict=True)]
            reps = with_views(reps, inputs["views"])
            negatives = reps[2] if len(reps) > 2 else None
            return matryoshka_info_nce(reps[0], reps[1], negatives, self.temperature(), cfg.matryoshka_dims,
                                       symmetric=cfg.symmetric, doc_ids=inputs["doc_ids"],
                                       query_ids=inputs["query_ids"])

        return cached_backward(self.forward_model, inputs["groups"], loss_fn, cfg.chunk_size,
                               lambda: autocast(self.precision, self.device))

    # --- checkpoints and logs -------------------------------------------------------------------------------

    def checkpoint(self, ckpt_dir: Path, optimizer: torch.optim.Optimizer, budget: Budget) -> None:
        if self.world.is_main:
            save_checkpoint(ckpt_dir, self.step, self.modules, optimizer,
                            {"precision": self.precision, "elapsed_s": budget.elapsed_s})
        self.world.barrier()

    def _log(self, writer, record: dict[str, Any]) -> None:
        append_metrics(self.out_dir / "metrics.jsonl", record)
        if writer is not None:
            for key in ("loss", "lr", "temperature", "grad_norm", "examples_per_s", "tokens_per_s", "mfu",
                        "input_wait"):
                if key in record:
                    writer.add_scalar(f"train/{key}", record[key], record["step"])
            writer.flush()

    def load_weights(self, model_dir: Path, temperature: float) -> None:
        """Continue from a finished round's saved model (resuming a run between rounds)."""
        saved = type(self.embedder).load(model_dir)
        self.embedder.load_state_dict(saved.state_dict())
        if self.temperature.learned:
            with torch.no_grad():
                self.temperature.log_scale.fill_(math.log(1 / temperature))


def with_views(reps: list[torch.Tensor], views: list[dict[str, Any]]) -> list[torch.Tensor]:
    """The query and code groups, each code group's rows made as the runtime makes a document's vector: its unit
    vector plus each view's weighted unit vector where the code has that view (codesift.runtime.views)."""
    if not views:
        return reps
    out = reps[: len(reps) - len(views)]
    for target in sorted({v["target"] for v in views}):
        out[target] = nn.functional.normalize(out[target], dim=-1)
    for view, rep in zip(views, reps[len(out) :], strict=True):
        present = view["present"].to(rep.dtype).unsqueeze(1)
        out[view["target"]] = out[view["target"]] + view["weight"] * present * nn.functional.normalize(rep, dim=-1)
    return out


def average_states(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of models' weights (normalized weights); integer buffers (position ids) from the first."""
    total = float(sum(weights))
    return {key: (sum(w / total * s[key].double() for s, w in zip(states, weights, strict=True)).to(first.dtype)
                  if first.is_floating_point() else first)
            for key, first in states[0].items()}


def drop_tokens(mask: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """`mask` with each real token hidden with probability `rate`; a text that would lose them all keeps its first.
    Hiding a token from the mask removes it from attention and the mean pool alike."""
    kept = mask * (torch.rand(mask.shape, generator=generator) >= rate).to(mask.dtype)
    kept[:, 0] |= mask[:, 0] * (kept.sum(1) == 0).to(mask.dtype)
    return kept


def continued_model(folder: Path, encoder_dir: Path, recipe: Recipe) -> Embedder | StaticEmbedder:
    """The embedding model training continues from: it must read text with the run's tokenizer and have the
    recipe's shape, or its vectors would not mean what the export and index of this run assume."""
    static = recipe.model.arch == "static"
    try:
        model = StaticEmbedder.load(folder, **recipe.model.folding) if static else Embedder.load(folder)
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"train.init_from: {e} (expected a train stage's model/ folder of a {recipe.model.arch} "
                      "model)") from None
    ours, theirs = encoder_dir / "tokenizer.json", folder / (f"{STATIC_DIR}/tokenizer.json" if static else "tokenizer.json")
    if not ours.is_file() or not theirs.is_file():
        raise FileNotFoundError(f"train.init_from: need {ours} and {theirs} to check the model reads the run's tokens")
    if json.loads(ours.read_text())["model"] != json.loads(theirs.read_text())["model"]:  # vocab and merges
        raise ValueError(f"train.init_from {folder}: its tokenizer differs from the run's ({ours})")
    layers = None if static else model.encoder.config.num_hidden_layers
    hidden = model.dim if static else model.encoder.config.hidden_size
    shape = (layers, hidden, model.max_seq_len, model.dim)
    wanted = (recipe.model.layers, recipe.model.hidden, recipe.model.max_seq_len,
              recipe.model.embedding_dim or recipe.model.hidden)
    if shape != wanted:
        raise ValueError(f"train.init_from {folder}: layers/hidden/max_seq_len/dim {shape} differ from the "
                         f"recipe's model section {wanted}")
    log.info("train: continuing from %s", folder)
    return model


# --- evaluation between rounds ------------------------------------------------------------------------------------


def sample_benchmark(bench, max_queries: int | None, max_docs: int | None, seed: int):
    """A seeded subset: `max_queries` queries, and a corpus of their relevant documents plus a random sample of the
    others up to `max_docs` (a smaller pool is easier, so compare rounds with each other, not with published
    figures)."""
    from codesift.eval.benchmarks import Benchmark

    rng = np.random.default_rng(seed)
    qids = list(bench.queries)
    if max_queries is not None and len(qids) > max_queries:
        qids = [qids[i] for i in np.sort(rng.choice(len(qids), max_queries, replace=False))]
    relevant = set().union(*(bench.relevant[q] for q in qids))
    others = [d for d in bench.corpus if d not in relevant]
    if max_docs is not None and len(relevant) + len(others) > max_docs:
        n = max(0, max_docs - len(relevant))
        others = [others[i] for i in np.sort(rng.choice(len(others), n, replace=False))]
    keep = relevant | set(others)
    return Benchmark(
        bench.name, {q: bench.queries[q] for q in qids}, {d: t for d, t in bench.corpus.items() if d in keep},
        {q: bench.relevant[q] for q in qids}, {q: bench.meta[q] for q in qids if q in bench.meta},
        {d: m for d, m in bench.doc_meta.items() if d in keep},
    )


def round_benchmarks(recipe: Recipe, pairs: Path) -> list:
    """The benchmarks scored after every round. CoSQA dev is optional beside the validation pairs: when its files
    are absent, that is said once and the rounds are scored without it."""
    from codesift.eval.benchmarks import benchmarks_dir, load_cosqa, load_heldout

    cfg = recipe.train
    out = []
    for name in cfg.eval_benchmarks:
        if name == "val":
            bench = load_heldout(pairs, split="val")
        else:
            try:
                bench = load_cosqa(benchmarks_dir(configured=recipe.eval.benchmarks_dir), "dev")
            except FileNotFoundError as e:
                if len(cfg.eval_benchmarks) == 1:
                    raise
                log.warning("%s; rounds are scored without %s", e, name)
                continue
        out.append(sample_benchmark(bench, cfg.eval_max_queries, cfg.eval_max_docs, recipe.seed))
    return out


def evaluate_round(model_dir: Path, benchmarks: list, recipe: Recipe, precision: str) -> dict[str, Any]:
    """The eval harness on a saved round: metrics per benchmark and their mean of `eval.select_metric`."""
    from codesift.eval.retrieval import evaluate
    from codesift.eval.systems import DenseSystem

    system = DenseSystem(model_dir, "model", recipe.eval.max_seq_len, precision=precision)
    results = evaluate({"model": system}, benchmarks)
    metric = recipe.eval.select_metric
    scores = {name: entry["results"]["model"] for name, entry in results["benchmarks"].items()}
    summary = {name: {m: round(r[m], 4) for m in ("mrr", "ndcg@10", "recall@1", "recall@10")}
               for name, r in scores.items()}
    return {"select_metric": metric, "score": float(np.mean([r[metric] for r in scores.values()])),
            "benchmarks": summary, "queries": {n: e["queries"] for n, e in results["benchmarks"].items()},
            "documents": {n: e["documents"] for n, e in results["benchmarks"].items()}}


# --- the stage ----------------------------------------------------------------------------------------------------


def run(ctx: StageContext) -> dict[str, Any]:
    """Stage entry: rounds of (mine ->) train -> save -> evaluate; the best round becomes `model/`."""
    world = current_world()
    recipe, cfg = ctx.recipe, ctx.recipe.train
    encoder_dir = ctx.inputs["pretrain"] / "encoder"
    pairs = ctx.inputs["pairs"] / "pairs.parquet"
    out = ctx.out_dir
    examples = load_examples(pairs, "train", cfg.max_pairs, recipe.seed)
    trainer = ContrastiveTrainer(recipe, encoder_dir, out, world)
    benchmarks = round_benchmarks(recipe, pairs) if world.is_main else []
    progress = _read_json(out / "rounds.json") or {"rounds": []}
    writer = _tensorboard(out, len(progress["rounds"]) * cfg.round_steps) if world.is_main else None
    log.info("train: %d training pairs, %s, %s, batch %d (chunks of %d) on %d rank(s)", len(examples),
             trainer.precision, f"temperature {cfg.temperature}", cfg.batch_size, cfg.chunk_size, world.size)
    try:
        for r in range(1, cfg.rounds + 1):
            round_dir = out / f"round-{r}"
            done = [x for x in progress["rounds"] if x["round"] == r]
            if done:  # finished before a kill: continue from its saved weights
                trainer.load_weights(round_dir / "model", done[0]["train"]["temperature"])
                continue
            train_set, negatives, mining = examples, {}, None
            if r > 1 and (cfg.hard_negatives or cfg.consistency_top_k):
                train_set, negatives, mining = _mine(trainer, examples, recipe, round_dir, r, world)
                if writer is not None:
                    _log_mining(writer, mining, (r - 1) * cfg.round_steps)

            def stream(c: TrainConfig) -> BatchStream:
                return BatchStream(
                    train_set, c.batch_size, recipe.seed + r + BATCH_SEED_STRIDE * c.batch_seed, c.pair_type_weights,
                    c.language_batches == "grouped", c.doc_in_code_rate, c.hard_negatives if r > 1 else 0, negatives,
                    examples, c.query_style_rate, c.repo_group, c.code_header_rate, c.own_batch_types,
                )
            offset = (r - 1) * cfg.round_steps
            trained = (trainer.train_soup(round_dir, stream, writer, offset) if cfg.soup else
                       trainer.train_round(round_dir, stream(cfg), writer, offset))
            trained["pairs"] = len(train_set)
            if world.is_main:
                trainer.embedder.save(round_dir / "model")
                scores = evaluate_round(round_dir / "model", benchmarks, recipe, trainer.precision)
                write_json(round_dir / "eval.json", scores)
                for name, metrics in scores["benchmarks"].items():
                    for metric, value in metrics.items():
                        writer.add_scalar(f"eval/{name}/{metric}", value, r * cfg.round_steps)
                progress["rounds"].append({"round": r, "train": trained, "mining": mining, "eval": scores})
                write_json(out / "rounds.json", progress)
                log.info("round %d: %s %.4f (%s)", r, scores["select_metric"], scores["score"],
                         ", ".join(f"{n} {m[scores['select_metric']]:.3f}" for n, m in scores["benchmarks"].items()))
                shutil.rmtree(round_dir / "checkpoints", ignore_errors=True)  # the round's model supersedes them
            progress = world.broadcast(progress)
    finally:
        if writer is not None:
            writer.close()
    best = max(progress["rounds"], key=lambda x: x["eval"]["score"])
    if world.is_main:
        shutil.rmtree(out / "model", ignore_errors=True)
        shutil.copytree(out / f"round-{best['round']}" / "model", out / "model")
        write_json(out / "summary.json", {"best_round": best["round"], **best["eval"]})
    world.barrier()
    summary: dict[str, Any] = {"rounds": cfg.rounds, "best_round": best["round"], "pairs": len(examples),
                               "score": round(best["eval"]["score"], 4)}
    for name, metrics in best["eval"]["benchmarks"].items():
        summary[f"{name}.{best['eval']['select_metric']}"] = metrics[best["eval"]["select_metric"]]
    return summary


def _mine(trainer: ContrastiveTrainer, examples: Examples, recipe: Recipe, round_dir: Path, r: int, world: World):
    """Negatives (and, after round 1, the consistency filter) for round `r` with the current model; saved, so a
    resumed round reuses them. Returns the round's training pairs, their negatives and the mining stats."""
    cfg, mine_cfg = recipe.train, recipe.mine
    saved = round_dir / "negatives.npz"
    if world.is_main and not saved.exists():
        result = mine_pool(
            trainer.embedder, examples, mine_cfg.model_copy(update={"per_query": max(mine_cfg.per_query,
                                                                                     cfg.hard_negatives or 1)}),
            mine_cfg.pool_size, cfg.consistency_top_k if r == 2 else None, recipe.seed + r,
            mine_cfg.batch_size, trainer.precision == "bf16", pool_seed=recipe.seed,
        )
        keep = result.pool[result.consistent]
        flat = [(i, j) for i, negs in result.negatives.items() for j in negs]
        round_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(saved, "wb") as fh:
            np.savez(fh, keep=keep, neg_owner=np.array([i for i, _ in flat], np.int64),
                     neg_index=np.array([j for _, j in flat], np.int64))
        write_json(round_dir / "mining.json", result.stats)
    world.barrier()
    data = np.load(saved)
    negatives: dict[int, list[int]] = {}
    for i, j in zip(data["neg_owner"].tolist(), data["neg_index"].tolist(), strict=True):
        negatives.setdefault(i, []).append(j)
    keep = data["keep"]
    if r > 2 and cfg.consistency_top_k:  # the filter is the round-1 model's: later rounds keep its survivors
        first = np.load(round_dir.parent / "round-2" / "negatives.npz")["keep"]
        keep = np.intersect1d(keep, first)
    stats = _read_json(round_dir / "mining.json") or {}
    if len(keep) < cfg.batch_size:
        raise ValueError(f"round {r}: only {len(keep)} pairs survived mining and filtering, fewer than "
                         f"train.batch_size {cfg.batch_size}; raise mine.pool_size or lower train.consistency_top_k")
    position = {int(i): n for n, i in enumerate(keep)}
    # keys: positions in the round's pairs; values: indices into all pairs (a filtered pair's code still serves
    # as a negative)
    remapped = {position[i]: np.array(negs, np.int64) for i, negs in negatives.items() if i in position}
    stats["train_pairs"] = len(keep)
    return examples.subset(keep), remapped, stats


def _log_mining(writer, stats: dict[str, Any], step: int) -> None:
    for key in ("negatives_mean", "queries_without_negative", "positive_top1", "positive_rank_median",
                "consistent_fraction", "seconds", "embed_seconds"):
        if isinstance(stats.get(key), (int, float)):
            writer.add_scalar(f"mine/{key}", stats[key], step)
    for reason, count in stats.get("dropped", {}).items():
        writer.add_scalar(f"mine/dropped_{reason}", count, step)
    writer.flush()


def _tensorboard(out_dir: Path, step: int):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out_dir / "tb"), purge_step=step + 1)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
