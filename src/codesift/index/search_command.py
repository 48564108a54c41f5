"""`codesift search QUERY [PATH...]`: like grep, but by meaning.

The first search over a set of folders builds an index in the cache (`~/.cache/codesift/index/<key>`, key = the
folders + the encoder); every later search refreshes it first (files whose size/mtime/ctime changed are re-hashed, only
changed chunks are embedded), so results always reflect the files on disk. `--queries FILE.jsonl` answers many
queries in one process. JSON output is one line per query::

    {"query": "...", "results": [{"path", "start_line", "end_line", "symbol", "language", "score", "repo", "kind"}]}

with paths relative to the searched folder (`repo` names the folder when several are searched). Ranking is
`codesift.ranking` (the same steps the service and `codesift eval --benchmarks repo-search` run); `--files` ranks
files (one hit per file, at its best chunk), `--no-hybrid` shows the model alone (nearest vectors only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codesift.index.commands import (
    add_model_args, index_dir, load_model, open_and_update, quiet_libraries, resolve_paths,
)

SNIPPET_LINES = 3


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Semantic search over code folders: builds or refreshes a cached index of the PATHs "
                     "(default '.') and prints the chunks closest to the query.")
    p.add_argument("args", nargs="*", metavar="QUERY [PATH...]",
                   help="the query, then code folders or files (with --queries, all arguments are PATHs)")
    p.add_argument("--queries", metavar="FILE.jsonl",
                   help="answer every {\"query\": ...} line of this file (\"-\" reads stdin)")
    p.add_argument("-k", "--top-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text (readable, with snippets) or json (one line per query)")
    add_model_args(p)
    g = p.add_argument_group("filters (repeatable; a result must match one value of each given filter)")
    g.add_argument("--lang", action="append", default=[], metavar="LANGUAGE", help="e.g. python, go, markdown")
    g.add_argument("--glob", action="append", default=[], metavar="GLOB",
                   help="path glob relative to the searched folder, e.g. 'src/*' or '*.py'")
    g.add_argument("--repo", action="append", default=[], metavar="NAME", help="searched folder name")
    g = p.add_argument_group("search settings")
    g.add_argument("--files", action="store_true", help="rank files instead of chunks (one hit per file)")
    g.add_argument("--ef-search", type=int, help="HNSW search beam (default: the index's)")
    g.add_argument("--hybrid", action=argparse.BooleanOptionalAction, default=True,
                   help="BM25, vectors and the ranking rules together (default); --no-hybrid: the model alone")
    p.add_argument("--no-refresh", action="store_true",
                   help="search the cached index as it is (build it only if there is none)")


def run(args: argparse.Namespace, warm=None) -> int:
    """The command. `warm` (`search_server.Warm`) keeps the model and open indexes across searches in the server;
    without it this is a cold search, which starts the server for the next one."""
    from codesift.index.code_index import Filters
    from codesift.log import get_logger
    from codesift.ranking import search
    from codesift.runtime.base import valid_text

    log = get_logger("codesift.search")
    quiet_libraries()
    positional = list(args.args)
    if args.queries:
        queries = _read_queries(args.queries)
    elif positional:
        queries = [positional.pop(0)]
        if not queries[0].strip():  # as --queries and the server do
            log.error("codesift search: the QUERY is empty; say what to look for")
            return 2
    else:
        log.error("codesift search: give a QUERY (or --queries FILE.jsonl)")
        return 2
    queries = [valid_text(q) for q in queries]  # bytes that are not UTF-8 would stop the tokenizer and the output
    if args.top_k < 1:
        log.error("codesift search: --top-k must be at least 1, got %d", args.top_k)
        return 2
    roots = resolve_paths(positional or ([] if args.index else ["."]))
    encoder = warm.encoder(args.model, load_model) if warm else load_model(args.model)
    directory = index_dir(args, roots, encoder)
    if warm:
        index, _ = warm.index(directory, roots, encoder, not args.no_refresh, open_and_update)
    else:
        index, _ = open_and_update(directory, roots, encoder, refresh=not args.no_refresh)
    filters = Filters(tuple(args.repo), tuple(args.lang), tuple(args.glob))
    hits = search(index, queries, args.top_k, encoder=encoder, filters=filters or None, dense_only=not args.hybrid,
                  files=args.files, ef_search=args.ef_search)
    out = sys.stdout
    for query, found in zip(queries, hits):
        if args.format == "json":
            out.write(json.dumps({"query": query, "results": [h.to_json() for h in found]}) + "\n")
        else:
            _print_text(out, index, query, found, several=len(queries) > 1, repos=len(index.roots) > 1)
    out.flush()
    if warm is None:
        from codesift.index.search_server import start_in_background

        start_in_background()
    return 0


def _read_queries(source: str) -> list[str]:
    try:
        lines = (sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")).splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    queries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}:{n}: not JSON ({e.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise ValueError(f"{source}:{n}: expected {{\"query\": \"...\"}} with a non-empty string")
        queries.append(item["query"])
    if not queries:
        raise ValueError(f"{source}: no queries")
    return queries


def _print_text(out, index, query: str, hits, several: bool, repos: bool) -> None:
    if several:
        out.write(f"== {query}\n")
    if not hits:
        out.write("(no results)\n")
    for hit in hits:
        where = f"{hit.repo}/{hit.path}" if repos else hit.path
        symbol = f"  {hit.symbol}" if hit.symbol else ""
        out.write(f"{where}:{hit.start_line}-{hit.end_line}{symbol}  [{hit.language}, {hit.score:.3f}]\n")
        lines = [ln for ln in index.chunk_text(hit).splitlines() if ln.strip()][:SNIPPET_LINES]
        for line in lines:
            out.write(f"    {line[:116]}\n")
    if several:
        out.write("\n")
