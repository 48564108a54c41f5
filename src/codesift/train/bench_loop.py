"""What `codesift bench pretrain` and `codesift bench train` share: the variants of the training loop they compare,
run interleaved in one process (a machine busy with other work slows every variant alike), and their figures.

Variants: `sync` makes each batch inside the step (the loop as it was before prefetching, `prefetch: 0`),
`thread` makes them ahead on a thread of the training process, `workers` in worker processes, `compile` runs the
recipe's own prefetching under torch.compile (its first steps compile, so `--warmup` must cover them). Figures
per variant, over the timed steps of every repeat: tokens/s (and pairs/s), model TFLOP/s and MFU against the
matmul peak measured in the same run (medians of the steps' rates), and the input-wait share (seconds the step
waited for its batch / step seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ("sync", "thread", "workers", "compile")


def add_loop_args(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--variants", default="sync,thread,workers",
                   help=f"comma-separated, run interleaved: {', '.join(VARIANTS)}")
    p.add_argument("--repeats", type=int, default=2, help="rounds of every variant, interleaved")
    p.add_argument("--steps", type=int, default=steps, help="timed optimizer steps per variant and repeat")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (compile needs a few more)")
    p.add_argument("--prefetch", type=int, default=2, help="batches made ahead by thread and workers")
    p.add_argument("--workers", type=int, default=1, help="worker processes of the workers variant")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")


def variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if unknown := [v for v in names if v not in VARIANTS]:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    return names


def settings(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """The recipe values (pretrain or train section) that make `variant`; `compile` keeps the recipe's prefetching."""
    return {"sync": {"prefetch": 0}, "thread": {"prefetch": args.prefetch, "prefetch_workers": 0},
            "workers": {"prefetch": args.prefetch, "prefetch_workers": args.workers},
            "compile": {"compile": True}}[variant]


def interleaved(names: list[str], repeats: int, run: Callable[[str], list[dict[str, float]]]) -> dict[str, list]:
    """Every variant's timed steps, one list per repeat: `run(variant)` once per repeat, variants taking turns, each
    repeat starting with the next one (no variant always runs first, after a pause or a model build)."""
    samples: dict[str, list[list[dict[str, float]]]] = {v: [] for v in names}
    for r in range(repeats):
        for v in names[r % len(names):] + names[: r % len(names)]:
            samples[v].append(run(v))
    return samples


def _median_rate(steps: list[dict[str, float]], key: str) -> float:
    import numpy as np

    return float(np.median([s[key] / s["seconds"] for s in steps]))


def figures(repeats: list[list[dict[str, float]]], peak: float) -> dict[str, Any]:
    """Medians of the per-step rates over every repeat's timed steps (`seconds`, `wait_s`, `tokens`, `flops` (None:
    not counted), optional `pairs`): a step slowed by another job on the machine moves a median less than a total.
    The input-wait share is the total wait over the total step time."""
    import numpy as np

    steps = [s for run in repeats for s in run]
    out = {"steps": len(steps), "step_s": round(float(np.median([s["seconds"] for s in steps])), 4),
           "tokens_per_s": round(_median_rate(steps, "tokens"), 1)}
    if "pairs" in steps[0]:
        out["pairs_per_s"] = round(_median_rate(steps, "pairs"), 2)
    if all(s["flops"] is not None for s in steps):
        achieved = _median_rate(steps, "flops")
        out["achieved_tflops"] = round(achieved / 1e12, 4)
        out["mfu"] = round(achieved / peak, 4)
    out["input_wait"] = round(sum(s["wait_s"] for s in steps) / sum(s["seconds"] for s in steps), 4)
    return out


def vs_sync(samples: dict[str, list], key: str) -> dict[str, float]:
    """Each variant's `key` rate over the synchronous loop's in the same repeat, the median over repeats: runs a
    minute apart share the machine's load far more than runs ten minutes apart (the goal: not below 1)."""
    import numpy as np

    if "sync" not in samples:
        return {}
    return {v: round(float(np.median([_median_rate(a, key) / _median_rate(b, key)
                                      for a, b in zip(runs, samples["sync"], strict=True)])), 3)
            for v, runs in samples.items()}


def write_report(report: dict[str, Any], out: str) -> None:
    from codesift.runs import machine_info, package_versions, write_json

    report = {"command": "codesift " + " ".join(sys.argv[1:]), **report, "machine": machine_info(),
              "versions": package_versions()}
    write_json(Path(out), report)
    print(json.dumps(report["results"], indent=2))
