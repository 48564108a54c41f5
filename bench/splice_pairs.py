"""Measure documentation pair types (doc-example, api-doc) on a finished run without rebuilding it (issue 23):
a copy of the run (hard links) whose pairs file gains the new pairs, built by the library from the run's own doc
sections plus those of extra sources. The data, tokenizer, co-occurrence table and held-out split stay the base's,
so the copy's training is paired with the base's; the pairs stage keeps its manifest and is not rerun.

    python bench/splice_pairs.py recipes/static.yaml runs/v29/recipe runs/v36/docs --source python:docs
    codesift run recipes/static.yaml --run-dir runs/v36/docs --until train --set "train.pair_type_weights={...}"
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from codesift.config import SourceConfig, load_recipe
from codesift.data.doc_pairs import doc_pairs, main_languages
from codesift.data.markdown import split_markdown
from codesift.data.pipeline import benchmark_guard, read_rows, write_parquet
from codesift.data.sources import read_source
from codesift.records import CodeUnit, DocSection

RERUN = ("train", "eval", "export", "index")  # the stages after pairs, which the copy reruns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("base", type=Path, help="the finished run folder (holds <recipe name>/)")
    parser.add_argument("out", type=Path, help="run folder to create")
    parser.add_argument("--types", nargs="+", default=["doc-example", "api-doc"], choices=["doc-example", "api-doc"])
    parser.add_argument("--source", action="append", default=[],
                        help="KIND:NAME[:PATH] whose Markdown/reST is read too, e.g. python:docs")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    base, out = args.base / recipe.name, args.out / recipe.name
    if out.exists():
        parser.error(f"{out} exists")
    shutil.copytree(base, out, copy_function=os.link, ignore=lambda folder, names: RERUN if folder == str(base) else ())

    units = read_rows(out / "data" / "units.parquet", CodeUnit)
    sections = read_rows(out / "data" / "sections.parquet", DocSection)
    stats: Counter[str] = Counter()
    for spec in args.source:
        kind, name, *path = spec.split(":", 2)
        source = SourceConfig(kind=kind, name=name, path=path[0] if path else None)
        for f in read_source(source, max_file_bytes=recipe.data.max_file_bytes, stats=stats):
            if f.language == "markdown":
                sections.extend(split_markdown(f.text, repo=f.repo, path=f.path, license=f.license))
    guard = benchmark_guard(recipe.data)
    cfg = recipe.pairs.model_copy(update={"types": args.types})
    table = pq.read_table(out / "pairs" / "pairs.parquet")
    existing = table.to_pylist()
    splits = {row["repo"]: row["split"] for row in existing}
    seen = {(row["query"], row["code"]) for row in existing}
    added = []
    for pair in doc_pairs(sections, main_languages(units), cfg, stats, guard.contains if guard else lambda c: False):
        if (pair.query, pair.code) not in seen:
            seen.add((pair.query, pair.code))
            pair.split = splits.get(pair.repo, "train")
            added.append(pair.to_row())
    os.unlink(out / "pairs" / "pairs.parquet")  # a hard link to the base's file
    write_parquet(out / "pairs" / "pairs.parquet", existing + added, schema=table.schema)
    counts = Counter((row["pair_type"], row["split"]) for row in added)
    print(f"{len(added)} pairs added to {out / 'pairs' / 'pairs.parquet'}: {dict(sorted(counts.items()))}")
    print("dropped:", dict(sorted((k, v) for k, v in stats.items() if k.startswith("drop:"))))


if __name__ == "__main__":
    main()
