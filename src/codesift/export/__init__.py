"""`codesift export`: a trained sentence-transformers model -> ONNX fp32/int8 (fp16) behind a quality gate.

    source.py     read the model folder; the torch reference encoder
    graph.py      the fused ONNX graph written from the weights (ModernBERT, BERT)
    trace.py      the portable traced graph (standard ops, any architecture)
    quantize.py   dynamic int8, static QDQ int8, fp16
    exporter.py   the export folder (layout: codesift.runtime.onnx)
    gate.py       cosine to torch on held-out texts + MRR on benchmarks; GateFailed when a figure misses
    stage.py      the pipeline stage
    bench_encode.py  `codesift bench encode`

Nothing here is imported by the runtime: `codesift.runtime.onnx` reads an export folder without torch.
"""
