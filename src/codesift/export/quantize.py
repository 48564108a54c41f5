"""int8 and fp16 variants of an exported fp32 graph.

Only the weight matrices are quantized (MatMul with a constant right-hand side); embeddings, normalization,
attention softmax and the pooling head stay float32.

- dynamic int8 (the default): weights int8 per output channel; activations quantized per batch at run time
  (DynamicQuantizeMatMul). On x86 onnxruntime's u8s8 kernels multiply uint8 activations by int8 weights with
  vpmaddubsw, whose int16 pair sums can saturate on CPUs without VNNI (AVX2 only, like this project's machines);
  `reduce_range` keeps weights to 7 bits so they cannot, and `weight_type="u8"` picks the u8u8 kernels instead.
  On AVX512-VNNI / AMX CPUs neither is needed (vpdpbusd accumulates in int32). The gate measures the result.
- static int8 (QDQ): activation ranges calibrated on held-out texts, so no run-time range computation.
- fp16: every float weight to float16 with float32 inputs/outputs kept, for GPUs (onnxruntime's converter).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx

from codesift.log import get_logger

log = get_logger(__name__)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def int8_dot_product_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's int8 dot-product extensions (VNNI, AMX) from /proc/cpuinfo; empty on AVX2-only CPUs."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    return [f for f in VNNI_FLAGS if f in flags]


def resolve_reduce_range(setting: bool | str, cpuinfo: str | None = None) -> tuple[bool, str]:
    """`auto`: 7-bit weights where u8s8 products go through vpmaddubsw (int16 pair sums that can saturate), full
    8-bit where the CPU accumulates in int32 (VNNI, AMX). Returns the choice and why."""
    if isinstance(setting, bool):
        return setting, "set in the recipe"
    found = int8_dot_product_flags(cpuinfo)
    if found:
        return False, f"auto: this CPU has {', '.join(found)} (int32 accumulation, no saturation)"
    return True, "auto: no VNNI/AMX on this CPU (u8s8 vpmaddubsw int16 pair sums can saturate)"


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizers log one line per tensor (and advice) on the root logger; keep errors only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def weight_matmuls(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """Names of the encoder's weight MatMuls (to quantize) and of the pooling-head MatMuls (kept float32)."""
    from codesift.export.graph import HEAD

    inits = {i.name for i in model.graph.initializer}
    body, head = [], []
    for node in model.graph.node:
        if node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in inits:
            (head if node.name.startswith(HEAD) else body).append(node.name)
    return body, head


def quantize_int8(src: Path, dst: Path, per_channel: bool = True, reduce_range: bool = False,
                  weight_type: str = "s8", embeddings: bool = False) -> Path:
    """Dynamic int8: per-channel int8 (or uint8) weights, activations quantized per batch at run time; with
    `embeddings`, the embedding tables (Gather) are stored int8 too and dequantized per lookup."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if weight_type not in ("s8", "u8"):
        raise ValueError(f"int8 weight_type must be 's8' or 'u8', got {weight_type!r}")
    model = onnx.load(str(src), load_external_data=False)
    body, head = weight_matmuls(model)
    if not body and not embeddings:  # a static model is all table
        raise ValueError(f"{src}: no weight MatMul to quantize; quantize its embedding table "
                         "(export.int8_embeddings: true) or export fp32 only (export.int8: false)")
    with _quiet_root_logger():
        quantize_dynamic(
            str(src), str(dst), per_channel=per_channel, reduce_range=reduce_range,
            weight_type=QuantType.QInt8 if weight_type == "s8" else QuantType.QUInt8,
            op_types_to_quantize=["MatMul", "Gather"] if embeddings else ["MatMul"], nodes_to_exclude=head,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
        )
    log.info("int8 (dynamic, %s weights, per_channel=%s, reduce_range=%s, embeddings=%s): %d MatMuls -> %s",
             weight_type, per_channel, reduce_range, embeddings, len(body), dst.name)
    return dst


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over feeds (dicts of input arrays)."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]):
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_static(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], per_channel: bool = True,
                    reduce_range: bool = False, method: str = "minmax") -> Path:
    """Static int8 in QDQ format: activation scales calibrated on `feeds` (tokenized held-out texts)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    if not feeds:
        raise ValueError("static int8 needs calibration batches; none were given")
    model = onnx.load(str(src), load_external_data=False)
    body, head = weight_matmuls(model)
    with _quiet_root_logger():
        ort_quantize_static(
            str(src), str(dst), _Batches(feeds), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"], nodes_to_exclude=head, calibrate_method=methods[method],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True,
                           "CalibMovingAverage": False},
        )
    log.info("int8 (static QDQ, %s calibration on %d batches): %d MatMuls -> %s", method, len(feeds), len(body),
             dst.name)
    return dst


def convert_fp16(src: Path, dst: Path) -> Path:
    """float16 weights and compute, float32 at the graph's edges (for CUDA; CPUs gain nothing from it)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from codesift.export.graph import HEAD

    model = onnx.load(str(src))
    head = [n.name for n in model.graph.node if n.name.startswith(HEAD)]  # pooling + normalize stay float32
    half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True, node_block_list=head)
    onnx.save(half, str(dst))
    log.info("fp16 -> %s", dst.name)
    return dst
