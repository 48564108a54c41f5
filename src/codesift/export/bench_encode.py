"""`codesift bench encode`: one-query latency and 256-token document throughput, torch vs ONNX fp32/int8.

Two regimes, each end to end from text (tokenization included), in one process on one machine:

- query lane: one short query per call (CoSQA dev web queries, one at a time), p50/p95/p99 over `--queries` calls;
- bulk lane: documents/s at batch `--batch-size` with code chunks of exactly `--doc-tokens` tokens (consecutive
  CoSQA functions joined until they reach the length, then truncated by the encoder like any long text).

Models: ours from `--model` (a trained sentence-transformers folder) or, without it, a random-init model of the
recipe's `model` section, labelled as such (speed does not depend on the weights); all-MiniLM-L6-v2 through
sentence-transformers and through the same ONNX path. Runtimes: torch fp32, torch bf16 (autocast; emulated where the
CPU lacks bf16), ONNX fp32 and int8 from `codesift export`'s exporter. The load average is recorded around every
measurement, because on a shared machine the figures mean little without it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

RUNTIMES = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="trained sentence-transformers folder (default: a random-init model of the "
                   "recipe's model section)")
    p.add_argument("--recipe", default="recipes/small.yaml", help="model section for the random-init model")
    p.add_argument("--tokenizer", help="tokenizer.json for the random-init model (default: the recipe run's "
                   "tokenizer stage output, else one trained on the benchmark texts)")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma-separated subset of {', '.join(RUNTIMES)}")
    p.add_argument("--minilm", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure all-MiniLM-L6-v2 (sentence-transformers and ONNX int8)")
    p.add_argument("--threads", type=int, help="intra-op threads for torch and onnxruntime in the bulk lane "
                   "(default: the cores this process may use)")
    p.add_argument("--query-threads", default="1,2", help="onnxruntime thread counts tried in the query lane")
    p.add_argument("--queries", type=int, default=300, help="timed single-query calls per runtime")
    p.add_argument("--doc-batches", type=int, default=4, help="timed batches per runtime in the bulk lane")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--doc-tokens", type=int, default=256)
    p.add_argument("--int8-variants", action=argparse.BooleanOptionalAction, default=True,
                   help="also compare int8 settings (s8/u8 weights, reduce_range, per-tensor, static QDQ): speed "
                   "and cosine to torch fp32")
    p.add_argument("--benchmarks-dir", help="folder with cosqa/ (default: $CODESIFT_BENCHMARKS, else data/benchmarks)")
    p.add_argument("--work-dir", default="runs/bench/encode", help="where models and exports are written")
    p.add_argument("--out", default="runs/bench/encode.json", help="JSON results")


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    import time

    from codesift.eval.benchmarks import benchmarks_dir, load_cosqa
    from codesift.log import get_logger
    from codesift.runs import machine_info, package_versions, write_json

    log = get_logger("codesift.bench.encode")
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if bad := [r for r in runtimes if r not in RUNTIMES]:
        log.error("unknown runtime(s) %s; choose from %s", bad, ", ".join(RUNTIMES))
        return 2
    threads = args.threads or len(os.sched_getaffinity(0))
    query_threads = [int(t) for t in args.query_threads.split(",") if t.strip()]
    work = Path(args.work_dir)
    cosqa = load_cosqa(benchmarks_dir(args.benchmarks_dir), "dev")
    queries = list(cosqa.queries.values())
    functions = list(cosqa.corpus.values())

    import torch

    torch.set_num_threads(threads)
    models = [("ours", _our_model(args, work, functions + queries, log))]
    if args.minilm:
        from codesift.eval.systems import minilm_dir

        models.append(("all-MiniLM-L6-v2", (minilm_dir(), "pretrained weights")))

    rows, variants = [], []
    for label, (folder, weights) in models:
        chosen = runtimes if label == "ours" else ["torch-fp32", "onnx-int8"]  # the MiniLM pair
        rows += _measure_model(label, folder, weights, chosen, queries, functions, threads, query_threads, args,
                               work, log)
        if args.int8_variants:
            variants += _int8_variants(label, folder, queries, functions, threads, args, work, log)
    result = {"rows": rows, "int8_variants": variants, "threads": threads, "query_threads": query_threads, "queries": args.queries,
              "doc_batches": args.doc_batches, "batch_size": args.batch_size, "doc_tokens": args.doc_tokens,
              "machine": machine_info(), "versions": package_versions(), "command": " ".join(sys.argv),
              "created_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(args.out, result)
    print(markdown_table(rows))
    if variants:
        print(variants_table(variants))
    print(json.dumps({"out": args.out, "loadavg_end": os.getloadavg()[0]}))
    return 0


def _our_model(args, work: Path, texts: list[str], log) -> tuple[Path, str]:
    """--model, or a random-init model of the recipe's model section (built once, kept in the work dir)."""
    if args.model:
        folder = Path(args.model)
        if not (folder / "modules.json").is_file():
            raise FileNotFoundError(f"{folder}: not a sentence-transformers model folder (no modules.json)")
        return folder, "trained weights"
    from tokenizers import Tokenizer

    from codesift.config import load_recipe
    from codesift.export.source import write_random_model
    from codesift.tokenizer import train_tokenizer

    recipe = load_recipe(args.recipe)
    m = recipe.model
    name = f"random-{m.arch}-{m.layers}x{m.hidden}-h{m.heads}-i{m.intermediate}-v{recipe.tokenizer.vocab_size}"
    folder = work / name
    if not (folder / "modules.json").is_file():
        tok_path = Path(args.tokenizer) if args.tokenizer else Path(recipe.run_dir) / recipe.name / "tokenizer" / \
            "tokenizer.json"
        if tok_path.is_file():
            tokenizer = Tokenizer.from_file(str(tok_path))
        else:
            log.info("no %s: training a %d-token BPE on the benchmark texts", tok_path, recipe.tokenizer.vocab_size)
            tokenizer = train_tokenizer(texts, recipe.tokenizer)
        write_random_model(folder, m, tokenizer, vocab_size=recipe.tokenizer.vocab_size)
    return folder, f"random-init weights ({recipe.name} recipe's model section)"


def _measure_model(label, folder: Path, weights: str, runtimes, queries, functions, threads, query_threads, args,
                   work: Path, log) -> list[dict]:
    from codesift.config import ExportConfig
    from codesift.export.exporter import export_model
    from codesift.export.source import load_source
    from codesift.runtime.onnx import load_encoder

    src = load_source(folder)
    params = sum(p.numel() for p in src.st.parameters())
    export_dir = work / f"export-{folder.name}"
    if any(r.startswith("onnx") for r in runtimes):
        export_model(folder, export_dir, ExportConfig(int8=True))
    docs = _doc_chunks(src.tokenizer, functions, args.doc_tokens, args.batch_size * (args.doc_batches + 1))
    base = {"model": label, "weights": weights, "parameters": params, "arch": src.arch,
            "layers": src.describe()["layers"], "hidden": src.hidden}
    rows = []
    for runtime in runtimes:
        if runtime.startswith("torch"):
            encode_query = _st_encode(src.st, 1, bf16=runtime == "torch-bf16")
            encode_docs = _st_encode(src.st, args.batch_size, bf16=runtime == "torch-bf16")
            lane_threads = [threads]
            make = None
        else:
            make = lambda n, q=runtime.removeprefix("onnx-"): load_encoder(  # noqa: E731
                export_dir, quantization=q, intra_op_threads=n, batch_size=args.batch_size)
            lane_threads = query_threads
        row = dict(base, runtime=runtime + (" (sentence-transformers)" if runtime.startswith("torch") else ""))
        best = None
        for n in lane_threads:
            if make is not None:
                enc = make(n)
                encode_query = lambda t, e=enc: e.encode(t, kind="query")  # noqa: E731
            stats = _latency(encode_query, queries, args.queries)
            stats["threads"] = n
            row.setdefault("query_by_threads", []).append(stats)
            if best is None or stats["p95_ms"] < best["p95_ms"]:
                best = stats
        row["query"] = best
        if make is not None:
            enc = make(threads)
            encode_docs = lambda t, e=enc: e.encode(t).vectors  # noqa: E731
        row["docs"] = _throughput(encode_docs, docs, args.batch_size, args.doc_batches)
        row["docs"]["threads"] = threads
        log.info("%s %s: query p50 %.2f p95 %.2f p99 %.2f ms (%d threads); %.1f docs/s at %dx%d", label, runtime,
                 best["p50_ms"], best["p95_ms"], best["p99_ms"], best["threads"], row["docs"]["docs_per_s"],
                 args.batch_size, args.doc_tokens)
        rows.append(row)
    return rows


INT8_VARIANTS = {  # name -> ExportConfig fields; `auto` (the default) resolves to one of the first two
    "dynamic, s8 weights 8-bit": {"int8_reduce_range": False},
    "dynamic, s8 weights 7-bit (reduce_range)": {"int8_reduce_range": True},
    "dynamic, u8 weights (u8u8 kernels)": {"int8_weights": "u8", "int8_reduce_range": False},
    "dynamic, s8 7-bit, per-tensor": {"int8_per_channel": False, "int8_reduce_range": True},
    "dynamic, s8 7-bit, SmoothQuant alpha 0.7": {"int8_smooth": 0.7, "int8_reduce_range": True},
    "static QDQ (minmax), s8 7-bit": {"static_int8": True, "int8_reduce_range": True},
}


def _int8_variants(label, folder: Path, queries, functions, threads, args, work: Path, log) -> list[dict]:
    """Each int8 setting: one-query latency (1 thread), docs/s and cosine to torch fp32 on 100 queries + 100
    functions (CoSQA dev; static calibration uses other CoSQA functions)."""
    import numpy as np

    from codesift.config import ExportConfig
    from codesift.export.exporter import export_model
    from codesift.runtime.onnx import load_encoder

    texts = queries[:100] + functions[:100]
    calibration = queries[100:200] + functions[-200:]
    docs = None
    out = []
    for name, fields in INT8_VARIANTS.items():
        folder_out = work / f"variant-{folder.name}-{len(out)}"
        exported = export_model(folder, folder_out, ExportConfig(**fields), calibration_texts=calibration)
        if docs is None:
            ref = np.concatenate([exported.source.encode(queries[:100]), exported.source.encode(functions[:100])])
            docs = _doc_chunks(exported.source.tokenizer, functions, args.doc_tokens,
                               args.batch_size * (args.doc_batches + 1))
        quantization = "int8-static" if fields.get("static_int8") else "int8"
        enc = load_encoder(folder_out, quantization=quantization, intra_op_threads=1, batch_size=args.batch_size)
        got = np.concatenate([enc.encode(queries[:100], kind="query").vectors, enc.encode(functions[:100]).vectors])
        cos = np.sum(ref * got, axis=1)
        query = _latency(lambda t, e=enc: e.encode(t, kind="query"), queries, args.queries)
        bulk = load_encoder(folder_out, quantization=quantization, intra_op_threads=threads,
                            batch_size=args.batch_size)
        docs_s = _throughput(lambda t, e=bulk: e.encode(t).vectors, docs, args.batch_size, args.doc_batches)
        row = {"model": label, "variant": name, "cosine_mean": round(float(cos.mean()), 5),
               "cosine_min": round(float(cos.min()), 5), "texts": len(texts), "query": query, "docs": docs_s}
        log.info("%s int8 %s: cosine mean %.5f min %.5f; query p50 %.2f ms; %.1f docs/s", label, name,
                 row["cosine_mean"], row["cosine_min"], query["p50_ms"], docs_s["docs_per_s"])
        out.append(row)
    return out


def _st_encode(st, batch_size: int, bf16: bool):
    """sentence-transformers' own encode (the path its users take), under bf16 autocast when asked."""
    import torch

    def encode(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return st.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)

    return encode


def _doc_chunks(tokenizer, functions: list[str], tokens: int, n: int) -> list[str]:
    """`n` code chunks of at least `tokens` tokens: consecutive functions joined until long enough."""
    chunks, current, count = [], [], 0
    for text in functions:
        current.append(text)
        count += len(tokenizer.encode(text, add_special_tokens=False).ids)
        if count >= tokens:
            chunks.append("\n\n".join(current))
            current, count = [], 0
            if len(chunks) == n:
                return chunks
    raise ValueError(f"only {len(chunks)} chunks of {tokens} tokens could be built; need {n}")


def _latency(encode, queries: list[str], n: int, warmup: int = 20) -> dict:
    import os
    import time

    import numpy as np

    for q in queries[:warmup]:
        encode([q])
    load = os.getloadavg()[0]
    times = []
    for i in range(n):
        text = queries[i % len(queries)]
        t0 = time.perf_counter()
        encode([text])
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "mean_ms": round(float(ms.mean()), 3), "calls": n,
            "loadavg_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)]}


def _throughput(encode, docs: list[str], batch_size: int, batches: int) -> dict:
    import os
    import time

    encode(docs[:batch_size])  # warm-up (allocations, arena growth)
    load = os.getloadavg()[0]
    seconds = []
    for b in range(1, batches + 1):
        batch = docs[b * batch_size : (b + 1) * batch_size]
        t0 = time.perf_counter()
        encode(batch)
        seconds.append(time.perf_counter() - t0)
    total = sum(seconds)
    return {"docs_per_s": round(batch_size * batches / total, 2),
            "best_batch_docs_per_s": round(batch_size / min(seconds), 2), "batches": batches,
            "loadavg_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)]}


def markdown_table(rows: list[dict]) -> str:
    lines = ["| model | weights | runtime | query p50 ms | p95 ms | p99 ms | query threads | docs/s (batch) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        q, d = r["query"], r["docs"]
        lines.append(f"| {r['model']} | {r['weights']} | {r['runtime']} | {q['p50_ms']:.2f} | {q['p95_ms']:.2f} | "
                     f"{q['p99_ms']:.2f} | {q['threads']} | {d['docs_per_s']:.1f} |")
    return "\n".join(lines)


def variants_table(rows: list[dict]) -> str:
    lines = ["| model | int8 setting | cosine to torch fp32 mean / min | query p50 / p95 ms (1 thread) | docs/s |",
             "|---|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['variant']} | {r['cosine_mean']:.5f} / {r['cosine_min']:.5f} | "
                     f"{r['query']['p50_ms']:.2f} / {r['query']['p95_ms']:.2f} | {r['docs']['docs_per_s']:.1f} |")
    return "\n".join(lines)
