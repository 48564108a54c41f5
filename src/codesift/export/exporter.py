"""sentence-transformers folder -> export folder: the fp32 graph, its int8/fp16 variants, tokenizer.json and
encoder.json (layout: codesift.runtime.onnx). The quality gate (codesift.export.gate) runs afterwards."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from codesift.config import ExportConfig
from codesift.export import graph, quantize
from codesift.export.smooth import smooth
from codesift.export.source import SourceModel, load_source
from codesift.log import get_logger
from codesift.runs import atomic_write, file_sha256, write_json
from codesift.runtime.onnx import ENCODER_JSON, MODEL_FILES, TOKENIZER_JSON, EncoderMeta, load_encoder

log = get_logger(__name__)


@dataclass
class Exported:
    folder: Path
    meta: EncoderMeta
    source: SourceModel
    seconds: dict[str, float]


def export_model(model_dir: str | Path, out_dir: str | Path, cfg: ExportConfig,
                 calibration_texts: list[str] | None = None) -> Exported:
    """Write every file of the export folder but the gate's; returns what the gate needs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    src = load_source(model_dir)
    seconds["load"] = time.perf_counter() - t0
    shape, builder = src.describe(), builder_for(src, cfg)
    log.info("exporting %s (%s, %d layers x %d, dim %d, %s pooling, max %d tokens) with the %s builder",
             src.folder, src.arch, shape["layers"], src.hidden, src.dim, src.pooling, src.max_seq_len, builder)

    fp32 = out / MODEL_FILES["fp32"]
    t0 = time.perf_counter()
    if builder == "fused":
        model = graph.build(src, cfg.opset)
        with atomic_write(fp32, "wb") as fh:
            fh.write(model.SerializeToString())
    else:
        from codesift.export.trace import trace

        model = trace(src, fp32, cfg.opset)
    seconds["fp32"] = time.perf_counter() - t0
    log.info("fp32 graph: %d nodes -> %s", len(model.graph.node), fp32)
    with atomic_write(out / TOKENIZER_JSON) as fh:
        fh.write(src.tokenizer.to_str(pretty=True))

    made = {"fp32": fp32}
    reduce_range, why = quantize.resolve_reduce_range(cfg.int8_reduce_range)
    int8: dict[str, Any] = {"weights": cfg.int8_weights, "per_channel": cfg.int8_per_channel,
                            "embeddings": cfg.int8_embeddings, "reduce_range": reduce_range,
                            "reduce_range_reason": why, "smooth": None}
    _write_meta(out, src, cfg, made, int8, default="fp32")  # the fp32 model is loadable from here on
    if cfg.fp16:
        t0 = time.perf_counter()
        made["fp16"] = quantize.convert_fp16(fp32, out / MODEL_FILES["fp16"])
        seconds["fp16"] = time.perf_counter() - t0

    if cfg.int8 or cfg.static_int8:
        source = fp32
        needs_texts = cfg.static_int8 or cfg.int8_smooth is not None
        if needs_texts and not calibration_texts:
            raise ValueError("int8 smoothing (export.int8_smooth) and static int8 calibrate on held-out texts; none "
                             "were given (set export.int8_smooth: null to quantize without them)")
        feeds = calibration_feeds(out, calibration_texts[: cfg.calibration_texts]) if needs_texts else []
        if cfg.int8_smooth is not None:
            t0 = time.perf_counter()
            smoothed, int8["smooth"] = smooth(onnx.load(str(fp32)), feeds, cfg.int8_smooth)
            source = out / ".smoothed.onnx"  # scratch input of the quantizers, removed below
            onnx.save(smoothed, str(source))
            seconds["smooth"] = time.perf_counter() - t0
        log.info("int8 reduce_range=%s (%s)", reduce_range, why)
        try:
            if cfg.int8:
                t0 = time.perf_counter()
                made["int8"] = quantize.quantize_int8(source, out / MODEL_FILES["int8"], cfg.int8_per_channel,
                                                      reduce_range, cfg.int8_weights, cfg.int8_embeddings)
                seconds["int8"] = time.perf_counter() - t0
            if cfg.static_int8:
                t0 = time.perf_counter()
                made["int8-static"] = quantize.quantize_static(source, out / MODEL_FILES["int8-static"], feeds,
                                                               cfg.int8_per_channel, reduce_range,
                                                               cfg.calibration_method)
                seconds["int8-static"] = time.perf_counter() - t0
        finally:
            if source != fp32:
                source.unlink(missing_ok=True)
    meta = _write_meta(out, src, cfg, made, int8, default="int8" if cfg.int8 else "fp32")
    return Exported(out, meta, src, {k: round(v, 2) for k, v in seconds.items()})


def builder_for(src: SourceModel, cfg: ExportConfig) -> str:
    """The configured graph builder; a static model always gets the fused graph (a bag of rows has nothing to trace)."""
    return "fused" if src.arch == "static" else cfg.builder


def calibration_feeds(folder: Path, texts: list[str], batch_size: int = 16) -> list[dict[str, np.ndarray]]:
    """Model inputs for calibration (smoothing, static int8), tokenized exactly as the runtime tokenizes."""
    enc = load_encoder(folder, quantization="fp32")
    ids, _ = enc.tokenize(texts)
    feeds = []
    for batch in enc.batches([len(x) for x in ids]):
        rows = [ids[i] for i in batch][:batch_size]
        width = max(len(r) for r in rows)
        input_ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(input_ids)
        for r, x in enumerate(rows):
            input_ids[r, : len(x)], mask[r, : len(x)] = x, 1
        feeds.append({"input_ids": input_ids, "attention_mask": mask})
    return feeds


def _write_meta(out: Path, src: SourceModel, cfg: ExportConfig, made: dict[str, Path], int8: dict[str, Any],
                default: str) -> EncoderMeta:
    files = {q: {"file": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size} for q, p in made.items()}
    pad = getattr(src.st[0].tokenizer, "pad_token_id", None)  # padding is masked out; any id works without one
    extra: dict[str, Any] = {
        "source": src.describe(),
        "builder": builder_for(src, cfg),
        "opset": cfg.opset,
        "pad_token_id": int(pad) if pad is not None else 0,
        "normalize": True,
        "int8": {"dynamic": "int8" in made, "static": "int8-static" in made, **int8,
                 "cpu_int8_dot_product": quantize.int8_dot_product_flags()},
        "onnx_ir": {q: _ir(p) for q, p in made.items()},
    }
    meta = EncoderMeta(dim=src.dim, max_seq_len=src.max_seq_len, revision=src.revision(), files=files,
                       default_quantization=default, pooling=src.pooling, lowercase=src.lowercase,
                       prefixes=dict(src.prompts), extra=extra)
    write_json(out / ENCODER_JSON, meta.to_json())
    return meta


def _ir(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path), load_external_data=False)
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"nodes": len(model.graph.node), "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
            "ops": dict(sorted(ops.items()))}
