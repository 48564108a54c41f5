"""The ablation table of `bench/ablate.sh`: each variant's eval-stage MRR (with its 95% CI) next to the base run's.
The change against the base is paired (the same queries resampled together) when both runs kept per-query ranks.

    python bench/ablation_table.py OUT_DIR BASE_RUN_DIR [--recipe-name tiny] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from codesift.eval.metrics import paired_difference
from codesift.eval.retrieval import reciprocal_ranks


def scores(run: Path) -> dict[str, tuple[float, float, float, np.ndarray | None]]:
    """benchmark -> (MRR, CI low, CI high) x100 and the per-query reciprocal ranks (None in older runs) for the
    trained model."""
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    out = {}
    for bench, entry in metrics["benchmarks"].items():
        if "-" in bench and bench.startswith("heldout"):
            continue  # per-language slices repeat the mixed held-out figure here
        model = entry["results"]["model"]
        lo, hi = model["ci95"]["mrr"]
        ranks = reciprocal_ranks(model) if "first_relevant_ranks" in model else None
        out[bench] = (100 * model["mrr"], 100 * lo, 100 * hi, ranks)
    return out


def change(mrr: float, ranks: np.ndarray | None, base: tuple) -> str:
    """The MRR change against the base run, with its paired 95% interval when both kept per-query ranks."""
    base_ranks = base[3]
    if ranks is None or base_ranks is None or len(ranks) != len(base_ranks):
        return f"{mrr - base[0]:+.1f}"
    paired = paired_difference(ranks, base_ranks)
    lo, hi = paired["ci95"]
    return f"{100 * paired['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("base_run_dir", type=Path)
    p.add_argument("--recipe-name", default="tiny")
    p.add_argument("--plot", type=Path)
    args = p.parse_args()
    runs = {"base": args.base_run_dir / args.recipe_name}
    runs |= {d.name: d / args.recipe_name for d in sorted(args.out_dir.iterdir())
             if (d / args.recipe_name / "eval" / "metrics.json").exists()}
    table = {name: scores(run) for name, run in runs.items()}
    benches = list(table["base"])
    print("| variant | " + " | ".join(f"{b} MRR [95% CI] | vs base" for b in benches) + " |")
    print("|---|" + "---|---:|" * len(benches))
    for name, row in table.items():
        cells = []
        for b in benches:
            mrr, lo, hi, ranks = row[b]
            cells.append(f"{mrr:.1f} [{lo:.1f}, {hi:.1f}] | {change(mrr, ranks, table['base'][b])}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(benches), figsize=(5 * len(benches), 3.5), squeeze=False)
        for ax, b in zip(axes[0], benches):
            names = list(table)
            mrr = [table[n][b][0] for n in names]
            err = [[table[n][b][0] - table[n][b][1] for n in names], [table[n][b][2] - table[n][b][0] for n in names]]
            ax.barh(names, mrr, xerr=err, color=["#555" if n == "base" else "#4a90d9" for n in names])
            ax.set_title(f"{b}: MRR x100 (95% CI)")
            ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
