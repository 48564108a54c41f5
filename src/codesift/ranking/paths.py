"""What a file's path says about it: tests, examples, vendored, generated and compatibility code are rarely what a
search means, so they are weighted down (never hidden: a query for a test still finds it)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import PurePosixPath

_TEST_FOLDERS = frozenset({"test", "tests", "__tests__", "testing", "testdata", "spec", "specs", "e2e"})
_TEST_FILE = re.compile(
    r"^(test_.*|.*_test|.*_spec|conftest)\.\w+$"  # Python, Go, Ruby, C, Lua
    r"|\.(test|spec)\.[cm]?[jt]sx?$"  # JavaScript / TypeScript
    r"|^.*(Tests?|Spec|Suite|IT)\.(java|kt|scala|swift|cs|php)$"  # JVM, Swift, C#, PHP
)
_EXAMPLE_FOLDERS = frozenset({"example", "examples", "_examples", "sample", "samples", "demo", "demos", "docs_src",
                              "benchmark", "benchmarks", "bench", "fixtures", "fixture"})
_VENDORED_FOLDERS = frozenset({"vendor", "vendored", "_vendor", "third_party", "thirdparty", "external", "deps"})
_COMPAT = re.compile(r"(^|[._-])(compat|legacy|deprecated|polyfills?|shims?)([._-]|$)")
_GENERATED_FILE = re.compile(r"(\.min\.[cm]?js|\.pb\.go|_pb2\.py|\.generated\.\w+|\.g\.dart|_generated\.\w+|\.d\.ts)$")


@lru_cache(maxsize=65536)
def path_kind(path: str) -> str:
    """'test', 'example', 'vendored', 'generated', 'compat' or '' for ordinary source."""
    *folders, name = path.split("/")
    lowered = [f.lower() for f in folders]
    if _TEST_FILE.search(name) or any(f in _TEST_FOLDERS for f in lowered):
        return "test"
    if any(f in _EXAMPLE_FOLDERS for f in lowered):
        return "example"
    if any(f in _VENDORED_FOLDERS for f in lowered):
        return "vendored"
    if _GENERATED_FILE.search(name):
        return "generated"
    if _COMPAT.search(PurePosixPath(name).stem.lower()) or any(_COMPAT.search(f) for f in lowered):
        return "compat"
    return ""
