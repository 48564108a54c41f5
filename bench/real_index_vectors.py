"""Real embeddings for `codesift bench index --real`: a model's vectors of code units from a corpus and of held-out
queries, so the index is measured on what it will hold rather than only on a fitted mixture.

Documents are a seeded sample of the data stage's units (their first `--chars` characters: encoding the full
units of a 200k sample takes hours on 2 cores, the start of a function is what its chunk's vector is mostly
about), queries the docstrings of the pairs' test split. Usage:
    python bench/real_index_vectors.py runs/small-gpu 200000 runs/bench-index/codesift-units-200k.npz
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
    args = p.parse_args()
    encoder = load_encoder(args.model)
    units = pq.read_table(args.run / "data" / "units.parquet", columns=["code"])
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(units.num_rows, min(args.documents, units.num_rows), replace=False))
    codes = [c[: args.chars] for c in units.take(pick)["code"].to_pylist()]
    queries = read_pair_split(args.run / "pairs" / "pairs.parquet", "test")["query"].to_pylist()
    queries = [queries[i] for i in rng.permutation(len(queries))[: args.queries]]
    start = time.perf_counter()
    query_vectors = encoder.encode(queries, kind="query").vectors
    documents = []
    for i in range(0, len(codes), 10_000):
        documents.append(encoder.encode(codes[i : i + 10_000]).vectors)
        done = min(i + 10_000, len(codes))
        print(f"{done:,} documents in {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, documents=np.concatenate(documents).astype(np.float32),
             queries=query_vectors.astype(np.float32))
    print(f"{args.out}: {len(codes):,} documents, {len(queries):,} queries, {encoder!r}, "
          f"{len(codes) / (time.perf_counter() - start):.0f} documents/s")


if __name__ == "__main__":
    main()
