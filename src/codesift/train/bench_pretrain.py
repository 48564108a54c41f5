"""`codesift bench pretrain`: the machine's matmul peak per precision, then pretraining tokens/s and MFU.

Windows are random token ids (speed does not depend on the text), so the benchmark needs no corpus. MFU is
reported against the measured peak of the precision the step ran in and against the best peak of the machine,
both measured in the same run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="recipes/small.yaml", help="model and pretrain sections to measure")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--steps", type=int, default=6, help="timed optimizer steps per precision (after 2 warm-up)")
    p.add_argument("--batch-size", type=int, help="sequences per micro-batch (default: the recipe's)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--out", default="runs/bench/pretrain.json", help="JSON results")


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch

    from codesift.config import load_recipe
    from codesift.log import get_logger
    from codesift.model.encoder import CLS_ID
    from codesift.runs import machine_info, package_versions, write_json
    from codesift.train.distributed import World
    from codesift.train.precision import matmul_peak
    from codesift.train.pretrain import Pretrainer
    from codesift.train.pretrain_data import Windows

    log = get_logger("codesift.bench.pretrain")
    if args.threads:
        torch.set_num_threads(args.threads)
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
    results = []
    for precision in precisions:
        cfg = recipe.pretrain.model_copy(update={
            "steps": args.steps + 2, "warmup_steps": 1, "precision": precision, "grad_accum": 1,
            "batch_size": args.batch_size or recipe.pretrain.batch_size, "eval_every": 10**9,
            "checkpoint_every": 10**9, "log_every": 10**9,
        })
        import tempfile

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Pretrainer(recipe.model, cfg, vocab, windows, windows, Path(tmp), recipe.seed, world)
            times: list[float] = []
            trainer.train(on_step=lambda s: times.append(s.seconds))
        step_s = float(np.median(times[2:]))
        tokens_per_s = cfg.batch_size * seq / step_s
        achieved = trainer.flops_per_token * tokens_per_s
        results.append({
            "precision": precision, "batch_size": cfg.batch_size, "seq_len": seq, "median_step_s": round(step_s, 3),
            "tokens_per_s": round(tokens_per_s, 1), "achieved_tflops": round(achieved / 1e12, 4),
            "mfu_vs_own_peak": round(achieved / peaks[precision], 3),
            "mfu_vs_best_peak": round(achieved / max(peaks.values()), 3),
            **({"gpu_peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)}
               if device.type == "cuda" else {}),
        })
        log.info("%s: %.0f tokens/s, %.3f TFLOP/s, MFU %.1f%% of its peak", precision, tokens_per_s, achieved / 1e12,
                 100 * achieved / peaks[precision])
        time.sleep(0.5)
    report = {
        "command": "codesift bench pretrain " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                          if k in ("recipe", "precisions", "steps", "batch_size",
                                                                   "threads") and v is not None),
        "model": recipe.model.model_dump(), "parameters": sum(p.numel() for p in trainer.encoder.parameters()),
        "flops_per_token": trainer.flops_per_token, "matmul_peak_tflops": {k: round(v / 1e12, 4) for k, v in peaks.items()},
        "results": results, "machine": machine_info(), "threads": torch.get_num_threads(), "versions": package_versions(),
    }
    write_json(Path(args.out), report)
    print(json.dumps(report["results"], indent=2))
    return 0
