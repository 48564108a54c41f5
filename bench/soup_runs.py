"""Average the trained models of several runs into one model folder (a soup across runs, issue 23): runs that share
a tokenizer and a starting table but differ in one setting (a temperature, a pair type) give an ensemble for the
price of their training, measured with the usual eval before any recipe trains it as `train.soup`.

    python bench/soup_runs.py runs/soup runs/v29/recipe/static runs/v32/temp-0.07/static --weights 1 1
    codesift eval --systems runs/v29/recipe/static/train/model,runs/soup --benchmarks cosqa-dev,cosqa-test,...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codesift.model.static import StaticEmbedder
from codesift.train.contrastive import average_states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="model folder to write")
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (each with train/model)")
    parser.add_argument("--weights", type=float, nargs="*", help="one per run (default: equal)")
    args = parser.parse_args()
    weights = args.weights or [1.0] * len(args.runs)
    if len(weights) != len(args.runs):
        parser.error(f"{len(weights)} weights for {len(args.runs)} runs")
    models = [StaticEmbedder.load(run / "train" / "model") for run in args.runs]
    vocabularies = {m.tokenizer.to_str() for m in models}
    if len(vocabularies) != 1:
        parser.error("the runs' tokenizers differ: their rows do not mean the same tokens")
    soup = models[0]
    soup.load_state_dict(average_states([m.state_dict() for m in models], weights))
    print(f"{len(models)} runs averaged (weights {weights}) -> {soup.save(args.out)}")


if __name__ == "__main__":
    main()
