"""Stage what the GPU machine needs to run a recipe's `pretrain` and `train` stages, under 64 MiB.

The data, pairs and tokenizer stages run here (they need the corpus installs); the GPU machine gets their
manifests (stage fingerprints read only those), the tokenizer, the packed pretraining windows (run `codesift
pretrain` here until `pretrain/data/` is written), the pairs the train stage reads (`train.max_pairs`' seeded
sample, which is what the stage draws from the full file, plus the validation split) and CoSQA dev for the
per-round scores. A recipe whose training continues from a model (`train.init_from`) gets the finished pretrain
stage's manifest and encoder config instead of the windows, and the model as int8 rows (bench/gpu/int8_weights.py),
which train.sh restores at the same path on the GPU machine. Usage:
    python bench/gpu/stage_carry.py recipes/small-gpu.yaml runs/small-gpu .carry --wheels .whl/*.whl
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from int8_weights import pack

from codesift.config import load_recipe
from codesift.eval.benchmarks import benchmarks_dir
from codesift.runs import PARTIAL, RunDir, write_json
from codesift.stages import STAGES
from codesift.train.batches import sample_rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe")
    p.add_argument("run", type=Path, help="the local run folder (data, pairs, tokenizer done; pretrain/data packed)")
    p.add_argument("out", type=Path, help="folder to carry, e.g. .carry (replaced)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe overrides, the same ones train.sh gets in $SET")
    p.add_argument("--pretrain-only", action="store_true", help="stage for the pretrain stage alone (no pairs)")
    p.add_argument("--wheels", nargs="*", type=Path, default=[], help="wheels the GPU machine lacks (-> out/whl)")
    args = p.parse_args()
    recipe = load_recipe(args.recipe, args.overrides)
    shutil.rmtree(args.out, ignore_errors=True)
    run = args.out / "runs" / recipe.name
    for stage in ("data", "pairs"):
        (run / stage).mkdir(parents=True)
        shutil.copy2(args.run / stage / "manifest.json", run / stage / "manifest.json")
    shutil.copytree(args.run / "tokenizer", run / "tokenizer")
    if recipe.train.init_from:
        stage_finished_pretrain(args.run, run)
        pack(Path(recipe.train.init_from), args.out / "init")
    else:
        stage_windows(recipe, args.recipe, args.run, run)

    if args.wheels:
        (args.out / "whl").mkdir()
        for wheel in args.wheels:
            shutil.copy2(wheel, args.out / "whl" / wheel.name)
    if not args.pretrain_only:
        stage_pairs_and_benchmarks(recipe, args.run, run, args.out)
    for path in sorted(args.out.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size / 2**20:8.2f} MiB  {path}")
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{total / 2**20:8.2f} MiB  in all")


def stage_finished_pretrain(local_run: Path, run: Path) -> None:
    """The pretrain stage as done (the train stage's fingerprint reads its manifest) with the encoder's config and
    the tokenizer, which training from `train.init_from` checks the model against; no weights."""
    encoder = run / "pretrain" / "encoder"
    encoder.mkdir(parents=True)
    shutil.copy2(local_run / "pretrain" / "manifest.json", run / "pretrain" / "manifest.json")
    for name in ("config.json", "tokenizer_config.json"):
        shutil.copy2(local_run / "pretrain" / "encoder" / name, encoder / name)
    shutil.copy2(local_run / "tokenizer" / "tokenizer.json", encoder / "tokenizer.json")


def stage_windows(recipe, recipe_path: str, local_run: Path, run: Path) -> None:
    """The packed pretraining windows, with the stage marked as interrupted so the GPU machine resumes it."""
    windows = local_run / "pretrain" / "data"
    if not (windows / "train.parquet").exists():
        raise SystemExit(f"{windows}/train.parquet missing: run `codesift pretrain {recipe_path}` here until it is packed")
    cfg = recipe.pretrain
    needed = cfg.steps * cfg.batch_size * cfg.grad_accum
    packed = pq.ParquetFile(windows / "train.parquet")
    rows, width = packed.metadata.num_rows, len(packed.read_row_group(0, columns=["ids"])["ids"][0])
    if rows > min(needed, cfg.max_windows or needed) or width != cfg.seq_len:
        raise SystemExit(f"{windows}: {rows} windows of {width} tokens do not match the "
                         f"recipe's pretrain section (<= {min(needed, cfg.max_windows or needed)} of {cfg.seq_len}); "
                         "repack them here")
    (run / "pretrain").mkdir()
    shutil.copytree(windows, run / "pretrain" / "data")
    # Mark the stage as interrupted under the recipe's current fingerprint, so the GPU machine resumes it with these
    # windows (a change of a budget or learning rate does not change what was packed).
    fingerprint, _ = RunDir(recipe, local_run.parent).fingerprint(STAGES["pretrain"])
    write_json(run / "pretrain" / PARTIAL, {"fingerprint": fingerprint, "started_at": "staged by bench/gpu/stage_carry.py"})


def stage_pairs_and_benchmarks(recipe, local_run: Path, run: Path, out: Path) -> None:
    table = pq.read_table(local_run / "pairs" / "pairs.parquet", columns=["query", "code", "pair_type", "language", "split"])
    train = sample_rows(table.filter(pc.equal(table["split"], "train")), recipe.train.max_pairs, recipe.seed)
    val = table.filter(pc.equal(table["split"], "val"))
    pq.write_table(pa.concat_tables([train, val]), run / "pairs" / "pairs.parquet", compression="zstd",
                   compression_level=19)

    bench = benchmarks_dir(configured=recipe.eval.benchmarks_dir) / "cosqa"
    (out / "benchmarks" / "cosqa").mkdir(parents=True)
    for name in ("code_idx_map.txt", "cosqa-retrieval-dev-500.json", "LICENSE"):
        shutil.copy2(bench / name, out / "benchmarks" / "cosqa" / name)


if __name__ == "__main__":
    main()
