"""The `export` stage: the train stage's model -> ONNX fp32/int8 (fp16, static int8) -> quality gate.

Reads `<train>/model/` (a sentence-transformers folder) and held-out texts from `<pairs>/pairs.parquet`; writes the
export folder (layout: codesift.runtime.onnx) and gate.json. A gate miss raises GateFailed after gate.json is
written, so the stage exits non-zero, leaves no manifest, and the figures that failed are on disk to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codesift.config import ExportConfig
from codesift.eval.benchmarks import benchmarks_dir
from codesift.export.exporter import export_model
from codesift.export.gate import GateFailed, format_report, gate_benchmarks, heldout_texts, run_gate
from codesift.log import get_logger
from codesift.runs import StageContext, write_json
from codesift.runtime.onnx import ENCODER_JSON, GATE_JSON

log = get_logger(__name__)


def export_and_gate(model_dir: Path, out_dir: Path, cfg: ExportConfig, pairs_parquet: Path,
                    benchmarks_root: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Export `model_dir` to `out_dir`, run the gate, write gate.json and the gate's figures (and the document
    views) into encoder.json; raise GateFailed when a figure misses its threshold. Returns the stage summary."""
    if not (Path(model_dir) / "modules.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not a sentence-transformers model folder (no modules.json)")
    if not Path(pairs_parquet).is_file():
        raise FileNotFoundError(f"{pairs_parquet}: pairs file not found; run the pairs stage first")
    # Calibration reads the val split, the gate the test split: no figure is measured on calibration data.
    calibration = [t.text for t in heldout_texts(pairs_parquet, cfg.calibration_texts, seed, splits=("val",))]
    texts = heldout_texts(pairs_parquet, cfg.gate_texts, seed, splits=("test",))
    benches = gate_benchmarks(cfg, pairs_parquet, benchmarks_root, seed)

    exported = export_model(model_dir, out_dir, cfg, calibration)
    report = run_gate(exported.source, out_dir, list(exported.meta.files), cfg, texts, benches)
    report["export_seconds"] = exported.seconds
    write_json(out_dir / GATE_JSON, report)
    meta = exported.meta.to_json()
    if cfg.document_views.active:  # after the gate, which compares the graph's own vectors with torch's
        meta["document_views"] = cfg.document_views.to_json()
    meta["gate"] = {"passed": report["passed"], "cosine": {q: round(s["mean"], 6) for q, s in report["cosine"].items()},
                    "mrr": report["mrr"]}
    write_json(out_dir / ENCODER_JSON, meta)
    text = format_report(report)
    print(text, flush=True)
    if not report["passed"]:
        raise GateFailed(f"export of {model_dir} failed its quality gate (figures in {out_dir / GATE_JSON}):\n{text}")
    summary: dict[str, Any] = {"gate": "passed", "default_quantization": meta["default_quantization"],
                               "bytes": {q: f["bytes"] for q, f in meta["files"].items()}}
    for q, s in report["cosine"].items():
        summary[f"cosine.{q}"] = round(s["mean"], 6)
    for bench, entry in report["mrr"].items():
        summary[f"mrr.{bench}.torch_fp32"] = entry["torch_fp32"]
        for q, v in entry.items():
            if isinstance(v, dict) and "drop" in v:
                summary[f"mrr_drop.{bench}.{q}"] = v["drop"]
    return summary


def run(ctx: StageContext) -> dict[str, Any]:
    """The pipeline's `export` stage."""
    model = ctx.inputs["train"] / "model"
    if not (model / "modules.json").is_file():
        raise FileNotFoundError(f"{model}: the train stage left no sentence-transformers model folder")
    root = benchmarks_dir(configured=ctx.recipe.eval.benchmarks_dir)
    return export_and_gate(model, ctx.out_dir, ctx.recipe.export, ctx.inputs["pairs"] / "pairs.parquet", root,
                           ctx.recipe.seed)


__all__ = ["GateFailed", "export_and_gate", "run"]
