"""Learning-free post-processing of a trained static model (issue 23): does taking the common direction out of its
embeddings help, as it does for word vectors (Mu & Viswanath 2018, "all-but-the-top")? Or weighting tokens by their
rarity (SIF, Arora et al. 2017)?

A static model's embedding is the mean of its tokens' rows, so subtracting a mean vector or projecting out principal
directions from every row does the same to every embedding; and since embeddings are compared by cosine, weighting
each token by a / (a + p(token)) is the same as scaling its row. Each variant is written as an ordinary model folder
and scored by the usual eval, beside the untouched model.

    python bench/static_postprocess.py runs/static/train/model runs/static/pairs/pairs.parquet runs/postprocess
    codesift eval --systems runs/static/train/model,runs/postprocess/center-code,... \
        --benchmarks cosqa-dev,cosqa-test,heldout:runs/static/pairs/pairs.parquet --out runs/postprocess/eval

The means and directions come from a seeded sample of training pairs (their codes and queries), never from a
benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
import torch

from codesift.model.static import StaticEmbedder

SAMPLE = 20_000


def training_texts(pairs_parquet: Path, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """A seeded sample of the training split's codes and queries."""
    table = pq.read_table(pairs_parquet, columns=["query", "code", "split"]).to_pandas()
    train = table[table["split"] == "train"]
    sample = train.sample(n=min(n, len(train)), random_state=seed)
    return sample["code"].tolist(), sample["query"].tolist()


def token_frequencies(model: StaticEmbedder, texts: list[str], batch: int = 2048) -> torch.Tensor:
    """Each token's share of all tokens in `texts`."""
    counts = torch.zeros(model.embedding.num_embeddings, dtype=torch.float64)
    for i in range(0, len(texts), batch):
        encoded = model.tokenize(texts[i:i + batch])
        counts += torch.bincount(encoded["input_ids"][encoded["attention_mask"].bool()],
                                 minlength=len(counts)).double()
    return counts / counts.sum()


@torch.no_grad()
def embed(model: StaticEmbedder, texts: list[str], batch: int = 2048) -> torch.Tensor:
    """Unnormalized embeddings (the mean of the rows): the space the table's rows live in."""
    return torch.cat([model(**model.tokenize(texts[i:i + batch])) for i in range(0, len(texts), batch)])


def variants(codes: torch.Tensor, queries: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """name -> (vector subtracted from every row, principal directions then projected out, or None)."""
    both = torch.cat([codes, queries])
    mean = both.mean(0)
    directions = torch.linalg.svd(both - mean, full_matrices=False).Vh  # (dim, dim), strongest first
    return {"center-code": (codes.mean(0), None), "center-all": (mean, None), "half-center": (mean / 2, None),
            "center-pc1": (mean, directions[:1]), "center-pc2": (mean, directions[:2]),
            "center-pc4": (mean, directions[:4])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a static model folder (a run's train/model)")
    parser.add_argument("pairs", type=Path, help="that run's pairs.parquet (its training split is sampled)")
    parser.add_argument("out", type=Path, help="folder for the variants, one model folder each")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="training pairs sampled")
    args = parser.parse_args()

    model = StaticEmbedder.load(args.model)
    code_texts, query_texts = training_texts(args.pairs, args.sample)
    codes, queries = embed(model, code_texts), embed(model, query_texts)
    table = model.embedding.weight.detach().clone()
    frequencies = token_frequencies(model, code_texts + query_texts)
    for a in (1e-3, 1e-4):
        model.embedding.weight.data.copy_(table * (a / (a + frequencies)).float()[:, None])
        model.save(args.out / f"sif-{a:g}")
        print(f"sif-{a:g}: rows scaled by a / (a + p(token)) -> {args.out / f'sif-{a:g}'}")
    for name, (mean, directions) in variants(codes, queries).items():
        rows = table - mean
        if directions is not None:
            rows = rows - (rows @ directions.T) @ directions
        model.embedding.weight.data.copy_(rows)
        model.save(args.out / name)
        out = 0 if directions is None else len(directions)
        print(f"{name}: mean norm {mean.norm():.3f}, {out} directions out -> {args.out / name}")
    print(f"sample: {len(code_texts):,} pairs; code embedding norm {codes.norm(dim=1).mean():.3f} (mean), "
          f"mean-vector norm {codes.mean(0).norm():.3f}")


if __name__ == "__main__":
    main()
