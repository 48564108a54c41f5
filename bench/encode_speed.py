"""Time encoding the CoSQA pool (6,267 Python functions) with a dense system; prints one JSON object.

    python bench/encode_speed.py [SYSTEM] [--batch-size N] [--precision auto|fp32|bf16]

SYSTEM is any dense spec of `codesift eval` (default: minilm). The model is loaded before the clock starts, and the
load average is recorded because the figure is only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from codesift.eval.benchmarks import benchmarks_dir, load_cosqa
from codesift.eval.systems import DenseSystem, build_systems, native_bf16
from codesift.runs import machine_info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", nargs="?", default="minilm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args()

    system = build_systems([args.system], precision=args.precision)[args.system]
    if not isinstance(system, DenseSystem):
        parser.error(f"{args.system!r} is not a dense system")
    system.batch_size = args.batch_size
    texts = list(load_cosqa(benchmarks_dir(), "test").corpus.values())
    model = system.load_model()
    system.encode(["warm up"])
    tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"])
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    system.encode(texts)
    seconds = time.perf_counter() - t0
    json.dump({
        "system": args.system, "texts": len(texts), "tokens": tokens, "seconds": round(seconds, 1),
        "texts_per_s": round(len(texts) / seconds, 1), "tokens_per_s": round(tokens / seconds),
        "batch_size": args.batch_size, "max_seq_len": model.max_seq_length,
        "bf16": args.precision == "bf16" or (args.precision == "auto" and native_bf16(model.device)),
        "torch_threads": torch.get_num_threads(), "loadavg_1min_before_after": [load_before[0], os.getloadavg()[0]],
        "machine": machine_info(),
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
