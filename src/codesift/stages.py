"""The pipeline, in data-flow order: which recipe sections and upstream artifacts each stage uses.

A stage's `fn` is imported lazily so `codesift --help` stays fast and a stage's heavy
dependencies load only when it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from codesift.runs import Stage, StageContext, StageFn, resolve_path


def _lazy(target: str) -> StageFn:
    module, func = target.split(":")

    def call(ctx: StageContext) -> dict[str, Any]:
        return getattr(importlib.import_module(module), func)(ctx)

    call.__qualname__ = target
    return call


def _data_reads(recipe) -> dict[str, Any]:
    """The corpus spec and the exclusion list the data stage reads, parsed: editing either reruns the stage, a
    comment does not."""
    from codesift.data.dedup import load_exclusions
    from codesift.data.install import load_spec

    data = recipe.data
    return {"corpus": load_spec(resolve_path(data.corpus)).model_dump(mode="json") if data.corpus else None,
            "exclusions": sorted(load_exclusions(resolve_path(data.exclusion_list)))}


PIPELINE: tuple[Stage, ...] = (
    Stage("data", ("data",), (), _lazy("codesift.data.pipeline:run_data"), 3,
          "read sources, clean, dedup and extract code units -> Parquet", reads=_data_reads),
    Stage("pairs", ("pairs", "data"), ("data",), _lazy("codesift.data.pipeline:run_pairs"), 3,
          "build (query, code) training pairs with repo-held-out splits"),
    Stage("tokenizer", ("tokenizer",), ("data",), _lazy("codesift.tokenizer:run"), 5, "train tokenizer.json on the cleaned corpus"),
    Stage("pretrain", ("model", "pretrain"), ("data", "tokenizer", "pairs"), _lazy("codesift.train.pretrain:run"), 5,
          "MLM + DOBF encoder pretraining", distributed=True),
    # model: embedding_dim and max_seq_len; eval: select_metric and benchmarks_dir for the per-round scores
    Stage("train", ("train", "mine", "model", "eval"), ("pairs", "pretrain"), _lazy("codesift.train.contrastive:run"), 6,
          "contrastive training with mining rounds", distributed=True),
    # export: the document views the export will embed documents with
    Stage("eval", ("eval", "export"), ("pairs", "train"), _lazy("codesift.eval.stage:run"), 4,
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
