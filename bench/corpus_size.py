"""Measure the default corpus: files and MB per language and source, before and after the license check.

Installs data/corpus.yaml (idempotent) into --cache, reads every source with codesift's readers, and
prints JSON. The numbers in docs/CORPUS.md come from this script.

    python bench/corpus_size.py --cache runs/.corpus > corpus-size.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from codesift.config import DataConfig
from codesift.data.install import install_default_corpus
from codesift.data.licenses import is_permissive
from codesift.data.sources import read_source

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "data" / "corpus.yaml"))
    parser.add_argument("--cache", default=str(REPO / "runs" / ".corpus"))
    parser.add_argument("--top", type=int, default=5, help="largest packages to list per source")
    args = parser.parse_args()
    cfg = DataConfig()
    t0 = time.perf_counter()
    sources = install_default_corpus(args.spec, args.cache)
    report = {"install_seconds": round(time.perf_counter() - t0, 1), "sources": [], "total": {}}
    total: dict[str, Counter[str]] = defaultdict(Counter)
    for source in sources:
        stats: Counter[str] = Counter()
        langs: dict[str, Counter[str]] = defaultdict(Counter)
        repo_bytes: Counter[str] = Counter()
        t0 = time.perf_counter()
        for f in read_source(source, max_file_bytes=cfg.max_file_bytes, stats=stats):
            size = len(f.text.encode("utf-8"))
            allowed = int(is_permissive(f.license, cfg.licenses))
            for counter in (langs[f.language], total[f.language]):
                counter.update({"files": 1, "bytes": size, "allowed_files": allowed, "allowed_bytes": size * allowed})
            repo_bytes[f.repo] += size
        report["sources"].append({
            "source": source.model_dump(exclude_defaults=True),
            "seconds": round(time.perf_counter() - t0, 1),
            "packages": len(repo_bytes),
            "languages": {lang: _sizes(c) for lang, c in sorted(langs.items())},
            "largest_packages_mb": {r: round(b / 1e6, 2) for r, b in repo_bytes.most_common(args.top)},
            "skips": dict(sorted(stats.items())),
        })
    report["total"] = {lang: _sizes(c) for lang, c in sorted(total.items())}
    print(json.dumps(report, indent=2))


def _sizes(c: Counter[str]) -> dict[str, float]:
    return {"files": c["files"], "mb": round(c["bytes"] / 1e6, 1),
            "allowed_files": c["allowed_files"], "allowed_mb": round(c["allowed_bytes"] / 1e6, 1)}


if __name__ == "__main__":
    main()
