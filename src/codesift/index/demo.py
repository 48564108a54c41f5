"""The end of `codesift run`: the run's example searches, then the same queries through `codesift search` itself.

A tiny recipe's model is a smoke test of the pipeline, not a search model; what a user should see next is what
`codesift search` answers with the model it uses by default (the shipped search model), over the same folders and from the
same cached index a later `codesift search QUERY PATH` reuses.
"""

from __future__ import annotations

import argparse
from typing import Any

from codesift.index.commands import index_dir, load_model, open_and_update, resolve_paths
from codesift.index.stage import EXAMPLE_HITS
from codesift.log import get_logger
from codesift.ranking import search

log = get_logger(__name__)


def print_examples(examples: list[dict[str, Any]]) -> None:
    """Each query with its hits, one line each: score, repo/path:line, symbol."""
    for example in examples:
        print(f"\nsearch: {example['query']}")
        for hit in example["results"]:
            print(f"  {hit['score']:.3f}  {hit['repo']}/{hit['path']}:{hit['start_line']}  {hit['symbol']}")


def search_default(queries: list[str], paths: list[str], top_k: int = EXAMPLE_HITS):
    """`codesift search` for each query over `paths`: its default model, its cached index, its ranking.
    Returns the model's folder and the examples."""
    encoder = load_model(None)
    roots = resolve_paths(paths)
    index, _ = open_and_update(index_dir(argparse.Namespace(index=None, cache_dir=None), roots, encoder), roots,
                               encoder)
    hits = search(index, queries, top_k, encoder=encoder)
    examples = [{"query": q, "results": [h.to_json() for h in found]} for q, found in zip(queries, hits)]
    return getattr(encoder, "folder", encoder.revision), examples


def show_default_search(queries: list[str], paths: list[str]) -> None:
    """The run's example queries answered by `codesift search`'s default model, or why they cannot be."""
    if not queries:
        return
    try:
        model, examples = search_default(queries, paths)
    except (FileNotFoundError, ValueError) as e:
        log.warning("skipped the example searches with codesift search's default model: %s", e)
        return
    print(f"\nThe same searches with `codesift search \"QUERY\" {' '.join(paths)}`, whose default model ({model}) "
          "is the shipped search model; the run's own model above is this recipe's:")
    print_examples(examples)
