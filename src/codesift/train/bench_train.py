"""`codesift bench train`: contrastive training pairs/s, tokens/s, MFU and the input-wait share of the synchronous
loop against the prefetching (and compiled) ones, interleaved in one run, from the train stage's own log records.

The pairs are cut from the Python standard library's source by the pairs stage's code (doc -> body, signature ->
body), a tokenizer of the recipe's kind is trained on them, and the encoder has the recipe's shape with random
weights: speed depends on text lengths and shape, not on weights, so the benchmark needs no run folder (`--pairs`
takes a pairs stage's pairs.parquet instead). Every code is tokenized per step, which makes the input side far
heavier here than in pretraining, most of all for the static model.
"""

from __future__ import annotations

import argparse

from codesift.train.bench_loop import add_loop_args


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="recipes/small.yaml", help="model and train sections to measure")
    p.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (auto: the recipe's rule)")
    p.add_argument("--batch-size", type=int, help="pairs per step (default: the recipe's)")
    p.add_argument("--chunk-size", type=int, help="GradCache chunk (default: the recipe's)")
    p.add_argument("--hard-negatives", type=int, default=0, help="random codes per query standing in for mined ones")
    p.add_argument("--pairs", help="a pairs.parquet to draw from (default: pairs cut from the standard library)")
    p.add_argument("--max-files", type=int, default=600, help="standard-library files the pairs are cut from")
    add_loop_args(p, steps=4)
    p.add_argument("--out", default="runs/bench/train.json", help="JSON results")


def stdlib_examples(recipe, max_files: int):
    """doc -> body and signature -> body pairs of the first `max_files` standard-library modules (tests left out)."""
    import random
    import sysconfig
    from pathlib import Path

    import numpy as np

    from codesift.data.extract import extract_units, is_test_path
    from codesift.data.pairs import unit_pairs
    from codesift.train.batches import Examples

    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(root.rglob("*.py")) if "site-packages" not in p.parts
             and not is_test_path(str(p.relative_to(root)))][:max_files]
    rng = random.Random(recipe.seed)
    pairs = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for unit in extract_units(text, "python", repo="cpython", path=str(path.relative_to(root)), license=None):
            pairs += unit_pairs(unit, recipe.pairs, rng)
    return Examples([p.query for p in pairs], [p.code for p in pairs], np.array([p.pair_type for p in pairs]),
                    np.array([p.language for p in pairs]), np.array([p.repo for p in pairs]),
                    [f"{p.path} {p.symbol}" for p in pairs])


def write_encoder(recipe, texts: list[str], folder) -> None:
    """A random encoder of the recipe's shape (or, for a static model, only the tokenizer it starts from)."""
    from codesift.model.encoder import build_mlm
    from codesift.tokenizer import save_for_transformers, train_tokenizer

    tok = train_tokenizer(texts, recipe.tokenizer)
    folder.mkdir(parents=True)
    if recipe.model.arch == "static":
        tok.save(str(folder / "tokenizer.json"))
        return
    build_mlm(recipe.model, tok.get_vocab_size()).save_pretrained(folder)
    save_for_transformers(tok, folder)


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    import torch

    from codesift.config import load_recipe
    from codesift.log import get_logger
    from codesift.train.batches import BatchStream, load_examples
    from codesift.train.bench_loop import figures, interleaved, settings, variants, vs_sync, write_report
    from codesift.train.contrastive import ContrastiveTrainer
    from codesift.train.distributed import World
    from codesift.train.precision import matmul_peak, resolve_precision

    log = get_logger("codesift.bench.train")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = variants(args.variants)
    if args.workers > 1:
        raise SystemExit("--workers: contrastive batches come from one seeded stream, read by one process")
    recipe = load_recipe(args.recipe)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    world = World(0, 1, 0, device)
    precision = resolve_precision(args.precision, device)
    peak = matmul_peak(precision, device, seconds=2.0)
    log.info("matmul peak %s: %.3f TFLOP/s", precision, peak / 1e12)
    examples = load_examples(args.pairs, "train", seed=recipe.seed) if args.pairs else stdlib_examples(
        recipe, args.max_files)
    train = recipe.train.model_copy(update={
        "batch_size": args.batch_size or recipe.train.batch_size, "chunk_size": args.chunk_size or
        recipe.train.chunk_size, "steps": args.warmup + args.steps, "warmup_steps": 1, "max_minutes": None,
        "log_every": 1, "checkpoint_every": 10**9, "precision": precision, "init": "pretrained", "init_from": None,
    })
    log.info("%d pairs; batch %d, chunks of %d, %d hard negative(s)", len(examples), train.batch_size,
             train.chunk_size, args.hard_negatives)
    with tempfile.TemporaryDirectory() as tmp:
        encoder = Path(tmp) / "encoder"
        write_encoder(recipe, examples.queries + examples.codes, encoder)

        def timed_steps(variant: str) -> list[dict]:
            r = recipe.model_copy(update={"train": train.model_copy(update=settings(variant, args))})
            out = Path(tempfile.mkdtemp(dir=tmp))
            trainer = ContrastiveTrainer(r, encoder, out, world)
            stream = BatchStream(examples, train.batch_size, recipe.seed, train.pair_type_weights,
                                 train.language_batches == "grouped", train.doc_in_code_rate, args.hard_negatives,
                                 query_style_rate=train.query_style_rate, repo_group=train.repo_group,
                                 code_header_rate=train.code_header_rate,
                                 own_batch_types=train.own_batch_types)
            trainer.train_round(out / "round-1", stream)
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            timed = []
            for rec in records[args.warmup:]:  # one record per step: its rates times its seconds
                seconds = train.batch_size / rec["examples_per_s"]
                timed.append({"seconds": seconds, "wait_s": rec["input_wait"] * seconds, "pairs": train.batch_size,
                              "tokens": rec["tokens_per_s"] * seconds,
                              "flops": rec["mfu"] * trainer.peak * seconds if "mfu" in rec else None})
            log.info("%s: %s", variant, figures([timed], peak))
            return timed

        samples = interleaved(names, args.repeats, timed_steps)
    relative = vs_sync(samples, "pairs")
    results = [{"precision": precision, "variant": v, "batch_size": train.batch_size, "chunk_size": train.chunk_size,
                "hard_negatives": args.hard_negatives, **figures(samples[v], peak)} for v in names]
    for row in results:
        if row["variant"] in relative:
            row["pairs_per_s_vs_sync"] = relative[row["variant"]]
    write_report({"model": recipe.model.model_dump(), "pairs": len(examples), "threads": torch.get_num_threads(),
                  "matmul_peak_tflops": round(peak / 1e12, 4), "results": results}, args.out)
    return 0
