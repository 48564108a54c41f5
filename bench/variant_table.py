"""Variants of a recipe against its base run, on everything issue 23 reads: CoSQA dev/test, CSN Ruby and the
held-out pairs of every language (each run's eval stage, MRR x100), and the model alone on repository search
(`codesift eval --benchmarks repo-search --systems dense:EXPORT,...`, NDCG@10 of both views). Every change is
paired with the base run on the same queries (bootstrap 95% interval).

    python bench/variant_table.py --runs base=runs/static v1=runs/abl/v1/static \
        --repo base=runs/rs-base/metrics.json v1=runs/rs-v1/metrics.json
    python bench/variant_table.py --runs plain=runs/eval/metrics.json#models/static views=runs/eval/metrics.json#EXPORT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from codesift.eval.metrics import paired_difference
from codesift.eval.retrieval import reciprocal_ranks

EVAL = ("cosqa-dev", "cosqa-test", "csn-ruby", "heldout")


def _pairs(items: list[str]) -> dict[str, Path]:
    return {name: Path(path) for name, _, path in (item.partition("=") for item in items)}


def eval_scores(run: Path) -> dict[str, np.ndarray]:
    """benchmark -> per-query reciprocal ranks (held-out per language included) of a run's trained model (its eval
    stage), or of one system of a `codesift eval --systems` report given as `metrics.json#SYSTEM`."""
    path, _, system = str(run).partition("#")
    metrics = json.loads((Path(path) if system else run / "eval" / "metrics.json").read_text())
    return {bench: reciprocal_ranks(entry["results"][system or "model"])
            for bench, entry in metrics["benchmarks"].items()}


def dense_scores(metrics_json: Path) -> dict[str, dict[str, dict[str, float]]]:
    """view -> (system kind: dense / bm25-blocks) -> qid -> NDCG@10, plus the headline under '_headline'.
    `metrics.json#SYSTEM` reads that system as the dense one (a report of several models)."""
    path, _, chosen = str(metrics_json).partition("#")
    results = json.loads(Path(path).read_text())
    out: dict[str, dict] = {}
    for name, r in results.items():
        kind = "dense" if name == chosen else name.split(":", 1)[0]
        if chosen and kind == "dense" and name != chosen:
            continue
        for view in ("span", "file"):
            out.setdefault(view, {})[kind] = r[view]["per_query"]
            out.setdefault(f"{view}-headline", {})[kind] = r[view]["ndcg10"]
            out.setdefault(f"{view}-symbol", {})[kind] = r[view]["by_category"].get("symbol", float("nan"))
    return out


def cell(values: np.ndarray, base: np.ndarray | None) -> str:
    text = f"{100 * values.mean():.1f}"
    if base is None or len(base) != len(values):
        return text
    d = paired_difference(values, base)
    lo, hi = d["ci95"]
    bold = "**" if lo > 0 or hi < 0 else ""
    return f"{text} ({bold}{100 * d['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]{bold})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True,
                   help="NAME=RUN_FOLDER (runs/<dir>/<recipe name>) or NAME=metrics.json#SYSTEM; first: base")
    p.add_argument("--repo", nargs="*", default=[],
                   help="NAME=repo-search metrics.json (a dense:... system) or NAME=metrics.json#dense:MODEL")
    args = p.parse_args()
    runs, repos = _pairs(args.runs), _pairs(args.repo)
    base_name = next(iter(runs))
    table = {name: eval_scores(run) for name, run in runs.items()}
    base = table[base_name]
    languages = sorted(b for b in base if b.startswith("heldout-"))
    benches = [*EVAL, *languages]
    print("MRR x100 (change against " + base_name + ", paired 95% interval)\n")
    print("| variant | " + " | ".join(benches) + " |")
    print("|---|" + "---|" * len(benches))
    for name, row in table.items():
        cells = [cell(row[b], None if name == base_name else base[b]) if b in row else "-" for b in benches]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if not repos:
        return
    scored = {name: dense_scores(path) for name, path in repos.items()}
    ref = scored.get(base_name)
    print("\nRepository search, the model alone (dense), NDCG@10 x100: headline (mean of repository means), "
          "symbol queries, per-query mean with its paired change against " + base_name + "\n")
    print("| variant | span | span symbol | span per query | file | file symbol | file per query |")
    print("|---|---|---|---|---|---|---|")
    for name, s in scored.items():
        cells = []
        for view in ("span", "file"):
            qids = sorted(s[view]["dense"])
            values = np.array([s[view]["dense"][q] for q in qids])
            base_values = None
            if ref is not None and name != base_name:
                base_values = np.array([ref[view]["dense"][q] for q in qids])
            cells += [f"{100 * s[f'{view}-headline']['dense']:.1f}", f"{100 * s[f'{view}-symbol']['dense']:.1f}",
                      cell(values, base_values)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, s in scored.items():
        if "bm25-blocks" in s["span"]:
            print(f"\nBM25 blocks (in {name}'s run): span {100 * s['span-headline']['bm25-blocks']:.1f}, "
                  f"file {100 * s['file-headline']['bm25-blocks']:.1f}")
            break


if __name__ == "__main__":
    main()
