"""`codesift mcp [PATH...]`: semantic code search as tools for coding agents, over the Model Context Protocol.

An agent's MCP client starts `codesift mcp` and talks to it over stdin/stdout (stdio transport). The tools answer
from the same cached, incrementally updated index as `codesift search` (one per set of folders and encoder, in the
cache folder), so an agent and a developer in the same checkout share one index:

- `search`: the chunks closest to a query (or, with `files`, the files), each with path, lines, symbol, language,
  score and its first lines; filters by language and path glob.
- `index_status`: whether the folders are indexed, and the index's counts and settings; changes nothing.
- `index_update`: bring the index up to date with the files (only changed chunks are embedded), or rebuild it.

Folders default to the PATHs given to `codesift mcp`, else the folder it was started in. The encoder loads once, on
the first call. Bad arguments and missing folders come back as tool errors naming the problem; logs go to stderr,
never into the protocol on stdout.
"""

from __future__ import annotations

import argparse
import threading
from typing import Annotated, Any

from pydantic import Field

from codesift.index.commands import (
    add_model_args, index_dir, load_model, open_and_update, quiet_libraries, resolve_paths,
)

MAX_TOP_K = 100
SNIPPET_LINES = 12  # of each chunk's text in a result: enough for an agent to judge a hit without opening the file

PathsArg = Annotated[list[str] | None, Field(
    description="code folders or files to search (default: the folders the server was started with)")]


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Serve semantic code search to a coding agent over the Model Context Protocol (stdio): tools "
                     "search, index_status and index_update, answering from the index `codesift search` caches.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="folders the tools search when a call names none (default: the current folder)")
    add_model_args(p)


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    roots = [str(p) for p in resolve_paths(args.paths or ([] if args.index else ["."]))]
    build_server(roots, args.model, args.index, args.cache_dir).run("stdio")
    return 0


class SearchTools:
    """What the tools share: the default folders, the encoder and the open indexes (kept between calls, as the warm
    search server keeps them: `search_server.Warm`), and one lock, so calls that arrive together update an index one
    at a time."""

    def __init__(self, default_paths: list[str], model: str | None, index: str | None, cache_dir: str | None):
        from codesift.index.search_server import Warm

        self.default_paths = default_paths
        self.model = model
        self.locations = argparse.Namespace(index=index, cache_dir=cache_dir)  # what index_dir reads
        self._warm = Warm()
        self._lock = threading.Lock()

    @property
    def encoder(self):
        return self._warm.encoder(self.model, load_model)

    def open(self, paths: list[str] | None, *, rebuild: bool = False):
        """The index of `paths` (default: the server's folders) brought up to date, as `codesift search` does;
        with the update's report when `rebuild` (or a first build) made one."""
        roots = resolve_paths(paths or self.default_paths)
        with self._lock:
            directory = index_dir(self.locations, roots, self.encoder)
            if rebuild:
                index, report = open_and_update(directory, roots, self.encoder, rebuild=True)
                self._warm.indexes[directory] = index
                return index, report
            return self._warm.index(directory, roots, self.encoder, True, open_and_update)

    def search(self, query: str, paths: list[str] | None, top_k: int, languages: list[str] | None,
               globs: list[str] | None, files: bool) -> dict[str, Any]:
        from codesift.index.code_index import Filters
        from codesift.ranking import search

        if not query.strip():
            raise ValueError("query is blank: give words or an identifier to search for")
        index, _ = self.open(paths)
        filters = Filters(languages=tuple(languages or ()), paths=tuple(globs or ()))
        (hits,) = search(index, [query], top_k, encoder=self.encoder, filters=filters or None, files=files)
        results = [hit.to_json() | {"snippet": _snippet(index.chunk_text(hit))} for hit in hits]
        return {"query": query, "index": str(index.directory), ("files" if files else "results"): results}

    def status(self, paths: list[str] | None) -> dict[str, Any]:
        from codesift.index.code_index import CodeIndex
        from codesift.index.store import IndexNotFoundError

        roots = resolve_paths(paths or self.default_paths)
        directory = index_dir(self.locations, roots, self.encoder)
        try:
            stats = CodeIndex.open(directory, encoder=self.encoder, verify=False).stats()
        except IndexNotFoundError:
            return {"indexed": False, "index": str(directory), "roots": [str(r) for r in roots]}
        return {"indexed": True, "index": str(directory)} | {k: stats[k] for k in STATUS_FIELDS}

    def update(self, paths: list[str] | None, rebuild: bool) -> dict[str, Any]:
        index, report = self.open(paths, rebuild=rebuild)
        return {"index": str(index.directory), "chunks": len(index.chunks), "files": index.indexed_files,
                **report.to_json()}


STATUS_FIELDS = ("generation", "roots", "files", "files_skipped", "chunks", "languages", "encoder", "disk_bytes")


def _snippet(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:SNIPPET_LINES]) + ("\n..." if len(lines) > SNIPPET_LINES else "")


def build_server(default_paths: list[str], model: str | None = None, index: str | None = None,
                 cache_dir: str | None = None):
    """The MCP server with its three tools; `default_paths` are searched when a call names no paths."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    tools = SearchTools(default_paths, model, index, cache_dir)
    server = MCPServer("codesift", instructions=(
        "Semantic code search over local folders: ask `search` in words ('where are retries with backoff "
        "configured') or with an identifier; results give path, line span and symbol, best first. The index "
        "updates itself before each search; the first search of a large folder takes longer."))

    def answer(call, *args):
        try:
            return call(*args)
        except (FileNotFoundError, ValueError, TimeoutError) as e:  # the index's own errors are among these
            raise ToolError(str(e)) from None

    @server.tool(description="Search code by meaning: the chunks (functions, classes, windows of lines) closest "
                             "to the query, best first; with files=true, the files, each by its best chunk.")
    def search(
        query: Annotated[str, Field(min_length=1, description="what to find, in words or as an identifier")],
        paths: PathsArg = None,
        top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K, description="number of results")] = 10,
        languages: Annotated[list[str] | None, Field(description="keep these languages, e.g. ['python', 'go']")] =
        None,
        globs: Annotated[list[str] | None, Field(description="keep paths matching one glob, e.g. ['src/*', '*.py']")]
        = None,
        files: Annotated[bool, Field(description="rank files instead of chunks")] = False,
    ) -> dict[str, Any]:
        return answer(tools.search, query, paths, top_k, languages, globs, files)

    @server.tool(description="Whether the folders are indexed, with the index's files, chunks, languages and "
                             "encoder; reads only, updates nothing.")
    def index_status(paths: PathsArg = None) -> dict[str, Any]:
        return answer(tools.status, paths)

    @server.tool(description="Bring the folders' index up to date with the files on disk (only changed code is "
                             "embedded again); rebuild=true re-embeds everything.")
    def index_update(paths: PathsArg = None,
                     rebuild: Annotated[bool, Field(description="start the index from scratch")] = False,
                     ) -> dict[str, Any]:
        return answer(tools.update, paths, rebuild)

    return server
