"""Entry points: the pipeline's `eval` stage and the standalone `codesift eval --systems ... --benchmarks ...`.

Both build systems and benchmarks from specs, evaluate, print the table and write the report, so a number from a
recipe run and one from the command line come from the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codesift.eval.benchmarks import benchmarks_dir, load_benchmarks
from codesift.eval.report import print_table, write_report
from codesift.eval.retrieval import evaluate
from codesift.eval.systems import build_systems
from codesift.log import get_logger
from codesift.runs import StageContext
from codesift.runtime.views import DocumentViews

log = get_logger(__name__)

MODEL = "model"  # the run's trained checkpoint, as named in metrics.json and in `eval.baselines` hybrids


def evaluate_specs(
    systems: list[str], benchmarks: list[str], out_dir: str | Path, root: str | Path,
    named: Mapping[str, str | Path] | None = None, max_seq_len: int = 256,
    document_views: DocumentViews | None = None,
) -> dict[str, Any]:
    """Evaluate system specs on benchmark specs, print the table, write metrics.json, report.md and plots.
    `document_views`: how every dense system embeds documents (None: an export's own, none for a model folder)."""
    if not systems or not benchmarks:
        raise ValueError("name at least one system and one benchmark")
    built = build_systems(list(dict.fromkeys(systems)), named, max_seq_len, document_views=document_views)
    loaded = load_benchmarks(list(dict.fromkeys(benchmarks)), root)
    results = evaluate(built, loaded)
    print_table(results)
    paths = write_report(results, out_dir)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return results


def run(ctx: StageContext) -> dict[str, Any]:
    """The `eval` stage: the run's trained model and the recipe's baselines on the recipe's benchmarks, documents
    embedded as the export will embed them (`export.document_views`)."""
    cfg = ctx.recipe.eval
    model = ctx.inputs["train"] / "model"
    if not (model / "modules.json").is_file():
        raise FileNotFoundError(f"{model}: the train stage left no sentence-transformers model folder")
    specs = []
    for name in cfg.benchmarks:
        if name == "heldout":
            specs.append(f"heldout:{ctx.inputs['pairs'] / 'pairs.parquet'}")
        elif name == "repo":
            specs.append(f"repo:{cfg.repo_folder}:{cfg.repo_queries}")
        else:
            specs.append(name)
    root = benchmarks_dir(configured=cfg.benchmarks_dir)
    results = evaluate_specs([MODEL, *cfg.baselines], specs, ctx.out_dir, root, {MODEL: model}, cfg.max_seq_len,
                             ctx.recipe.export.document_views)
    metric = cfg.select_metric
    return {f"{bench}.{metric}": round(entry["results"][MODEL][metric], 4)
            for bench, entry in results["benchmarks"].items()}
