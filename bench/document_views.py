"""Choose the document views' weights: MRR of a model on selection benchmarks for each (doc, name) weight pair.

Each document is embedded once whole and once per view (its definition's doc summary and name, runtime.views),
so the whole grid costs one encode of each benchmark; queries as they are. Writes a Markdown table and a heatmap
per benchmark. Choose on selection sets (CoSQA dev, the validation pairs), never on a test set.

    python bench/document_views.py runs/static/train/model cosqa-dev,val:runs/static/pairs/pairs.parquet \
        --out runs/views/grid                     # --doc-weights 0,0.5,1 --name-weights 0,0.4 for another grid
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from codesift.eval.benchmarks import benchmarks_dir, load_benchmarks
from codesift.eval.metrics import relevant_ranks
from codesift.eval.systems import DenseSystem
from codesift.runtime.views import combine, part_vectors

DOC_WEIGHTS = (0.0, 0.35, 0.5, 0.65, 0.8, 1.0)  # the grid recipes/static.yaml's weights were chosen on
NAME_WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6)


def grid_mrr(system: DenseSystem, bench, doc_weights, name_weights) -> np.ndarray:
    """MRR x100 for every (doc, name) pair: rows doc weights, columns name weights."""
    ids = list(bench.corpus)
    texts = [bench.corpus[i] for i in ids]
    whole, parts = system.encode(texts), part_vectors(texts, system.encode)
    queries = system.encode([bench.queries[q] for q in bench.queries])
    position = {doc_id: row for row, doc_id in enumerate(ids)}
    relevant = [[position[r] for r in bench.relevant[q] if r in position] for q in bench.queries]
    out = np.zeros((len(doc_weights), len(name_weights)))
    for i, doc in enumerate(doc_weights):
        for j, name in enumerate(name_weights):
            scores = queries @ combine(whole, parts, (doc, name)).T
            first = [relevant_ranks(row, rel).min() for row, rel in zip(scores, relevant, strict=True)]
            out[i, j] = 100 * np.mean(1.0 / np.array(first))
    return out


def plot(grids: dict[str, np.ndarray], doc_weights, name_weights, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 3.6), squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(grid, cmap="viridis", origin="lower")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="w" if value < grid.max() - 1 else "k",
                    fontsize=8)
        ax.set(title=f"{name}: MRR x100", xlabel="name weight", ylabel="doc weight",
               xticks=range(len(name_weights)), xticklabels=name_weights, yticks=range(len(doc_weights)),
               yticklabels=doc_weights)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a sentence-transformers model folder (a run's train/model)")
    p.add_argument("benchmarks", help="comma-separated selection benchmarks, e.g. cosqa-dev,val:PAIRS.parquet")
    p.add_argument("--out", default="runs/document-views", help="folder for grid.md and grid.png")
    p.add_argument("--benchmarks-dir", help="folder with cosqa/ (default: $CODESIFT_BENCHMARKS or data/benchmarks)")
    p.add_argument("--doc-weights", default=",".join(map(str, DOC_WEIGHTS)), help="comma-separated (rows)")
    p.add_argument("--name-weights", default=",".join(map(str, NAME_WEIGHTS)), help="comma-separated (columns)")
    args = p.parse_args()
    doc_weights = tuple(float(w) for w in args.doc_weights.split(","))
    name_weights = tuple(float(w) for w in args.name_weights.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    system = DenseSystem(args.model, precision="fp32")
    benches = load_benchmarks(args.benchmarks.split(","), benchmarks_dir(args.benchmarks_dir))
    grids = {b.name: grid_mrr(system, b, doc_weights, name_weights) for b in benches
             if not b.name.startswith("heldout-")}
    mean = np.mean(list(grids.values()), axis=0)
    i, j = np.unravel_index(mean.argmax(), mean.shape)
    lines = [f"Document views of `{args.model}`: MRR x100 per (doc weight row, name weight column)", ""]
    for name, grid in {**grids, "mean": mean}.items():
        lines += [f"**{name}**", "", "| doc \\ name | " + " | ".join(map(str, name_weights)) + " |",
                  "|---|" + "---|" * len(name_weights)]
        lines += [f"| {d} | " + " | ".join(f"{v:.1f}" for v in row) + " |" for d, row in zip(doc_weights, grid)]
        lines.append("")
    lines.append(f"Best mean: doc {doc_weights[i]}, name {name_weights[j]} ({mean[i, j]:.1f}).")
    (out / "grid.md").write_text("\n".join(lines) + "\n")
    plot(grids, doc_weights, name_weights, out / "grid.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
