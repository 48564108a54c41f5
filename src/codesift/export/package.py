"""`codesift package RECIPE --out DIR`: a run's export as a self-contained model folder with a model card.

The folder is what `codesift search`, `codesift serve` and `codesift.runtime.onnx.load_encoder` read: encoder.json,
tokenizer.json, gate.json and the default (gated) ONNX file only; the same weights as a sentence-transformers model
beside them (`st_folder`), so `SentenceTransformer(folder)` loads it too; and README.md, a model card written from
the run's own artifacts: what the model is, how to use it, its evaluation against the baselines (an eval report's
metrics.json, e.g. `codesift eval --systems onnx:runs/<name>/export,bm25,minilm`), the quality gate, the data and
the training that made it (from the stage manifests), and the recipe. Nothing in the card is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from codesift.eval.systems import FUSIONS
from codesift.log import get_logger
from codesift.runtime.views import DocumentViews

log = get_logger(__name__)

CARD_BENCHMARKS = {"cosqa-test": "CoSQA test", "csn-ruby": "CodeSearchNet Ruby", "heldout": "held-out pairs",
                   "cosqa-dev": "CoSQA dev"}


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="the recipe whose run to package, e.g. recipes/small-gpu.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="the recipe overrides the run was made with (repeatable)")
    p.add_argument("--run-dir", help="parent folder of run directories (default: the recipe's run_dir)")
    p.add_argument("--out", default="models/default", help="model folder to write (replaced) (default: %(default)s)")
    p.add_argument("--eval", dest="eval_metrics", metavar="METRICS_JSON",
                   help="eval report for the card (default: the run's eval stage, <run>/eval/metrics.json)")


def run(args: argparse.Namespace) -> int:
    from codesift.config import load_recipe
    from codesift.runs import RunDir

    recipe = load_recipe(args.recipe, args.overrides)
    run_dir = RunDir(recipe, args.run_dir)
    metrics = Path(args.eval_metrics) if args.eval_metrics else run_dir.stage_dir("eval") / "metrics.json"
    out = package(run_dir, Path(args.recipe), metrics, Path(args.out), args.overrides)
    print(f"packaged {run_dir.root} -> {out} ({sum(f.stat().st_size for f in out.rglob('*')) / 2**20:.1f} MiB); "
          f"try: codesift search \"read a config file\" src/")
    return 0


def package(run_dir, recipe_path: Path, metrics_json: Path, out: Path, overrides: list[str] | None = None) -> Path:
    """Copy the export's default model into `out` (atomically replaced) and write its model card."""
    from codesift.export.st_folder import add_sentence_transformers
    from codesift.runs import write_json
    from codesift.runtime.onnx import ENCODER_JSON, GATE_JSON, TOKENIZER_JSON

    manifests = {s: run_dir.manifest(s) for s in ("data", "pairs", "tokenizer", "pretrain", "train", "export")}
    if missing := [s for s, m in manifests.items() if m is None]:
        raise FileNotFoundError(f"{run_dir.root}: stage(s) {', '.join(missing)} not complete; run them first")
    if not metrics_json.is_file():
        raise FileNotFoundError(f"{metrics_json}: no eval report for the model card (run `codesift eval` or the eval "
                                "stage, or pass --eval METRICS_JSON)")
    export = run_dir.stage_dir("export")
    encoder = json.loads((export / ENCODER_JSON).read_text())
    default = encoder["default_quantization"]
    encoder["files"] = {default: encoder["files"][default]}  # ship the gated default only
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(export / encoder["files"][default]["file"], tmp / encoder["files"][default]["file"])
    for name in (TOKENIZER_JSON, GATE_JSON):
        shutil.copy2(export / name, tmp / name)
    write_json(tmp / ENCODER_JSON, encoder)
    add_sentence_transformers(tmp)
    card = model_card(run_dir, recipe_path, manifests, json.loads(metrics_json.read_text()), encoder,
                      json.loads((export / GATE_JSON).read_text()), out, overrides or [])
    (tmp / "README.md").write_text(card)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info("packaged %s (%s) -> %s", run_dir.root, default, out)
    return out


# --- the card -------------------------------------------------------------------------------------------------------


def model_card(run_dir, recipe_path: Path, manifests: dict[str, dict[str, Any]], metrics: dict[str, Any],
               encoder: dict[str, Any], gate: dict[str, Any], out: Path, overrides: list[str]) -> str:
    name = run_dir.recipe.name
    model = run_dir.recipe.model
    views = DocumentViews(**encoder.get("document_views", {}))
    (quant, info), = encoder["files"].items()
    if model.arch == "static":
        size = encoder["source"]["vocab_size"] * model.hidden / 1e6
        shape = f"A static model (one vector per token, {size:.1f}M parameters, averaged over the text)"
    else:
        size = manifests["pretrain"]["summary"]["parameters"] / 1e6
        shape = (f"A {model.layers}-layer, {model.hidden}-wide {model.arch} encoder ({size:.1f}M parameters) "
                 "with mean pooling")
    lines = [
        f"# codesift `{name}`: a code embedding model trained from scratch",
        "",
        f"{shape} and L2-normalized {encoder['dim']}-dim embeddings, up to "
        f"{encoder['max_seq_len']} tokens; shipped as {quant} ONNX ({info['bytes'] / 2**20:.1f} MiB) with its "
        f"tokenizer. Queries are natural language, documents are code in Python, TypeScript, JavaScript, Go, Java "
        f"or Rust. Trained with `{recipe_path.as_posix()}` by codesift; every figure below is read from the run's "
        "artifacts.",
        "",
        "## Use",
        "",
        "```bash",
        f'codesift search "parse a date string" path/to/repo --model {out.as_posix()}   # semantic grep',
        f"codesift serve --model {out.as_posix()}                                      # /v1/embeddings, /search",
        "```",
        "",
        "(`models/static` in a codesift checkout is the default `--model` of search, index and serve.)",
        "",
        "```python",
        "from codesift.runtime.onnx import load_encoder",
        f'vectors = load_encoder("{out.as_posix()}").encode(["read a file"], kind="query").vectors',
        "",
        "from sentence_transformers import SentenceTransformer  # the same weights in PyTorch, no codesift needed",
        f'vectors = SentenceTransformer("{out.as_posix()}").encode(["read a file"])',
        "```",
        "",
        "The folder is also a sentence-transformers model holding the ONNX file's weights (a transformer's stored "
        "as fp16 and run in float32): its vectors match the ONNX runtime's to a cosine above 0.999. "
        "`backend=\"onnx\"` is not offered: sentence-transformers runs ONNX through optimum-onnx, which does not "
        "install beside transformers 5.",
        *_views_lines(views),
        "",
        "## Evaluation",
        "",
        eval_table(metrics, views.revision(encoder["revision"])),
        "",
        _gate_lines(gate),
        "",
        "## Training",
        "",
        *_training_lines(manifests),
        "",
        "## Recipe",
        "",
        "```yaml",
        recipe_path.read_text().rstrip(),
        "```",
        *([f"With overrides: {', '.join(f'`{o}`' for o in overrides)}."] if overrides else []),
        "",
        "## Limitations",
        "",
        "- Small and briefly trained (see Training): it is below all-MiniLM-L6-v2 on web-style queries (CoSQA) and "
        "should be compared with BM25 on your own code before relying on it; `codesift eval` does that.",
        "- English queries; code in the six training languages (other languages embed, untested).",
        f"- Documents are cut at {encoder['max_seq_len']} tokens: long functions are embedded by their start.",
        "- Training data: permissively licensed code only (licenses listed in the recipe's data section's defaults: "
        "MIT, BSD, Apache-2.0, ISC, PSF, ...); benchmark functions were removed from it (decontamination).",
        "",
    ]
    return "\n".join(lines)


def _views_lines(views: DocumentViews) -> list[str]:
    if not views.active:
        return []
    text = (f"A document (code) is embedded with its document views: its vector plus {views.doc} x its "
            f"definition's doc summary vector and {views.name} x its name vector, normalized "
            "(`codesift.runtime.views`; queries as they are). codesift's runtime, index, service and eval do this "
            "from encoder.json; sentence-transformers gives the plain mean, so embed documents with "
            "`load_encoder(...).encode(texts, kind=\"document\")` to match the figures below.")
    return ["", text]


def eval_table(metrics: dict[str, Any], revision: str | None = None) -> str:
    """Markdown: one row per benchmark x system, the system whose encoder `revision` this is named "this model"."""
    head = ("| benchmark | system | MRR | nDCG@10 | R@1 | R@10 | query p50 ms | docs/s |\n"
            "|---|---|---|---|---|---|---|---|")
    described = metrics.get("systems", {})
    labels = {n: f"**this model** ({d.get('quantization')} ONNX)" if revision and d.get("revision") == revision else
              "all-MiniLM-L6-v2" if n == "minilm" else "BM25" if n == "bm25" else n for n, d in described.items()}
    for n in labels:
        prefix = next((p for p in FUSIONS if n.startswith(p)), None)
        if prefix:  # hybrid:bm25@0.5+runs/x/export -> BM25 (0.5) + this model, RRF
            parts = [p.rsplit("@", 1) if "@" in p else [p, "1"] for p in n.removeprefix(prefix).split("+")]
            labels[n] = " + ".join(f"{labels.get(p, p)}" + (f" ({w})" if w != "1" else "") for p, w in parts) + (
                ", RRF" if FUSIONS[prefix] == "rrf" else ", z-score fusion")
            if _is_search_default(FUSIONS[prefix], {p: float(w) for p, w in parts}, described, revision):
                labels[n] += " (`codesift search` default)"
    rows = []
    for bench, entry in metrics["benchmarks"].items():
        for name, m in entry["results"].items():
            system = labels.get(name, name)
            bench_name = CARD_BENCHMARKS.get(bench) or bench.replace("heldout-", "held-out ")
            t = m.get("timing", {})
            p50, dps = t.get("query_p50_ms"), t.get("docs_per_s")
            rows.append(f"| {bench_name} | {system} | {100 * m['mrr']:.1f} | "
                        f"{100 * m['ndcg@10']:.1f} | {100 * m['recall@1']:.1f} | {100 * m['recall@10']:.1f} | "
                        f"{'-' if p50 is None else f'{p50:.1f}'} | {'-' if dps is None else f'{dps:.0f}'} |")
    machine = metrics.get("machine", {})
    systems = "; ".join(f"{labels[n]}: {d.get('kind')}" + (f" {d['quantization']}" if "quantization" in d else "")
                        for n, d in described.items())
    return "\n".join([
        f"Figures x100, exact search over each benchmark's whole pool ({metrics.get('created_at', '?')}, "
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs). Latency: one query encoded and searched; "
        f"docs/s: documents encoded per second on that CPU. Systems: {systems}.",
        "", head, *rows,
    ])


def _is_search_default(fusion: str, weights: dict[str, float], described: dict[str, Any], revision: str | None) -> bool:
    """Whether a hybrid of BM25 and this model is the fusion `codesift search` runs by default."""
    from codesift.config import IndexConfig

    default = IndexConfig()
    model = [p for p in weights if p != "bm25" and revision and described.get(p, {}).get("revision") == revision]
    return (len(weights) == 2 and "bm25" in weights and len(model) == 1 and fusion == default.fusion
            and weights["bm25"] == default.bm25_weight and weights[model[0]] == default.dense_weight)


def _gate_lines(gate: dict[str, Any]) -> str:
    cos = gate.get("cosine", {})
    parts = [f"{q} cosine to the PyTorch model {c['mean']:.5f} (threshold {c['threshold']})" for q, c in cos.items()]
    for bench, entry in gate.get("mrr", {}).items():
        for q, r in entry.items():
            if isinstance(r, dict) and "drop" in r:
                parts.append(f"{bench} MRR {q} {r['mrr']:.1f} (drop {r['drop']:+.2f} points)")
    return "Quality gate at export (held-out texts and sampled benchmarks): " + "; ".join(parts) + "."


def _static_pretraining(summary: dict) -> str:
    if not summary.get("pretrained"):
        return "- Pretraining: none (a static model starts from a random table)."
    return (f"- Pretraining: the table starts from token co-occurrence (PPMI + truncated SVD) over "
            f"{summary['chars'] / 1e6:.0f}M characters of the corpus's code ({summary['texts']:,} units), "
            f"{summary['tokens_with_rows']:,} of {summary['vocab']:,} tokens given rows, {summary['seconds']:.0f} s.")


def _training_lines(manifests: dict[str, dict[str, Any]]) -> list[str]:
    data, pairs = manifests["data"]["summary"], manifests["pairs"]["summary"]
    pre, train = manifests["pretrain"], manifests["train"]
    ps, ts = pre["summary"], train["summary"]
    train_cfg = train.get("config", {}).get("train", {})
    init_from = train_cfg.get("init_from")
    continued = (f", continued from the model `{init_from}` (trained on the same data, tokenizer and pretraining)"
                 if init_from else "")
    soup = train_cfg.get("soup") or []
    averaged = (f"; each round's model is the weight average of {len(soup)} trained from its start ("
                + "; ".join(f"weight {x['weight']}: {_fmt_settings(x.get('set') or {})}" for x in soup) + ")"
                if soup else "")
    lines = [
        f"- Data: {data.get('files', 0):,} permissively licensed files after cleaning and deduplication, "
        f"{data.get('units', 0):,} code units ({data.get('documented_units', 0):,} documented), "
        f"{data.get('sections', 0):,} README/doc sections.",
        f"- Pairs ({_pair_types(manifests['pairs'])}; splits held out by repository): {_fmt_summary(pairs)}.",
        f"- Tokenizer: {manifests['tokenizer']['summary'].get('kind', 'bpe')} with "
        f"{manifests['tokenizer']['summary'].get('vocab_size', '?')} tokens, trained on the cleaned corpus.",
        _static_pretraining(ps) if ps.get("arch") == "static" else
        f"- Pretraining ({ps['objective'].upper()} + identifier deobfuscation): {ps['steps']} steps, "
        f"{ps['tokens_seen'] / 1e6:.1f}M tokens over {ps['train_windows']} windows, {ps['precision']}, "
        f"{ps['tokens_per_s'] / 1e3:.0f}k tokens/s (MFU {100 * ps['mfu']:.1f}% of the measured matmul peak), "
        f"stopped by {ps.get('stopped_by', 'steps')}; validation loss {ps['val_loss']:.3f}; on "
        f"{_machine(pre)} in {pre['duration_s'] / 60:.1f} min.",
        f"- Contrastive training{continued}: {ts['rounds']} round(s) of InfoNCE over {ts['pairs']} pairs"
        f"{' (hard negatives mined between rounds)' if ts['rounds'] > 1 else ' (in-batch negatives)'}, "
        f"best round {ts['best_round']} by validation score {ts['score']:.3f}{averaged}; on {_machine(train)} "
        f"in {train['duration_s'] / 60:.1f} min.",
    ]
    return lines


PAIR_TYPE_WORDS = {
    "doc-body": "docstring -> body", "signature-body": "signature -> body", "readme-file": "README section -> file",
    "commit-body": "commit message -> changed definitions", "identifier-def": "name -> definition",
    "doc-file": "file doc -> file", "question-body": "doc as a question -> body",
    "comment-block": "comment in a body -> the lines it introduces",
    "call-doc": "doc of the function a short function calls -> the caller",
    "doc-example": "documentation paragraph -> the code example under it",
    "api-doc": "API reference entry -> its signature",
}


def _pair_types(manifest: dict[str, Any]) -> str:
    types = manifest.get("config", {}).get("pairs", {}).get("types") or ["doc-body", "signature-body", "readme-file"]
    return ", ".join(PAIR_TYPE_WORDS.get(t, t) for t in types)


def _fmt_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {json.dumps(v)}" for k, v in settings.items()) or "the train section's settings"


def _fmt_summary(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in summary.items()
                     if isinstance(v, (int, float, str)))


def _machine(manifest: dict[str, Any]) -> str:
    m = manifest.get("machine", {})
    gpu = m.get("gpu")
    return f"{gpu}" if gpu else f"{m.get('cpu', '?')} ({m.get('cpus', '?')} CPUs)"
