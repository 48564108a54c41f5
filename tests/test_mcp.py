"""`codesift mcp`: the tools through the official MCP client, in process and over stdio (weightless hashing encoder)."""

import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from codesift.index.mcp_server import build_server  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "repo_search" / "code"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIFT_CACHE", str(tmp_path / "cache"))
    return Path(shutil.copytree(FIXTURE, tmp_path / "code"))


def session(server, calls):
    """Run `calls(client)` against `server` in one client session; returns what it returns."""
    async def main():
        async with Client(server) as client:
            return await calls(client)

    return anyio.run(main)


def test_tools_are_listed_with_their_arguments(repo):
    async def calls(client):
        return (await client.list_tools()).tools

    tools = {t.name: t for t in session(build_server([str(repo)], "hash:64"), calls)}
    assert set(tools) == {"search", "index_status", "index_update"}
    schema = tools["search"].input_schema
    assert set(schema["properties"]) == {"query", "paths", "top_k", "languages", "globs", "files"}
    assert schema["required"] == ["query"]


def test_search_finds_the_right_file_first_and_updates_the_cached_index(repo):
    async def calls(client):
        before = await client.call_tool("index_status", {})
        chunks = await client.call_tool("search", {"query": "reverse a string", "top_k": 3})
        files = await client.call_tool("search", {"query": "reverse a string", "files": True, "top_k": 2})
        python = await client.call_tool("search", {"query": "reverse a string", "languages": ["python"]})
        (repo / "solid.py").write_text("def cube_volume(side):\n    return side ** 3\n")
        fresh = await client.call_tool("search", {"query": "cube_volume", "top_k": 1, "paths": [str(repo)]})
        after = await client.call_tool("index_status", {"paths": [str(repo)]})
        return before, chunks, files, python, fresh, after

    before, chunks, files, python, fresh, after = session(build_server([str(repo)], "hash:64"), calls)
    assert not before.is_error and before.structured_content["indexed"] is False
    assert not chunks.is_error
    results = chunks.structured_content["results"]
    assert len(results) == 3
    assert (results[0]["path"], results[0]["symbol"]) == ("web/slugify.js", "reverseString")
    assert "reverseString" in results[0]["snippet"]
    ranked = files.structured_content["files"]
    assert ranked[0]["path"] == "web/slugify.js" and len({f["path"] for f in ranked}) == len(ranked) == 2
    assert {r["language"] for r in python.structured_content["results"]} == {"python"}
    assert fresh.structured_content["results"][0]["path"] == "solid.py"  # the index followed the new file
    status = after.structured_content
    assert status["indexed"] is True and status["files"] == 4 and status["generation"] >= 2
    assert status["index"] == chunks.structured_content["index"]  # one cached index for the same folders


def test_bad_arguments_are_tool_errors_that_name_the_problem(repo):
    async def calls(client):
        return [await client.call_tool("search", args) for args in (
            {"query": "x", "top_k": 0}, {"query": "   "}, {"query": "x", "paths": [str(repo / "missing")]}, {},
        )]

    zero, blank, missing, no_query = session(build_server([str(repo)], "hash:64"), calls)
    assert all(r.is_error for r in (zero, blank, missing, no_query))
    assert "top_k" in zero.content[0].text
    assert "query is blank" in blank.content[0].text
    assert f"{repo / 'missing'}: no such file or folder" in missing.content[0].text
    assert "query" in no_query.content[0].text


def test_index_update_and_rebuild(repo):
    async def calls(client):
        return (await client.call_tool("index_update", {}), await client.call_tool("index_update", {"rebuild": True}))

    first, rebuilt = session(build_server([str(repo)], "hash:64"), calls)
    assert first.structured_content["files_added"] == 3 and first.structured_content["chunks"] > 0
    assert rebuilt.structured_content["chunks_embedded"] == first.structured_content["chunks_embedded"]


def test_codesift_mcp_serves_over_stdio(repo, tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "CODESIFT_CACHE": str(tmp_path / "cache")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "codesift.cli", "mcp", "--model", "hash:64"],
                                   env=env, cwd=str(repo))

    async def calls(client):
        tools = (await client.list_tools()).tools
        return tools, await client.call_tool("search", {"query": "area of a circle radius", "top_k": 1})

    tools, found = session(params, calls)
    assert {t.name for t in tools} == {"search", "index_status", "index_update"}
    assert not found.is_error and found.structured_content["results"][0]["symbol"] == "circle_area"
