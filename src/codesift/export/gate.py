"""The export's quality gate: does the ONNX model embed like the torch model it came from?

Two checks per exported precision, both against the torch fp32 model (`SourceModel.encode`, the same truncation
and prefixes as the runtime):

1. cosine: per held-out text (queries with the query prefix, code with the document prefix), the cosine between
   torch's and the ONNX model's embedding. The gate reads the mean (`min_cosine_fp32` for fp32 and fp16,
   `min_cosine_int8` for int8); the 1st percentile and the minimum are reported beside it.
2. retrieval: MRR on each gate benchmark (CoSQA dev, the held-out pairs; optionally sampled to `gate_queries`
   queries and `gate_docs` documents, which keeps every relevant document) with the eval harness; the ONNX model
   may lose at most `max_mrr_drop` points (x100) to torch. fp16 gets this check only where a CUDA provider exists
   (onnxruntime's CPU fp16 kernels are emulated and take minutes); its cosine is always checked.

Every figure goes to gate.json whatever the outcome; a miss raises GateFailed naming each failing figure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codesift.config import ExportConfig
from codesift.eval.benchmarks import Benchmark, benchmarks_dir, load_benchmarks, load_heldout
from codesift.eval.retrieval import run_one
from codesift.eval.systems import OnnxSystem, Retriever
from codesift.export.source import SourceModel
from codesift.log import get_logger

log = get_logger(__name__)

HELDOUT_SPLITS = ("test", "val")


class GateFailed(ValueError):
    """An exported model embeds too differently from its torch original; the message lists the failing figures."""


@dataclass
class GateText:
    text: str
    kind: str  # "query" or "document"


def heldout_texts(pairs_parquet: str | Path, n: int, seed: int = 0,
                  splits: Sequence[str] = HELDOUT_SPLITS) -> list[GateText]:
    """Up to `n` distinct held-out texts (from `splits`), half queries and half code, sampled with `seed`."""
    import pyarrow.parquet as pq

    path = Path(pairs_parquet)
    if not path.exists():
        raise FileNotFoundError(f"{path}: pairs file not found; run the pairs stage first")
    table = pq.read_table(path, columns=["query", "code", "split"])
    rows = [r for r in table.to_pylist() if r["split"] in splits]
    if not rows:
        raise ValueError(f"{path}: no pairs with split in {tuple(splits)}")
    queries = sorted({r["query"] for r in rows})
    code = sorted({r["code"] for r in rows})
    rng = random.Random(seed)
    half = n // 2
    picked_q = rng.sample(queries, min(half, len(queries)))
    picked_c = rng.sample(code, min(n - len(picked_q), len(code)))
    return [GateText(t, "query") for t in picked_q] + [GateText(t, "document") for t in picked_c]


def sample_benchmark(bench: Benchmark, max_queries: int | None, max_docs: int | None, seed: int = 0) -> Benchmark:
    """A smaller benchmark: `max_queries` random queries, all their relevant documents, then random distractors up
    to `max_docs` documents. Torch and ONNX are compared on the same sample, so the MRR difference stays meaningful
    (absolute MRR is higher than on the full pool: fewer distractors)."""
    rng = random.Random(seed)
    qids = list(bench.queries)
    if max_queries is not None and len(qids) > max_queries:
        qids = sorted(rng.sample(qids, max_queries), key=list(bench.queries).index)
    needed = set().union(*(bench.relevant[q] for q in qids))
    docs = list(bench.corpus)
    if max_docs is not None and len(docs) > max_docs:
        others = [d for d in docs if d not in needed]
        keep = needed | set(rng.sample(others, max(0, min(len(others), max_docs - len(needed)))))
        docs = [d for d in docs if d in keep]
    return Benchmark(bench.name, {q: bench.queries[q] for q in qids}, {d: bench.corpus[d] for d in docs},
                     {q: bench.relevant[q] for q in qids}, {q: bench.meta[q] for q in qids if q in bench.meta},
                     {d: bench.doc_meta[d] for d in docs if d in bench.doc_meta})


class TorchReference(Retriever):
    """The source model in torch fp32 as a Retriever, with the model's query/document prompts."""

    def __init__(self, src: SourceModel, batch_size: int = 32):
        self.src, self.batch_size, self.name = src, batch_size, "torch-fp32"
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._corpus: np.ndarray | None = None
        self.encode_seconds = 0.0

    def describe(self) -> dict[str, object]:
        return {"kind": "torch", "folder": str(self.src.folder), "precision": "fp32"}

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (t, kind) not in self._cache))
        if todo:
            t0 = time.perf_counter()
            prefix = self.src.prompts.get(kind, "")
            for text, vec in zip(todo, self.src.encode([prefix + t for t in todo], self.batch_size), strict=True):
                self._cache[text, kind] = vec
            self.encode_seconds += time.perf_counter() - t0
        return np.stack([self._cache[t, kind] for t in texts])

    def index(self, texts: list[str]) -> None:
        self._corpus = self.encode(texts, "document")

    def score(self, queries: list[str]) -> np.ndarray:
        if self._corpus is None:
            raise RuntimeError("torch reference: index a corpus before scoring")
        return self.encode(queries, "query") @ self._corpus.T


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a.astype(np.float64) * b.astype(np.float64), axis=1)
    return {"mean": float(cos.mean()), "p1": float(np.percentile(cos, 1)), "min": float(cos.min()),
            "texts": int(len(cos))}


def threshold(cfg: ExportConfig, quantization: str) -> float:
    return cfg.min_cosine_int8 if quantization.startswith("int8") else cfg.min_cosine_fp32


def run_gate(src: SourceModel, folder: Path, quantizations: Sequence[str], cfg: ExportConfig,
             texts: Sequence[GateText], benchmarks: Sequence[Benchmark]) -> dict[str, Any]:
    """Every figure of the gate for each quantization, with `passed` per check and overall."""
    import onnxruntime as ort

    t0 = time.perf_counter()
    reference = TorchReference(src)
    gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    providers = {"fp16": ["CUDAExecutionProvider", "CPUExecutionProvider"]} if gpu else {}
    systems = {q: OnnxSystem(folder, name=f"onnx-{q}", quantization=q, providers=providers.get(q))
               for q in quantizations}
    report: dict[str, Any] = {"thresholds": {"min_cosine_fp32": cfg.min_cosine_fp32,
                                             "min_cosine_int8": cfg.min_cosine_int8,
                                             "max_mrr_drop": cfg.max_mrr_drop, "cosine_statistic": "mean"},
                              "cosine": {}, "mrr": {}, "failures": []}
    by_kind: dict[str, list[str]] = {"query": [], "document": []}
    for item in texts:
        by_kind[item.kind].append(item.text)
    for q, system in systems.items():
        ref_parts, got_parts = [], []
        for kind, group in by_kind.items():
            if group:
                ref_parts.append(reference.encode(group, kind))
                got_parts.append(system.encode(group, kind))
        stats = cosine_stats(np.concatenate(ref_parts), np.concatenate(got_parts))
        stats["threshold"] = threshold(cfg, q)
        stats["passed"] = stats["mean"] >= stats["threshold"]
        report["cosine"][q] = stats
        log.info("gate cosine %s vs torch fp32 on %d held-out texts: mean %.5f (>= %.3f %s), p1 %.5f, min %.5f", q,
                 stats["texts"], stats["mean"], stats["threshold"], "ok" if stats["passed"] else "FAILED",
                 stats["p1"], stats["min"])
        if not stats["passed"]:
            report["failures"].append(f"{q}: mean cosine to torch {stats['mean']:.5f} < {stats['threshold']}")

    for bench in benchmarks:
        ref_mrr = run_one(reference, bench)["mrr"]
        entry: dict[str, Any] = {"queries": len(bench.queries), "documents": len(bench.corpus),
                                 "torch_fp32": round(100 * ref_mrr, 3)}
        for q, system in systems.items():
            if q == "fp16" and not gpu:  # onnxruntime's CPU fp16 kernels are emulated: minutes for nothing
                entry[q] = {"skipped": "no CUDA provider here; fp16 is for GPUs (its cosine is checked)"}
                continue
            mrr = run_one(system, bench)["mrr"]
            drop = 100 * (ref_mrr - mrr)
            passed = drop <= cfg.max_mrr_drop
            entry[q] = {"mrr": round(100 * mrr, 3), "drop": round(drop, 3), "passed": passed}
            log.info("gate MRR on %s (%d queries, %d docs): torch fp32 %.2f, onnx %s %.2f (drop %.2f, max %.2f) %s",
                     bench.name, len(bench.queries), len(bench.corpus), 100 * ref_mrr, q, 100 * mrr, drop,
                     cfg.max_mrr_drop, "ok" if passed else "FAILED")
            if not passed:
                report["failures"].append(f"{q}: MRR on {bench.name} drops {drop:.2f} points "
                                          f"({100 * ref_mrr:.2f} -> {100 * mrr:.2f}) > {cfg.max_mrr_drop}")
        report["mrr"][bench.name] = entry
    report["passed"] = not report["failures"]
    report["seconds"] = {"total": round(time.perf_counter() - t0, 1), "torch_encode": round(reference.encode_seconds, 1),
                         **{f"onnx_{q}_encode": round(s.encode_seconds, 1) for q, s in systems.items()}}
    return report


def gate_benchmarks(cfg: ExportConfig, pairs_parquet: Path | None, root: str | Path | None = None,
                    seed: int = 0) -> list[Benchmark]:
    """The configured gate benchmarks, loaded and sampled (held-out: all languages mixed)."""
    out = []
    for name in cfg.gate_benchmarks:
        if name == "heldout":
            if pairs_parquet is None:
                raise ValueError("gate benchmark 'heldout' needs the pairs stage's pairs.parquet")
            bench = load_heldout(pairs_parquet)
        else:
            (bench,) = load_benchmarks([name], root if root is not None else benchmarks_dir())
        out.append(sample_benchmark(bench, cfg.gate_queries, cfg.gate_docs, seed))
    return out


def format_report(report: dict[str, Any]) -> str:
    """The gate's figures as a few printable lines."""
    lines = [f"quality gate: {'PASSED' if report['passed'] else 'FAILED'}"]
    for q, s in report["cosine"].items():
        lines.append(f"  cosine {q:12s} mean {s['mean']:.5f} (min allowed {s['threshold']}) p1 {s['p1']:.5f} "
                     f"min {s['min']:.5f} on {s['texts']} held-out texts")
    for bench, entry in report["mrr"].items():
        parts = [f"torch fp32 {entry['torch_fp32']:.2f}"]
        parts += [f"{q} {v['mrr']:.2f} (drop {v['drop']:+.2f})" if "mrr" in v else f"{q} skipped"
                  for q, v in entry.items() if isinstance(v, dict)]
        lines.append(f"  MRR {bench} ({entry['queries']} q, {entry['documents']} docs): " + ", ".join(parts))
    lines += [f"  FAILED: {f}" for f in report["failures"]]
    return "\n".join(lines)
