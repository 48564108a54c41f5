"""`codesift mine`: hard negatives (and the consistency filter) for a pairs file with a trained checkpoint.

The same code the train stage runs between rounds (codesift.train.mining); this command writes the result as a
Parquet file for inspection or for training elsewhere. Light to import: torch and faiss load inside `run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULTS = {"rank_window": (3, 100), "margin": 0.95, "per_query": 1, "duplicate_cosine": 0.98}


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Embed a pool of training pairs with a sentence-transformers checkpoint, search the codes with "
                     "faiss, and write per query the hard negatives from a rank window that survive the "
                     "false-negative checks (the positive, identical queries' positives, near duplicates, the "
                     "margin); optionally flag pairs that fail the consistency filter.")
    p.add_argument("--model", required=True, help="sentence-transformers folder (e.g. runs/small/train/model)")
    p.add_argument("--pairs", required=True, help="pairs.parquet from the pairs stage")
    p.add_argument("--out", required=True, help="output Parquet file (a .json with the statistics goes beside it)")
    p.add_argument("--split", default="train", help="which split's pairs to mine (default: train)")
    p.add_argument("--limit", type=int, help="mine a seeded sample of this many pairs")
    p.add_argument("--rank-window", type=int, nargs=2, default=DEFAULTS["rank_window"], metavar=("START", "END"),
                   help="take candidates from ranks [START, END) (default: 3 100)")
    p.add_argument("--margin", type=float, default=DEFAULTS["margin"],
                   help="drop candidates scoring above MARGIN x the positive's score (default: 0.95)")
    p.add_argument("--per-query", type=int, default=DEFAULTS["per_query"], help="negatives kept per query")
    p.add_argument("--duplicate-cosine", type=float, default=DEFAULTS["duplicate_cosine"],
                   help="a candidate this similar to the positive code is a near duplicate (default: 0.98)")
    p.add_argument("--consistency-top-k", type=int,
                   help="flag pairs whose code is not in the top K for their own query (column 'consistent')")
    p.add_argument("--index", choices=["auto", "flat", "hnsw", "torch"], default="auto",
                   help="nearest-neighbour search (default auto: torch on a GPU, else faiss)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from codesift.config import MineConfig
    from codesift.log import get_logger
    from codesift.model.embedder import Embedder
    from codesift.runs import atomic_write, write_json
    from codesift.train.batches import load_examples
    from codesift.train.mining import mine_pool

    log = get_logger("codesift.mine")
    if args.limit is not None and args.limit < 2:
        raise ValueError(f"--limit must be at least 2, got {args.limit}")
    cfg = MineConfig(rank_window=tuple(args.rank_window), margin=args.margin, per_query=args.per_query,
                     duplicate_cosine=args.duplicate_cosine, index=args.index, batch_size=args.batch_size,
                     pool_size=None)
    examples = load_examples(args.pairs, args.split, args.limit, args.seed)
    embedder = Embedder.load(args.model)
    result = mine_pool(embedder, examples, cfg, None, args.consistency_top_k, args.seed, args.batch_size)
    rows = []
    for n, i in enumerate(result.pool.tolist()):
        negs = result.negatives.get(i, [])
        rows.append({"query": examples.queries[i], "positive": examples.codes[i],
                     "pair_type": str(examples.pair_types[i]), "language": str(examples.languages[i]),
                     "negatives": [examples.codes[j] for j in negs], "positive_rank": int(result.positive_rank[n]),
                     "consistent": bool(result.consistent[n])})
    out = Path(args.out)
    with atomic_write(out, "wb") as fh:
        pq.write_table(pa.Table.from_pylist(rows), fh)
    stats = result.stats | {"model": str(args.model), "pairs": str(args.pairs), "split": args.split}
    write_json(out.with_suffix(".json"), stats)
    log.info("wrote %d rows to %s; %s", len(rows), out, json.dumps(stats["dropped"]))
    return 0
