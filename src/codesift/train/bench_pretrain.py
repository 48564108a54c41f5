"""`codesift bench pretrain`: the machine's matmul peak per precision, then pretraining tokens/s, MFU and the
input-wait share of the synchronous loop against the prefetching (and compiled) ones, interleaved in one run.

Windows are random token ids with random identifier owners (speed does not depend on the text; masking does the
same work), so the benchmark needs no corpus. MFU is reported against the measured peak of the precision the step
ran in and against the best peak of the machine, both measured in the same run.
"""

from __future__ import annotations

import argparse

from codesift.train.bench_loop import add_loop_args


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="recipes/small.yaml", help="model and pretrain sections to measure")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--batch-size", type=int, help="sequences per micro-batch (default: the recipe's)")
    add_loop_args(p, steps=6)
    p.add_argument("--out", default="runs/bench/pretrain.json", help="JSON results")


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import numpy as np
    import torch

    from codesift.config import load_recipe
    from codesift.log import get_logger
    from codesift.model.encoder import CLS_ID
    from codesift.train.bench_loop import figures, interleaved, settings, variants, vs_sync, write_report
    from codesift.train.distributed import World
    from codesift.train.precision import matmul_peak
    from codesift.train.pretrain import Pretrainer
    from codesift.train.pretrain_data import Windows

    log = get_logger("codesift.bench.pretrain")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = variants(args.variants)
    recipe = load_recipe(args.recipe)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    world = World(0, 1, 0, device)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    peaks = {p: matmul_peak(p, device, seconds=2.0) for p in precisions}
    for p, v in peaks.items():
        log.info("matmul peak %s: %.3f TFLOP/s", p, v / 1e12)
    vocab = recipe.tokenizer.vocab_size
    seq = recipe.pretrain.seq_len
    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, size=(512, seq))
    ids[:, 0] = CLS_ID
    owners = np.where(rng.random(ids.shape) < 0.3, rng.integers(0, 40, ids.shape), -1)
    windows = Windows(ids, owners)
    val = Windows(ids[:8], owners[:8])  # the loop validates once at its end: kept short, it is not timed
    batch_size = args.batch_size or recipe.pretrain.batch_size
    facts: dict = {}

    def timed_steps(precision: str, variant: str) -> list[dict]:
        cfg = recipe.pretrain.model_copy(update={
            "steps": args.warmup + args.steps, "warmup_steps": 1, "precision": precision, "grad_accum": 1,
            "batch_size": batch_size, "eval_every": 10**9, "checkpoint_every": 10**9, "log_every": 10**9,
            "max_minutes": None, **settings(variant, args),
        })
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Pretrainer(recipe.model, cfg, vocab, windows, val, Path(tmp), recipe.seed, world)
            stats = []
            trainer.train(on_step=stats.append)
        facts.update(parameters=sum(p.numel() for p in trainer.encoder.parameters()),
                     flops_per_token=trainer.flops_per_token)
        timed = [{"seconds": s.seconds, "wait_s": s.wait_s, "tokens": s.tokens,
                  "flops": trainer.flops_per_token * s.tokens} for s in stats[args.warmup:]]
        log.info("%s %s: %s", precision, variant, figures([timed], peaks[precision]))
        if device.type == "cuda":
            facts.setdefault("gpu_peak_memory_gib", {})[f"{precision} {variant}"] = round(
                torch.cuda.max_memory_allocated(device) / 2**30, 2)
        return timed

    results = []
    for precision in precisions:
        samples = interleaved(names, args.repeats, lambda v, p=precision: timed_steps(p, v))
        relative = vs_sync(samples, "tokens")
        for variant in names:
            row = {"precision": precision, "variant": variant, "batch_size": batch_size, "seq_len": seq,
                   **figures(samples[variant], peaks[precision])}
            row["mfu_vs_best_peak"] = round(row["achieved_tflops"] * 1e12 / max(peaks.values()), 4)
            if variant in relative:
                row["tokens_per_s_vs_sync"] = relative[variant]
            results.append(row)
    write_report({"model": recipe.model.model_dump(), **facts, "threads": torch.get_num_threads(),
                  "matmul_peak_tflops": {k: round(v / 1e12, 4) for k, v in peaks.items()}, "results": results},
                 args.out)
    return 0
