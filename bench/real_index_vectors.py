"""Real embeddings for `codesift bench index --real`: a model's vectors of code from a corpus and of held-out
queries, so the index is measured on what it will hold rather than only on a fitted mixture.

Documents are windows of `--chars` characters of the data stage's units, in a seeded order: the first window of
every unit first (the start of a function is what its chunk's vector is mostly about; encoding whole units of a
200k sample takes hours on 2 cores), then, once every unit is in, second windows, then third ones..., of the units
long enough to have them (a window starts a quarter of `--chars` or more before the unit ends). That is how a
collection grows past the corpus's unit count: the default corpus has 475k units and ~1.05M such windows, and the
index goal is at 1M. Queries are docstrings of the pairs' test split. The output keeps each
document's unit row and window, so `--extend` can grow an earlier file (same run, model, seed, --chars), encoding
only the added documents; the output is saved every 50k documents, so a stopped run can be grown later. Usage:
    python bench/real_index_vectors.py runs/small-gpu 200000 runs/bench-index/codesift-units-200k.npz
    python bench/real_index_vectors.py runs/small-gpu 1000000 runs/bench-index/codesift-windows-1m.npz \
        --extend runs/bench-index/codesift-units-400k-rows.npz
    codesift bench index --real runs/bench-index/codesift-windows-1m.npz --sizes '' ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from codesift.eval.benchmarks import read_pair_split
from codesift.runtime.onnx import load_encoder

LAST_WINDOW_MIN = 0.25  # a unit has window w > 0 when its code is at least (w + this) x --chars long
CHECKPOINT_EVERY = 50_000  # documents encoded between saves of the output


def save(path: Path, documents: np.ndarray, queries: np.ndarray, units: np.ndarray, windows: np.ndarray) -> None:
    """Write the output atomically (a temporary file renamed over it), so a stop mid-save keeps the previous one."""
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, documents=documents.astype(np.float32), queries=queries.astype(np.float32), units=units,
             windows=windows)
    partial.replace(path)


def draw(lengths: np.ndarray, have: set[tuple[int, int]], n: int, chars: int, seed: int) -> list[tuple[int, int]]:
    """`n` new (unit row, window) pairs: unseen first windows in a seeded order, then second windows, and so on."""
    rng = np.random.default_rng([seed, len(have)])
    out: list[tuple[int, int]] = []
    window = 0
    while len(out) < n and (window == 0 or (lengths >= (window + LAST_WINDOW_MIN) * chars).any()):
        eligible = lengths >= (window + LAST_WINDOW_MIN) * chars if window else np.ones(len(lengths), bool)
        pool = [(int(u), window) for u in np.flatnonzero(eligible) if (int(u), window) not in have]
        take = min(n - len(out), len(pool))
        out += sorted(pool[i] for i in rng.choice(len(pool), take, replace=False))
        window += 1
    if len(out) < n:
        raise SystemExit(f"the corpus has only {len(have) + len(out):,} windows of {chars} characters; asked {n:,}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run folder with data/units.parquet and pairs/pairs.parquet")
    p.add_argument("documents", type=int, help="documents wanted in the output")
    p.add_argument("out", type=Path, help=".npz with documents, queries, units and windows")
    p.add_argument("--model", default="models/default", help="exported model folder (default %(default)s)")
    p.add_argument("--chars", type=int, default=256, help="characters per window (default %(default)s)")
    p.add_argument("--queries", type=int, default=1000, help="held-out queries (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extend", type=Path, help="an earlier output (same run, model, seed, --chars) to grow")
    args = p.parse_args()
    encoder = load_encoder(args.model)
    code = pq.read_table(args.run / "data" / "units.parquet", columns=["code"])["code"]
    lengths = pc.utf8_length(code).to_numpy(zero_copy_only=False)
    documents, units, windows = [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    start = time.perf_counter()
    if args.extend:
        with np.load(args.extend) as earlier:
            if "units" not in earlier:
                raise SystemExit(f"{args.extend} has no unit rows (written before --extend kept them); rebuild it")
            documents, query_vectors = [earlier["documents"]], earlier["queries"]
            units, windows = earlier["units"], earlier["windows"]
    else:
        queries = read_pair_split(args.run / "pairs" / "pairs.parquet", "test")["query"].to_pylist()
        queries = [queries[i] for i in np.random.default_rng(args.seed).permutation(len(queries))[: args.queries]]
        query_vectors = encoder.encode(queries, kind="query").vectors
    picked = draw(lengths, set(zip(units.tolist(), windows.tolist())), args.documents - len(units), args.chars,
                  args.seed)
    new_units = np.array([u for u, _ in picked], dtype=np.int64)
    new_windows = np.array([w for _, w in picked], dtype=np.int64)
    texts = code.take(new_units).to_pylist()
    texts = [t[w * args.chars : (w + 1) * args.chars] for t, w in zip(texts, new_windows)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(texts), 10_000):
        documents.append(encoder.encode(texts[i : i + 10_000]).vectors)
        done = min(i + 10_000, len(texts))
        print(f"{done:,} documents in {time.perf_counter() - start:.0f} s", flush=True)
        if done % CHECKPOINT_EVERY == 0 or done == len(texts):  # a stopped run leaves a file --extend can grow
            save(args.out, np.concatenate(documents), query_vectors, np.concatenate([units, new_units[:done]]),
                 np.concatenate([windows, new_windows[:done]]))
    print(f"{args.out}: {len(units) + len(texts):,} documents ({len(texts):,} encoded now, "
          f"{int((new_windows > 0).sum()):,} of them later windows), {len(query_vectors):,} queries, {encoder!r}, "
          f"{len(texts) / (time.perf_counter() - start):.0f} documents/s")


if __name__ == "__main__":
    main()
