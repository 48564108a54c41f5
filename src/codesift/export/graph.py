"""Write the encoder's ONNX graph directly from its weights, with onnxruntime's fused kernels.

Tracing a transformers model gives ~900 small nodes (shape arithmetic, mask building, a decomposed attention with
NaN guards); on a short query their overhead costs more than the matrix products, and onnxruntime's optimizer
fuses no attention in them (its patterns predate transformers 5's masks and RoPE). Here each layer is a handful
of kernels instead:

    ModernBERT (pre-norm): MatMul(Wqkv) -> Split -> RotaryEmbedding(q), RotaryEmbedding(k) -> MultiHeadAttention
                           -> MatMul(Wo) -> Add + LayerNorm (mlp_norm) -> MatMul(Wi_in), MatMul(Wi_gate)
                           -> Gelu(in) * gate -> MatMul(Wo) -> Add + LayerNorm (next layer's attn_norm)
    BERT (post-norm):      MatMul(Wqkv) -> MultiHeadAttention(+bias) -> MatMul(Wo) -> Add + LayerNorm
                           -> MatMul(Wi) -> BiasGelu -> MatMul(Wo) -> Add + LayerNorm

then pooling over the attention mask, the Dense projections and L2 normalization, so the graph's one output is the
finished embedding. Inputs: input_ids and attention_mask, int64, (batch, sequence), both axes dynamic. The contrib
ops (domain com.microsoft) run on onnxruntime's CPU and CUDA providers; `codesift.export.trace` writes a portable
standard-ops graph instead for other runtimes or architectures this module does not know.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from codesift.export.source import SourceModel, UnsupportedModel
from codesift.log import get_logger

log = get_logger(__name__)

MS = "com.microsoft"
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"
HEAD = "head/"  # name prefix of the pooling head's nodes
ACTIVATIONS = {"gelu": "Gelu", "gelu_new": "FastGelu", "gelu_pytorch_tanh": "FastGelu", "gelu_fast": "FastGelu"}


class _Graph:
    """Nodes and initializers with unique names; helpers return their output names."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.scope = ""  # node-name prefix: "head/" marks the pooling head (kept float32 by the fp16 converter)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def reduce(self, op_type: str, x: str, axes: list[int], hint: str, keepdims: int) -> str:
        """Reduce* ops took `axes` as an attribute until opset 18 (ReduceSum: 13), then as an input."""
        if self.opset >= 18 or op_type == "ReduceSum":
            return self.op(op_type, [x, self.const("axes", np.array(axes, np.int64))], hint, keepdims=keepdims)
        return self.op(op_type, [x], hint, axes=axes, keepdims=keepdims)

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int = 1,
           domain: str = "", **attrs: Any) -> Any:
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.scope + self.name(op_type),
                                           domain=domain or None, **attrs))
        return names[0] if outputs == 1 else names


def build(src: SourceModel, opset: int = 17) -> onnx.ModelProto:
    """The fused inference graph of `src` (float32 weights). Raises UnsupportedModel for an unknown architecture."""
    g = _Graph(opset)
    ids, mask = INPUTS
    if src.arch == "static":  # a row per token; the head averages them
        hidden = g.op("Gather", [g.const("embedding.weight", src.weights["embedding.weight"]), ids], "token_vectors")
    elif src.arch == "modernbert":
        hidden = _modernbert(g, src, ids, mask)
    elif src.arch == "bert":
        hidden = _bert(g, src, ids, mask)
    else:
        raise UnsupportedModel(f"{src.folder}: no fused graph for model type {src.arch!r} (modernbert, bert, static); "
                               "export it with the traced builder (export.builder: trace)")
    g.scope = HEAD
    out = _head(g, src, hidden, mask)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT], name=HEAD + "output"))
    graph = helper.make_graph(
        g.nodes, "codesift_encoder",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in INPUTS],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", src.dim])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)],
                              producer_name="codesift")
    model.ir_version = 8  # readable by every onnxruntime this project supports
    return _with_shapes(model)


def _with_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Symbolic shapes and types for every tensor (onnxruntime's inference knows the contrib ops, onnx's does not):
    the quantizers need each activation's type, and tools can show shapes such as [batch, sequence, 384]."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception as e:  # inference is an aid; the graph is valid without it
        log.warning("symbolic shape inference failed (%s); the model is saved without value_info", e)
        return model


def _w(src: SourceModel, key: str) -> np.ndarray:
    try:
        return src.weights[key]
    except KeyError:
        raise UnsupportedModel(f"{src.folder}: weight {key!r} missing from the {src.arch} state dict") from None


def _linear(g: _Graph, src: SourceModel, x: str, key: str, bias: bool = True) -> tuple[str, str | None]:
    """x @ W.T; returns the product and the bias initializer (None when absent) so a fused op can add it."""
    y = g.op("MatMul", [x, g.const(key, _w(src, f"{key}.weight").T)], key)
    b = src.weights.get(f"{key}.bias") if bias else None
    return y, (g.const(f"{key}.bias", b) if b is not None else None)


def _add_bias(g: _Graph, y: str, b: str | None) -> str:
    return g.op("Add", [y, b]) if b is not None else y


def _key_mask(g: _Graph, mask: str) -> str:
    return g.op("Cast", [mask], "key_padding_mask", to=TensorProto.INT32)


def _layer_norm(g: _Graph, src: SourceModel, x: str, key: str, eps: float) -> str:
    inputs = [x, g.const(f"{key}.weight", _w(src, f"{key}.weight"))]
    if f"{key}.bias" in src.weights:
        inputs.append(g.const(f"{key}.bias", src.weights[f"{key}.bias"]))
    return g.op("LayerNormalization", inputs, key, axis=-1, epsilon=eps)


def _add_norm(g: _Graph, src: SourceModel, x: str, skip: str, key: str, eps: float,
              bias: str | None = None) -> tuple[str, str]:
    """LayerNorm(x [+ bias] + skip) and the un-normalized sum (the next residual). Written as Add + LayerNormalization:
    onnxruntime 1.32's SkipLayerNormalization CPU kernel with the sum output took 2.4 ms where Add + LayerNorm took
    0.4 ms (4 x 256 x 384, one thread), and the optimizer still fuses the pair where that is faster (CUDA)."""
    total = g.op("Add", [g.op("Add", [x, bias], "biased") if bias else x, skip], "residual")
    return _layer_norm(g, src, total, key, eps), total


def _activation(src: SourceModel, name: str) -> str:
    if name not in ACTIVATIONS:
        raise UnsupportedModel(f"{src.folder}: activation {name!r} has no fused kernel here ({', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def _modernbert(g: _Graph, src: SourceModel, ids: str, mask: str) -> str:
    cfg = src.config
    import torch

    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        raise UnsupportedModel(f"{src.folder}: ModernBERT with attention/MLP biases is not supported")
    heads, hidden = int(cfg.num_attention_heads), int(cfg.hidden_size)
    head_dim = hidden // heads
    eps = float(cfg.norm_eps)
    act = _activation(src, cfg.hidden_activation)
    n_pos = int(max(cfg.max_position_embeddings, src.max_seq_len))

    x = g.op("Gather", [g.const("tok_embeddings", _w(src, "embeddings.tok_embeddings.weight")), ids], "embed")
    h = _layer_norm(g, src, x, "embeddings.norm", eps)
    key_mask = _key_mask(g, mask)
    pos0 = g.const("position_start", np.zeros(1, dtype=np.int64))  # RotaryEmbedding: positions start..start+S-1

    # cos/sin tables per layer type, from the model's own rotary module (so any rope_type it supports is exact).
    rotary = src.st[0].auto_model.rotary_emb
    caches: dict[str, tuple[str, str]] = {}
    with torch.no_grad():
        positions = torch.arange(n_pos).unsqueeze(0)
        for layer_type in sorted(set(cfg.layer_types)):
            cos, sin = rotary(torch.zeros(1, dtype=torch.float32), positions, layer_type)
            half = cos.shape[-1] // 2
            caches[layer_type] = (g.const(f"cos_{layer_type}", cos[0, :, :half].numpy()),
                                  g.const(f"sin_{layer_type}", sin[0, :, :half].numpy()))
    sliding = "sliding_attention" in cfg.layer_types
    window_bias = _sliding_window_bias(g, ids, int(cfg.sliding_window)) if sliding else ""

    residual, normed = h, h  # layer 0 has no attn_norm: it reads the normalized embeddings directly
    n_layers = int(cfg.num_hidden_layers)
    for i in range(n_layers):
        p = f"layers.{i}"
        qkv, _ = _linear(g, src, normed, f"{p}.attn.Wqkv", bias=False)
        q, k, v = g.op("Split", [qkv, g.const("split3", np.array([hidden] * 3, dtype=np.int64))], "qkv", outputs=3,
                       axis=-1)
        cos, sin = caches[cfg.layer_types[i]]
        q = g.op("RotaryEmbedding", [q, pos0, cos, sin], "rope_q", domain=MS, num_heads=heads, interleaved=0)
        k = g.op("RotaryEmbedding", [k, pos0, cos, sin], "rope_k", domain=MS, num_heads=heads, interleaved=0)
        bias = window_bias if cfg.layer_types[i] == "sliding_attention" else ""
        attn_inputs = [q, k, v, "", key_mask] + ([bias] if bias else [])
        ctx = g.op("MultiHeadAttention", attn_inputs, f"{p}.attn", domain=MS, num_heads=heads,
                   scale=float(head_dim ** -0.5))
        attn_out, _ = _linear(g, src, ctx, f"{p}.attn.Wo", bias=False)
        normed, residual = _add_norm(g, src, attn_out, residual, f"{p}.mlp_norm", eps)
        inner = int(cfg.intermediate_size)
        # Wi as two MatMuls (input half, gate half) instead of one + Split: Split's strided copy of the 2 x 1152
        # wide output cost more than quantizing the 384-wide input twice (-5% time per 256-token batch)
        w = _w(src, f"{p}.mlp.Wi.weight")
        a = g.op("MatMul", [normed, g.const(f"{p}.mlp.Wi_in", w[:inner].T)], f"{p}.mlp.Wi_in")
        gate = g.op("MatMul", [normed, g.const(f"{p}.mlp.Wi_gate", w[inner:].T)], f"{p}.mlp.Wi_gate")
        y = g.op("Mul", [g.op(act, [a], "act", domain=MS), gate], "geglu")
        mlp_out, _ = _linear(g, src, y, f"{p}.mlp.Wo", bias=False)
        next_norm = f"layers.{i + 1}.attn_norm" if i + 1 < n_layers else "final_norm"
        normed, residual = _add_norm(g, src, mlp_out, residual, next_norm, eps)
    return normed


def _sliding_window_bias(g: _Graph, ids: str, window: int) -> str:
    """(1, 1, S, S) additive bias: 0 where |q - k| <= window, a large negative number elsewhere (ModernBERT's local
    attention, as transformers' sdpa mask defines it)."""
    seq = g.op("Gather", [g.op("Shape", [ids]), g.const("axis1", np.array(1, dtype=np.int64))], "seq_len")
    pos = g.op("Range", [g.const("zero", np.array(0, dtype=np.int64)), seq, g.const("one", np.array(1, np.int64))])
    rows = g.op("Unsqueeze", [pos, g.const("ax1", np.array([1], dtype=np.int64))])
    dist = g.op("Abs", [g.op("Sub", [rows, pos])])
    far = g.op("Greater", [dist, g.const("window", np.array(window, dtype=np.int64))])
    neg, zero = g.const("neg", np.array(-1e4, np.float32)), g.const("zero_f", np.array(0, np.float32))
    bias = g.op("Where", [far, neg, zero])
    return g.op("Unsqueeze", [bias, g.const("ax01", np.array([0, 1], dtype=np.int64))], "window_bias")


def _bert(g: _Graph, src: SourceModel, ids: str, mask: str) -> str:
    cfg = src.config
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        raise UnsupportedModel(f"{src.folder}: BERT position_embedding_type {cfg.position_embedding_type!r}")
    heads, hidden = int(cfg.num_attention_heads), int(cfg.hidden_size)
    eps = float(cfg.layer_norm_eps)
    act = _activation(src, cfg.hidden_act)
    e = "embeddings"

    # word + position + token type 0, the last two pre-added into one table sliced to the sequence length
    table = _w(src, f"{e}.position_embeddings.weight") + _w(src, f"{e}.token_type_embeddings.weight")[0]
    seq = g.op("Gather", [g.op("Shape", [ids]), g.const("axis1", np.array([1], dtype=np.int64))], "seq_len")
    pos = g.op("Slice", [g.const("position_table", table), g.const("zero", np.array([0], np.int64)), seq,
                         g.const("axis0", np.array([0], np.int64))], "positions")
    x = g.op("Add", [g.op("Gather", [g.const("word_embeddings", _w(src, f"{e}.word_embeddings.weight")), ids]), pos])
    h = _layer_norm(g, src, x, f"{e}.LayerNorm", eps)
    key_mask = _key_mask(g, mask)

    for i in range(int(cfg.num_hidden_layers)):
        p = f"encoder.layer.{i}"
        a = f"{p}.attention.self"
        w_qkv = np.concatenate([_w(src, f"{a}.{n}.weight").T for n in ("query", "key", "value")], axis=1)
        b_qkv = np.concatenate([_w(src, f"{a}.{n}.bias") for n in ("query", "key", "value")])
        qkv = g.op("MatMul", [h, g.const(f"{a}.qkv", w_qkv)], f"{a}.qkv")
        q, k, v = g.op("Split", [qkv, g.const("split3", np.array([hidden] * 3, dtype=np.int64))], "qkv", outputs=3,
                       axis=-1)
        ctx = g.op("MultiHeadAttention", [q, k, v, g.const(f"{a}.bias", b_qkv), key_mask], a, domain=MS,
                   num_heads=heads)
        out, bias = _linear(g, src, ctx, f"{p}.attention.output.dense")
        h, _ = _add_norm(g, src, out, h, f"{p}.attention.output.LayerNorm", eps, bias)
        inter, bias = _linear(g, src, h, f"{p}.intermediate.dense")
        y = g.op("BiasGelu", [inter, bias], "gelu", domain=MS) if act == "Gelu" and bias else \
            g.op(act, [_add_bias(g, inter, bias)], "act", domain=MS)
        out, bias = _linear(g, src, y, f"{p}.output.dense")
        h, _ = _add_norm(g, src, out, h, f"{p}.output.LayerNorm", eps, bias)
    return h


def _head(g: _Graph, src: SourceModel, hidden: str, mask: str) -> str:
    """Pooling over real tokens, the Dense projections, then L2 normalization (torch's F.normalize, eps 1e-12).
    The head computes in float32 whatever the body's type (the Cast is a no-op in the fp32 graph)."""
    hidden = g.op("Cast", [hidden], "hidden_f32", to=TensorProto.FLOAT)
    maskf = g.op("Cast", [mask], "mask_f", to=TensorProto.FLOAT)
    if src.pooling == "mean":
        summed = g.op("MatMul", [g.op("Unsqueeze", [maskf, g.const("ax1", np.array([1], np.int64))]), hidden])
        summed = g.op("Squeeze", [summed, g.const("ax1", np.array([1], np.int64))], "sum_tokens")
        count = g.reduce("ReduceSum", maskf, [1], "n_tokens", keepdims=1)
        pooled = g.op("Div", [summed, g.op("Max", [count, g.const("min_count", np.array(1e-9, np.float32))])], "mean")
    elif src.pooling == "cls":
        pooled = g.op("Gather", [hidden, g.const("first", np.array(0, dtype=np.int64))], "cls", axis=1)
    else:  # max over real tokens; padding positions are pushed to -1e9 first, as sentence-transformers does
        neg = g.op("Mul", [g.op("Sub", [g.const("onef", np.array(1, np.float32)), maskf]),
                           g.const("big", np.array(-1e9, np.float32))])
        masked = g.op("Add", [hidden, g.op("Unsqueeze", [neg, g.const("ax2", np.array([2], np.int64))])])
        pooled = g.reduce("ReduceMax", masked, [1], "max", keepdims=0)
    for i, d in enumerate(src.dense):
        pooled = g.op("MatMul", [pooled, g.const(f"dense{i}.weight", d.weight)], f"dense{i}")
        if d.bias is not None:
            pooled = g.op("Add", [pooled, g.const(f"dense{i}.bias", d.bias)])
        if d.activation == "tanh":
            pooled = g.op("Tanh", [pooled])
    norm = g.reduce("ReduceL2", pooled, [-1], "norm", keepdims=1)
    return g.op("Div", [pooled, g.op("Max", [norm, g.const("eps", np.array(1e-12, np.float32))])], "embedding")
