"""SmoothQuant-style smoothing before int8: move activation outliers into the weights.

Dynamic int8 quantizes each activation tensor with one scale, so a few channels with large values (common in
trained transformers) eat the 8 bits of all the others. For a MatMul X @ W, any per-input-channel s gives
(X / s) @ (s * W) = X @ W; with s_j = max|X_j|^alpha / max|W_j|^(1 - alpha) (Xiao et al., 2023, SmoothQuant) the
activation range is flattened and the weights, quantized per output channel, absorb it. The division is folded
into the producing LayerNormalization's gamma/beta when that norm feeds only these MatMuls (no runtime cost),
otherwise it is one Mul by a constant vector. The float model computes the same function up to rounding; the
quality gate measures the int8 result against torch.

The activation maxima come from running the fp32 graph on calibration batches (held-out texts, not the gate's).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from codesift.export.quantize import weight_matmuls
from codesift.log import get_logger

log = get_logger(__name__)


def activation_maxima(model: onnx.ModelProto, names: list[str], feeds: list[dict[str, np.ndarray]]
                      ) -> dict[str, np.ndarray]:
    """Per-channel (last axis) max |x| of the tensors `names` over all calibration batches."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for name in names:
        if name not in known:
            probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for feed in feeds:
        mask = feed["attention_mask"].astype(bool)
        for name, value in zip(names, session.run(names, feed), strict=True):
            flat = np.abs(value[mask]) if value.shape[:2] == mask.shape else np.abs(value.reshape(-1, value.shape[-1]))
            batch_max = flat.max(axis=0)
            maxima[name] = np.maximum(maxima[name], batch_max) if name in maxima else batch_max
    return maxima


def smooth(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], alpha: float = 0.5
           ) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """A copy of the fp32 `model` with every quantized MatMul's input smoothed (see the module docstring)."""
    if not 0 < alpha < 1:
        raise ValueError(f"smoothing alpha must be in (0, 1), got {alpha}")
    if not feeds:
        raise ValueError("smoothing needs calibration batches; none were given")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    nodes = {n.name: n for n in graph.node}
    body, _ = weight_matmuls(out)
    groups: dict[str, list[onnx.NodeProto]] = defaultdict(list)  # MatMul input -> MatMuls reading it
    for name in body:
        groups[nodes[name].input[0]].append(nodes[name])
    maxima = activation_maxima(out, list(groups), feeds)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)

    folded = inserted = 0
    new_nodes: dict[int, list[onnx.NodeProto]] = defaultdict(list)  # insert before node index
    position = {id(n): i for i, n in enumerate(graph.node)}
    for x, matmuls in groups.items():
        weights = [numpy_helper.to_array(inits[m.input[1]]) for m in matmuls]  # (in, out)
        w_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        a_max = maxima[x]
        s = np.where((a_max > 0) & (w_max > 0), a_max ** alpha / np.maximum(w_max, 1e-12) ** (1 - alpha), 1.0)
        s = np.clip(s, 1e-4, 1e4).astype(np.float32)
        for m, w in zip(matmuls, weights, strict=True):
            name = f"{m.input[1]}.smoothed"
            graph.initializer.append(numpy_helper.from_array((w * s[:, None]).astype(np.float32), name))
            m.input[1] = name
        norm = producer.get(x)
        if norm is not None and norm.op_type == "LayerNormalization" and \
                {id(c) for c in consumers[x]} == {id(m) for m in matmuls}:
            for slot in range(1, len(norm.input)):  # gamma, beta
                if norm.input[slot]:
                    name = f"{norm.input[slot]}.smoothed.{folded}"
                    value = numpy_helper.to_array(inits[norm.input[slot]]) / s
                    graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
                    norm.input[slot] = name
            folded += 1
        else:
            scaled = f"{x}.smoothed"
            inv = f"{x}.inv_smooth"
            graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), inv))
            first = min(position[id(m)] for m in matmuls)
            new_nodes[first].append(helper.make_node("Mul", [x, inv], [scaled], name=f"smooth/{inserted}"))
            for m in matmuls:
                m.input[0] = scaled
            inserted += 1
    ordered = []
    for i, n in enumerate(graph.node):
        ordered += new_nodes.get(i, [])
        ordered.append(n)
    del graph.node[:]
    graph.node.extend(ordered)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    stats = {"alpha": alpha, "sites": len(groups), "folded_into_layernorm": folded, "mul_nodes": inserted,
             "calibration_batches": len(feeds)}
    log.info("smoothed %d MatMul inputs (alpha %.2f): %d folded into LayerNorm, %d by a Mul", len(groups), alpha,
             folded, inserted)
    return out, stats
