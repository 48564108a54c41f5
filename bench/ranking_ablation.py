"""Each part of the search ranking, taken out one at a time, on the repo-search set: both views, the tuning and the
reporting halves, and the paired change against the full pipeline (per-query NDCG@10, bootstrap 95% interval).

Index-time parts (chunking, BM25 terms, what is embedded) rebuild the twelve indexes with the part undone, and are
also scored with the model alone (dense only: what the chunk shapes and the embedded text do for the model);
ranking parts reuse the full build and change `RankingSettings`. Writes ablation.md and ablation.png to OUT.

    python bench/ranking_ablation.py OUT [--model models/static] [--benchmarks-dir data/benchmarks]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from codesift.eval.benchmarks import benchmarks_dir
from codesift.eval.systems import code_tokens
from codesift.eval.metrics import paired_difference
from codesift.eval.repo_eval import load_set
from codesift.eval.repo_search import TUNE_REPOS, VIEWS, score_run, subset_mean
from codesift.index import chunking, lexical
from codesift.index.code_index import CodeIndex
from codesift.index.commands import load_model
from codesift.ranking import search
from codesift.ranking.pipeline import DEFAULT


@contextlib.contextmanager
def patched(target, name: str, value):
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def whole_units(units, lines):
    """Chunker v1: every unit whole (a class holds its methods), no doc comments pulled in."""
    return [(f"{u.parent}.{u.symbol}" if u.parent else u.symbol, u.kind, u.start_line, min(u.end_line, len(lines)))
            for u in units]


INDEX_VARIANTS = {
    "full pipeline": [],
    "classes whole, methods inside (chunker v1)": [(chunking, "definition_spans", whole_units)],
    "doc comments not attached": [(chunking, "_leading_comments", lambda lines, start, floor: start)],
    "no stemming in BM25": [(lexical, "_word_terms", lambda word: tuple(code_tokens(word)))],
    "chunk text embedded alone (no path/symbol line)": [(chunking.Chunk, "embedding_text",
                                                         property(lambda c: c.text))],
}
RANKING_VARIANTS = {
    "no definition match": {"definition": 0.0, "embedded_definition": 0.0},
    "no whole-file scores": {"file_lexical": 0.0, "file_dense": 0.0},
    "no demotion of tests/examples/...": {"demote": {}},
    "no same-file diversity": {"same_file": 0.0},
    "fusion 0.7 dense / 0.3 BM25": {"dense": 0.7, "lexical": 0.3},
}


def run(bench, indexes, encoder, settings, **kw) -> dict:
    hits = {q.qid: [h.to_json() for h in search(indexes[q.repo], [q.text], 10, encoder=encoder, settings=settings,
                                                 **kw)[0]] for q in bench.queries}
    return {view: score_run(bench, hits, view) for view in VIEWS}


def build(bench, encoder, folder: Path) -> dict:
    out = {}
    for name, repo in bench.repos.items():
        out[name] = CodeIndex.create(folder / name, encoder)
        out[name].update([repo.corpus], encoder)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="models/static")
    parser.add_argument("--benchmarks-dir")
    args = parser.parse_args()
    bench = load_set(benchmarks_dir(args.benchmarks_dir))
    encoder = load_model(args.model)
    results, alone = {}, {}  # alone: the model without BM25 and rules, for the index-time variants
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, patches) in enumerate(INDEX_VARIANTS.items()):
            with contextlib.ExitStack() as stack:
                for target, attr, value in patches:
                    stack.enter_context(patched(target, attr, value))
                indexes = build(bench, encoder, Path(tmp) / str(i))
                results[name] = run(bench, indexes, encoder, DEFAULT)
                alone[name] = run(bench, indexes, encoder, DEFAULT, dense_only=True)
                if not patches:
                    full = indexes
            print(name, {v: round(results[name][v]["ndcg10"], 3) for v in VIEWS}, flush=True)
        for name, change in RANKING_VARIANTS.items():
            results[name] = run(bench, full, encoder, replace(DEFAULT, **change))
            print(name, {v: round(results[name][v]["ndcg10"], 3) for v in VIEWS}, flush=True)
        results["--files (one hit per file)"] = run(bench, full, encoder, DEFAULT, files=True)
    write(results, alone, bench, args)


def write(results: dict, alone: dict, bench, args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    base = results["full pipeline"]
    report = [r for r in bench.repos if r not in TUNE_REPOS]
    lines = [f"Command: `python bench/ranking_ablation.py {args.out} --model {args.model}`", "",
             "| variant | span | Δ span [95% CI] | file | Δ file [95% CI] | span tune / report | symbol (span) "
             "| model alone: span / file |", "|---|---:|---|---:|---|---|---:|---|"]
    rows = []
    for name, r in results.items():
        cells = []
        for view in VIEWS:
            a = np.array(list(r[view]["per_query"].values()))
            b = np.array(list(base[view]["per_query"].values()))
            d = paired_difference(a, b)
            cells += [f"{r[view]['ndcg10']:.3f}", "" if r is base else
                      f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"]
        span = r["span"]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
                     f"{subset_mean(span, TUNE_REPOS):.3f} / {subset_mean(span, report):.3f} | "
                     f"{span['by_category']['symbol']:.3f} | " + (f"{alone[name]['span']['ndcg10']:.3f} / "
                     f"{alone[name]['file']['ndcg10']:.3f} |" if name in alone else " |"))
        rows.append((name, r["span"]["ndcg10"], r["file"]["ndcg10"]))
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "ablation.json").write_text(json.dumps({"pipeline": results, "model_alone": alone}),
                                            encoding="utf-8")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r[1] for r in rows], 0.4, label="span view")
    ax.barh(y + 0.2, [r[2] for r in rows], 0.4, label="file view")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("NDCG@10 (mean of repository means)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "ablation.png", dpi=110)


if __name__ == "__main__":
    main()
