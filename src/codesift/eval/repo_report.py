"""Repository-search results as a terminal table, `metrics.json`, `report.md` and one PNG (systems x views, per
language), so a change in ranking is read at a glance."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from codesift.eval.repo_search import TUNE_REPOS, RepoSearchSet


def _row(name: str, r: dict[str, Any]) -> str:
    span, file = r["span"], r["file"]
    cats = " / ".join(f"{span['by_category'].get(c, float('nan')):.3f}" for c in ("semantic", "architecture", "symbol"))
    return (f"| {name} | {span['ndcg10']:.3f} | {file['ndcg10']:.3f} | {cats} | {span['tune_ndcg10']:.3f} / "
            f"{span['report_ndcg10']:.3f} | {r['index_s_mean']:.2f} | {r['latency_p50_ms']:.1f} / "
            f"{r['latency_p95_ms']:.1f} |")


HEADER = ("| system | span view | file view | semantic / architecture / symbol (span) | tune / report repos (span) "
          "| index s/repo | query p50 / p95 ms |\n|---|---:|---:|---|---|---:|---:|")


def print_table(results: dict[str, Any]) -> None:
    print(HEADER)
    for name, r in results.items():
        print(_row(name, r))


def write_report(results: dict[str, Any], bench: RepoSearchSet, out: Path) -> None:
    (out / "metrics.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = ["# Repository search (repo-search set)", "",
             f"Command: `{' '.join(['codesift', *sys.argv[1:]])}`  ", f"Machine: {_machine()}  ",
             f"Repositories: {len(bench.repos)}, queries: {len(bench.queries)}; tune repos: {', '.join(TUNE_REPOS)}.",
             "", "NDCG@10, mean of repository means.", "", HEADER]
    lines += [_row(name, r) for name, r in results.items()]
    for view in ("span", "file"):
        languages = sorted({lang for r in results.values() for lang in r[view]["by_language"]})
        lines += ["", f"## By language ({view} view)", "", "| system | " + " | ".join(languages) + " |",
                  "|---|" + "---:|" * len(languages)]
        lines += [f"| {name} | " + " | ".join(f"{r[view]['by_language'][lang]:.3f}" for lang in languages) + " |"
                  for name, r in results.items()]
        lines += ["", f"## By repository ({view} view)", "", "| system | " + " | ".join(bench.repos) + " |",
                  "|---|" + "---:|" * len(bench.repos)]
        lines += [f"| {name} | " + " | ".join(f"{r[view]['repos'][repo]['ndcg10']:.3f}" for repo in bench.repos)
                  + " |" for name, r in results.items()]
    lines += ["", "![by language](repo_search.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    _plot(results, out / "repo_search.png")


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, view in zip(axes, ("span", "file")):
        languages = sorted({lang for r in results.values() for lang in r[view]["by_language"]}) + ["all"]
        width = 0.8 / max(len(results), 1)
        for i, (name, r) in enumerate(results.items()):
            values = [r[view]["by_language"].get(lang, 0.0) for lang in languages[:-1]] + [r[view]["ndcg10"]]
            ax.bar(np.arange(len(languages)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(languages)) + 0.4 - width / 2, languages, rotation=20)
        ax.set_title(f"{view} view (NDCG@10)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _machine() -> str:
    from codesift.runs import machine_info

    info = machine_info()
    return f"{info.get('cpu', platform.processor())}, {info['cpus']} cores, Python {platform.python_version()}"
