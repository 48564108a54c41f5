"""Render a results dict: a table on the terminal, metrics.json, report.md and PNG plots.

Figures are shown x100 with one decimal, the way papers report them; the JSON keeps fractions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codesift.runs import atomic_write, write_json

COLUMNS = ("mrr", "ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10")
HEADERS = ("MRR [95% CI]", "nDCG@10 [95% CI]", "MRR@10", "R@1", "R@5", "R@10")
HEADER = ["benchmark", "system", *HEADERS, "MRR - BM25 [95% CI]", "queries", "docs", "docs/s", "query p50 ms",
          "search s"]
MIN_LOG_WIDTH = 190


def rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per benchmark x system: names, metrics (x100), counts and timings."""
    out = []
    for bench, entry in results["benchmarks"].items():
        for system, m in entry["results"].items():
            cells = [_with_ci(m, c) if c in m["ci95"] else f"{100 * m[c]:.1f}" for c in COLUMNS]
            timing = m["timing"]
            docs_per_s, p50 = timing.get("docs_per_s"), timing.get("query_p50_ms")
            out.append([bench, system, *cells, _versus(m.get("mrr_vs_bm25")), str(entry["queries"]),
                        str(entry["documents"]),
                        "-" if docs_per_s is None else f"{docs_per_s:.0f}", "-" if p50 is None else f"{p50:.1f}",
                        f"{timing['search_s']:.1f}"])
    return out



def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=MIN_LOG_WIDTH)  # piped into a log: never wrap the figures
    table = Table(title="Retrieval (x100; exact search over each benchmark's pool)")
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i < 2 else "right", no_wrap=i < 2)
    for row in rows(results):
        table.add_row(*row)
    console.print(table)


def write_report(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """metrics.json, report.md and the plots under `out_dir`; returns their paths by kind."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "metrics.json", "markdown": out_dir / "report.md"}
    write_json(paths["json"], results)
    plots = write_plots(results, out_dir)
    paths.update(plots)
    with atomic_write(paths["markdown"]) as fh:
        fh.write(markdown(results, {k: p.relative_to(out_dir) for k, p in plots.items()}))
    return paths


def markdown(results: dict[str, Any], plots: dict[str, Path]) -> str:
    m = results["machine"]
    lines = [
        "# Retrieval evaluation", "",
        f"{results['created_at']} on {m.get('cpu', '?')} ({m.get('cpus', '?')} cores); figures x100, "
        "exact search over each benchmark's whole pool, ties broken against the relevant item, "
        "95% CIs from 1,000 bootstrap resamples of the queries; MRR - BM25 resamples the queries' differences "
        "(paired: the interval of the gap itself).", "",
        "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER),
        *("| " + " | ".join(r) + " |" for r in rows(results)), "",
    ]
    for bench, entry in results["benchmarks"].items():
        for key in sorted({k for r in entry["results"].values() for k in r["breakdown"]}):
            lines += [f"## {bench} by {key}", "", "| system | " + key + " | queries | MRR | nDCG@10 | R@1 | R@10 |",
                      "|---|---|---|---|---|---|---|"]
            for system, r in entry["results"].items():
                for group, g in r["breakdown"].get(key, {}).items():
                    lines.append(f"| {system} | {group} | {g['queries']} | {100 * g['mrr']:.1f} | "
                                 f"{100 * g['ndcg@10']:.1f} | {100 * g['recall@1']:.1f} | {100 * g['recall@10']:.1f} |")
            lines.append("")
    lines += ["## Systems", ""]
    lines += [f"- `{name}`: " + ", ".join(f"{k}={v}" for k, v in d.items()) for name, d in results["systems"].items()]
    lines += ["", "## Plots", ""] + [f"![{kind}]({path.as_posix()})" for kind, path in plots.items()]
    return "\n".join(lines) + "\n"


def write_plots(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """scores.png (MRR and nDCG@10 bars with CIs, per benchmark and system) and one recall@k plot per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    benches = list(results["benchmarks"])
    systems = list(results["systems"])
    paths: dict[str, Path] = {}

    fig, axes = plt.subplots(1, 2, figsize=(max(8, 2.5 * len(benches) * 2), 4.5), squeeze=False)
    width = 0.8 / len(systems)
    for ax, metric in zip(axes[0], ("mrr", "ndcg@10"), strict=True):
        for i, system in enumerate(systems):
            ms = [results["benchmarks"][b]["results"][system] for b in benches]
            values = np.array([100 * m[metric] for m in ms])
            ci = np.array([[100 * m["ci95"][metric][0] for m in ms], [100 * m["ci95"][metric][1] for m in ms]])
            x = np.arange(len(benches)) + (i - (len(systems) - 1) / 2) * width
            ax.bar(x, values, width, yerr=np.abs(ci - values), capsize=3, label=system)
        ax.set_xticks(np.arange(len(benches)), benches, rotation=20, ha="right")
        ax.set_ylabel(f"{metric} x100")
        ax.set_ylim(0, 100)
        ax.set_title(metric)
    axes[0][0].legend(fontsize="small")
    paths["scores"] = _save(fig, out_dir / "scores.png")

    for bench in benches:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for system in systems:
            curve = results["benchmarks"][bench]["results"][system]["recall_curve"]
            ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), label=system)
        ax.set_xscale("log")
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k x100")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.set_title(f"{bench}: recall@k")
        ax.legend(fontsize="small")
        paths[f"recall {bench}"] = _save(fig, out_dir / f"recall_{_slug(bench)}.png")
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _versus(paired: dict[str, Any] | None) -> str:
    if paired is None:
        return "-"
    lo, hi = paired["ci95"]
    return f"{100 * paired['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _with_ci(m: dict[str, Any], metric: str) -> str:
    lo, hi = m["ci95"][metric]
    return f"{100 * m[metric]:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
