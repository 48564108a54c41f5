"""Real embeddings for `codesift bench index --real`: a model's vectors of code units from a corpus and of held-out
queries, so the index is measured on what it will hold rather than only on a fitted mixture.

Documents are a seeded sample of the data stage's units (their first `--chars` characters: encoding the full
units of a 200k sample takes hours on 2 cores, the start of a function is what its chunk's vector is mostly
about), queries the docstrings of the pairs' test split. `--extend` grows an earlier file of this script (same
run, model, seed and --chars) to more documents: its vectors are kept and only the added units are encoded. Usage:
    python bench/real_index_vectors.py runs/small-gpu 200000 runs/bench-index/codesift-units-200k.npz
    python bench/real_index_vectors.py runs/small-gpu 400000 runs/bench-index/codesift-units-400k.npz \
        --extend runs/bench-index/codesift-units-200k.npz
    codesift bench index --real runs/bench-index/codesift-units-200k.npz --sizes 200000 ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from codesift.eval.benchmarks import read_pair_split
from codesift.runtime.onnx import load_encoder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run folder with data/units.parquet and pairs/pairs.parquet")
    p.add_argument("documents", type=int, help="units to sample")
    p.add_argument("out", type=Path, help=".npz with documents and queries")
    p.add_argument("--model", default="models/default", help="exported model folder (default %(default)s)")
    p.add_argument("--chars", type=int, default=256, help="characters kept of each unit (default %(default)s)")
    p.add_argument("--queries", type=int, default=1000, help="held-out queries (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extend", type=Path, help="an earlier output (same run, model, seed, --chars) to grow")
    args = p.parse_args()
    encoder = load_encoder(args.model)
    units = pq.read_table(args.run / "data" / "units.parquet", columns=["code"])
    n = min(args.documents, units.num_rows)
    rng = np.random.default_rng(args.seed)
    documents, kept = [], np.zeros(0, dtype=np.int64)
    if args.extend:
        with np.load(args.extend) as earlier:
            documents, query_vectors = [earlier["documents"]], earlier["queries"]
        kept = np.sort(rng.choice(units.num_rows, len(documents[0]), replace=False))  # the earlier run's draw
        rest = np.setdiff1d(np.arange(units.num_rows), kept)
        pick = np.sort(np.random.default_rng([args.seed, 1]).choice(rest, n - len(kept), replace=False))
    else:
        pick = np.sort(rng.choice(units.num_rows, n, replace=False))
    codes = [c[: args.chars] for c in units.take(pick)["code"].to_pylist()]
    start = time.perf_counter()
    if not args.extend:
        queries = read_pair_split(args.run / "pairs" / "pairs.parquet", "test")["query"].to_pylist()
        queries = [queries[i] for i in rng.permutation(len(queries))[: args.queries]]
        query_vectors = encoder.encode(queries, kind="query").vectors
    for i in range(0, len(codes), 10_000):
        documents.append(encoder.encode(codes[i : i + 10_000]).vectors)
        done = min(i + 10_000, len(codes))
        print(f"{done:,} documents in {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, documents=np.concatenate(documents).astype(np.float32),
             queries=query_vectors.astype(np.float32))
    print(f"{args.out}: {len(kept) + len(codes):,} documents ({len(codes):,} encoded now), {len(query_vectors):,} "
          f"queries, {encoder!r}, {len(codes) / (time.perf_counter() - start):.0f} documents/s")


if __name__ == "__main__":
    main()
