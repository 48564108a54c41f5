"""Source files -> CodeUnits (tree-sitter), Markdown -> DocSections: the extraction step's public entry points."""

from __future__ import annotations

import re
from dataclasses import dataclass

from codesift.data.doccomments import doc_summary
from codesift.data.languages import grammar_for
from codesift.data.markdown import split_markdown
from codesift.data.units import go, java, javascript, python, rust
from codesift.data.units.base import Found, parser
from codesift.records import CodeUnit

__all__ = ["Extraction", "doc_summary", "extract_file", "extract_units", "is_test_path", "split_markdown"]

_FINDERS = {
    "python": python.find_units,
    "javascript": javascript.find_units,
    "typescript": javascript.find_units,
    "go": go.find_units,
    "java": java.find_units,
    "rust": rust.find_units,
}
_TEST_DIRS = frozenset({"test", "tests", "testsuite", "__tests__", "testdata"})
_TEST_FILE = re.compile(r"^test_.*\.py$|_test\.(py|go)$|\.(test|spec)\.[cm]?[jt]sx?$")


@dataclass
class Extraction:
    units: list[CodeUnit]
    syntax_errors: bool  # the file did not fully parse; units overlapping broken code were left out


def extract_file(text: str, language: str, *, repo: str, path: str, license: str | None) -> Extraction:
    """Parse once and cut out every well-formed function, method and class, with whether the parse had errors."""
    src = text.encode("utf-8", "surrogatepass")  # byte spans index this; surrogates survive for round trips
    root = parser(grammar_for(language, path)).parse(src).root_node
    test_file = is_test_path(path)
    units = [_unit(found, src, language, repo, path, license, test_file) for found in _FINDERS[language](root, src)]
    return Extraction(units, root.has_error)


def extract_units(text: str, language: str, *, repo: str, path: str, license: str | None) -> list[CodeUnit]:
    """The functions, methods and classes of one file (see extract_file for the parse-error flag)."""
    return extract_file(text, language, repo=repo, path=path, license=license).units


def is_test_path(path: str) -> bool:
    """Test files by name (test_x.py, x_test.go, x.spec.ts) or by folder (tests/, testsuite/, __tests__/, Java's
    src/test/); a `testing/` package is library code (numpy.testing)."""
    *folders, name = path.split("/")
    return bool(_TEST_FILE.search(name)) or any(folder in _TEST_DIRS for folder in folders)


def _unit(
    found: Found, src: bytes, language: str, repo: str, path: str, license: str | None, test_file: bool
) -> CodeUnit:
    start, end = found.first.start_byte, found.last.end_byte
    code = src[start:end].decode("utf-8", "surrogatepass")
    body = code
    if found.cuts:
        pieces, at = [], start
        for cut_start, cut_end, replacement in found.cuts:
            pieces += [src[at:cut_start], replacement]
            at = cut_end
        pieces.append(src[at:end])
        body = b"".join(pieces).decode("utf-8", "surrogatepass")
    end_point = found.last.end_point
    ends_on_newline = end_point.column == 0 and end_point.row > found.first.start_point.row
    end_line = end_point.row if ends_on_newline else end_point.row + 1
    return CodeUnit(
        repo=repo,
        path=path,
        language=language,
        license=license,
        symbol=found.symbol,
        kind=found.kind,
        parent=found.parent,
        signature=found.signature,
        doc=found.doc,
        body=body,
        code=code,
        start_line=found.first.start_point.row + 1,
        end_line=end_line,
        start_byte=start,
        end_byte=end,
        is_test=test_file or found.is_test,
    )
