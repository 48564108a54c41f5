"""Time contrastive training steps and pool encoding for a recipe's model on real pairs; prints one JSON object.

    python bench/train_speed.py RECIPE --encoder DIR --pairs PAIRS.parquet [--steps 3] [--batch-size N] [--set k=v]

DIR is a Hugging Face encoder folder with its tokenizer (the pretrain stage's `encoder/`); the weights do not
matter for speed, so an untrained one (`--set train.init=random`) measures the same. The figures size a recipe:
`pairs_per_s` x seconds available = pairs a round can see (`train.steps x train.batch_size`), and `encode_per_s`
gives the mining cost of `mine.pool_size` (one query and one code per pair). The load average is recorded
because the figure is only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from codesift.config import load_recipe
from codesift.model.embedder import Embedder
from codesift.runs import machine_info
from codesift.train.batches import BatchStream, load_examples
from codesift.train.contrastive import ContrastiveTrainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--encode", type=int, default=512, help="codes encoded for the mining figure")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    overrides = list(args.overrides) + ([f"train.batch_size={args.batch_size}"] if args.batch_size else [])
    recipe = load_recipe(args.recipe, overrides)
    cfg = recipe.train
    trainer = ContrastiveTrainer(recipe, args.encoder, out_dir=None)
    examples = load_examples(args.pairs, "train", limit=max(20 * cfg.batch_size, args.encode), seed=recipe.seed)
    stream = BatchStream(examples, cfg.batch_size, recipe.seed, cfg.pair_type_weights,
                         cfg.language_batches == "grouped", cfg.doc_in_code_rate, cfg.hard_negatives)
    optimizer = trainer.new_optimizer()
    load_before = os.getloadavg()
    times, tokens = [], 0
    for step in range(args.steps + 1):
        batch = stream.next()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        trainer.loss_step(trainer.inputs(batch, step))
        optimizer.step()
        if step:
            times.append(time.perf_counter() - t0)
            code_len = cfg.code_max_len or recipe.model.max_seq_len
            tok = trainer.embedder.tokenizer
            tokens += sum(min(len(ids), code_len) for ids in tok(batch.positives + batch.negatives)["input_ids"])
            tokens += sum(min(len(ids), cfg.query_max_len) for ids in tok(batch.queries)["input_ids"])
    embedder: Embedder = trainer.embedder
    codes = examples.codes[: args.encode]
    t0 = time.perf_counter()
    embedder.encode(codes, batch_size=recipe.mine.batch_size, bf16=trainer.precision == "bf16")
    encode_s = time.perf_counter() - t0
    step_s = sum(times) / len(times)
    print(json.dumps({
        "recipe": recipe.name, "batch_size": cfg.batch_size, "chunk_size": cfg.chunk_size,
        "hard_negatives": cfg.hard_negatives, "precision": trainer.precision, "threads": torch.get_num_threads(),
        "step_s": round(step_s, 3), "pairs_per_s": round(cfg.batch_size / step_s, 2),
        "train_tokens_per_s": round(tokens / sum(times), 1), "encode_per_s": round(len(codes) / encode_s, 2),
        "load_before": load_before, "load_after": os.getloadavg(), "machine": machine_info(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
