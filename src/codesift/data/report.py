"""Data and pairs reports: Markdown tables a person can skim, and PNG charts where a picture says more."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from codesift.records import CodeUnit, Pair, SourceFile  # noqa: E402
from codesift.runs import atomic_write  # noqa: E402


def _table(title: str, counts: Counter[str] | dict[str, int], header: str = "count") -> str:
    total = sum(counts.values()) or 1
    rows = [f"| {k} | {v:,} | {100 * v / total:.1f}% |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "\n".join([f"### {title}", "", f"| {title.lower()} | {header} | share |", "|---|---:|---:|", *rows, ""])


def _bar(ax: plt.Axes, counts: Counter[str] | dict[str, int], title: str) -> None:
    items = sorted(counts.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


def write_data_report(out: Path, files: list[SourceFile], units: list[CodeUnit], stats: Counter[str],
                      timings: dict[str, float]) -> None:
    drops = Counter({k.removeprefix("drop:"): v for k, v in stats.items() if k.startswith("drop:") and v})
    read = Counter({k.removeprefix("read:"): v for k, v in stats.items() if k.startswith("read:")})
    skips = Counter({k.removeprefix("skip:"): v for k, v in stats.items() if k.startswith("skip:") and v})
    files_by_lang = Counter(f.language for f in files)
    units_by_lang = Counter(u.language for u in units)
    documented = Counter(u.language for u in units if u.doc)
    licenses = Counter(f.license or "unknown" for f in files)
    extracted = stats.get("units:extracted", 0)
    unit_dups = sum(stats.get(f"drop:{k}", 0) for k in ("exact-dup-unit", "near-dup-unit"))
    mb = sum(len(f.text) for f in files) / 1e6
    lines = [
        "# Data report", "",
        f"{len(files):,} clean files ({mb:.1f} MB) -> {len(units):,} code units "
        f"({sum(documented.values()):,} documented).", "",
        f"Dedup: {stats.get('drop:exact-dup-file', 0):,} exact and {stats.get('drop:near-dup-file', 0):,} near-duplicate "
        f"files; {unit_dups:,} of {extracted:,} extracted units ({100 * unit_dups / max(extracted, 1):.1f}%) were "
        f"duplicates; {stats.get('drop:benchmark-contaminated', 0):,} units matched an external benchmark.", "",
        "Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()), "",
        _table("Files read per source", read),
        _table("Files skipped while reading", skips),
        _table("Dropped, by reason", drops),
        _table("Clean files per language", files_by_lang),
        _table("Units per language", units_by_lang),
        _table("Documented units per language", documented),
        _table("Clean files per license", licenses),
        "![drop reasons](drops.png)", "", "![units per language](units.png)", "",
    ]
    if "commits:read" in stats:
        lines += [f"Git sources: {stats['commits:read']:,} commits read, {stats.get('commits:kept', 0):,} kept for "
                  "commit -> definition pairs.", "",
                  _table("Commits dropped, by reason", Counter({k.removeprefix("commit-drop:"): v for k, v in
                                                               stats.items() if k.startswith("commit-drop:")})),
                  _table("Changed files and definitions dropped, by reason", Counter({
                      k.removeprefix("commit-drop-"): v for k, v in stats.items()
                      if k.startswith(("commit-drop-file:", "commit-drop-unit:")) and v}))]
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(lines))
    fig, ax = plt.subplots(figsize=(7, max(3, 0.3 * len(drops | skips))))
    _bar(ax, drops | Counter({f"skip:{k}": v for k, v in skips.items()}), "Dropped or skipped, by reason")
    _save(fig, out / "drops.png")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    _bar(axes[0], units_by_lang, "Units per language")
    _bar(axes[1], documented, "Documented units per language")
    _save(fig, out / "units.png")


def write_pairs_report(out: Path, pairs: list[Pair], stats: Counter[str]) -> None:
    by_split = Counter(p.split for p in pairs)
    lines = ["# Pairs report", "", f"{len(pairs):,} pairs; held out by repository "
             f"({len({p.repo for p in pairs if p.split != 'train'}):,} repos in val/test).", "",
             _table("Pairs per type", Counter(p.pair_type for p in pairs)),
             _table("Pairs per language", Counter(p.language for p in pairs)),
             _table("Pairs per split", by_split),
             _table("Dropped, by reason", Counter({k[5:]: v for k, v in stats.items() if k.startswith("drop:")})),
             "![pairs](pairs.png)", ""]
    with atomic_write(out / "report.md") as fh:
        fh.write("\n".join(lines))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    _bar(axes[0], Counter(p.pair_type for p in pairs), "Pairs per type")
    _bar(axes[1], Counter(p.language for p in pairs), "Pairs per language")
    _bar(axes[2], by_split, "Pairs per split")
    _save(fig, out / "pairs.png")
