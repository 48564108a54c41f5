"""The pipeline, in data-flow order: which recipe sections and upstream artifacts each stage uses.

A stage's `fn` is imported lazily so `codesift --help` stays fast and a stage's heavy
dependencies load only when it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from codesift.runs import Stage, StageContext, StageFn


def _lazy(target: str) -> StageFn:
    module, func = target.split(":")

    def call(ctx: StageContext) -> dict[str, Any]:
        return getattr(importlib.import_module(module), func)(ctx)

    call.__qualname__ = target
    return call


def _data_files(recipe) -> list[str]:
    """What the data stage reads by name: the corpus spec and the exclusion list."""
    return [p for p in (recipe.data.corpus, recipe.data.exclusion_list) if p]


PIPELINE: tuple[Stage, ...] = (
    Stage("data", ("data",), (), _lazy("codesift.data.pipeline:run_data"), 3,
          "read sources, clean, dedup and extract code units -> Parquet", files=_data_files),
    Stage("pairs", ("pairs", "data"), ("data",), _lazy("codesift.data.pipeline:run_pairs"), 3,
          "build (query, code) training pairs with repo-held-out splits"),
    Stage("tokenizer", ("tokenizer",), ("data",), _lazy("codesift.tokenizer:run"), 5, "train tokenizer.json on the cleaned corpus"),
    Stage("pretrain", ("model", "pretrain"), ("data", "tokenizer", "pairs"), _lazy("codesift.train.pretrain:run"), 5,
          "MLM + DOBF encoder pretraining", distributed=True),
    # model: embedding_dim and max_seq_len; eval: select_metric and benchmarks_dir for the per-round scores
    Stage("train", ("train", "mine", "model", "eval"), ("pairs", "pretrain"), _lazy("codesift.train.contrastive:run"), 6,
          "contrastive training with mining rounds", distributed=True),
    Stage("eval", ("eval",), ("pairs", "train"), _lazy("codesift.eval.stage:run"), 4,
          "retrieval metrics against baselines"),
    Stage("export", ("export",), ("train", "pairs"), _lazy("codesift.export.stage:run"), 7,
          "ONNX fp32/int8 export behind a quality gate"),
    Stage("index", ("index",), ("export",), _lazy("codesift.index.stage:run"), 8,
          "HNSW index over the configured code folders"),
)
STAGES = {stage.name: stage for stage in PIPELINE}


def select(start: str | None = None, until: str | None = None) -> list[Stage]:
    names = [s.name for s in PIPELINE]
    for name in (start, until):
        if name is not None and name not in STAGES:
            raise ValueError(f"unknown stage '{name}'; stages are: {', '.join(names)}")
    lo = names.index(start) if start else 0
    hi = names.index(until) + 1 if until else len(names)
    if lo >= hi:
        raise ValueError(f"--from {start} comes after --until {until}")
    return list(PIPELINE[lo:hi])
