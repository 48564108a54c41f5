"""What every language's unit finder shares: cached parsers, the `Found` record, header and doc helpers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from codesift.data.doccomments import block_doc

_GRAMMARS = {
    "python": tree_sitter_python.language,
    "javascript": tree_sitter_javascript.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "tsx": tree_sitter_typescript.language_tsx,
    "go": tree_sitter_go.language,
    "java": tree_sitter_java.language,
    "rust": tree_sitter_rust.language,
}


@dataclass
class Found:
    """A unit located in the tree; extract.py cuts its text out of the source bytes."""

    symbol: str
    kind: str  # function | method | class
    parent: str | None
    first: Node  # the code starts here (decorators, attributes, `export` included)
    last: Node  # and ends here
    signature: str
    doc: str = ""
    cuts: tuple[tuple[int, int, bytes], ...] = ()  # (start, end, replacement) byte edits taking the doc out of the body
    is_test: bool = False


@cache
def parser(grammar: str) -> Parser:
    """One parser per grammar and process: building a Language is not free."""
    return Parser(Language(_GRAMMARS[grammar]()))


def text(src: bytes, node: Node) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


def header(src: bytes, node: Node, end: int, skip: frozenset[str], markers: bytes) -> str:
    """`node`'s source up to byte `end`, one line, without the `skip` node types (comments, annotations).

    Looking for skipped nodes costs a subtree walk, so it only happens when one of `markers` (e.g. b'#/@') shows up.
    """
    start = node.start_byte
    raw = src[start:end]
    if any(m in raw for m in markers):
        pieces, at = [], start
        for s, e in _spans(node, end, skip):
            pieces.append(src[at:s])
            at = e
        raw = b" ".join(pieces) + b" " + src[at:end] if pieces else raw
    one_line = " ".join(raw.decode("utf-8", "surrogatepass").split())
    return one_line.replace("( ", "(").replace("[ ", "[").replace(" )", ")").replace(" ]", "]")


def _spans(node: Node, end: int, skip: frozenset[str]) -> list[tuple[int, int]]:
    found, stack = [], [node]
    while stack:
        for child in reversed(stack.pop().children):
            if child.start_byte >= end:
                continue
            if child.type in skip:
                found.append((child.start_byte, min(child.end_byte, end)))
            elif child.child_count:
                stack.append(child)
    return sorted(found)


def adjacent(src: bytes, above: Node, below: Node) -> bool:
    """No blank line between the two nodes: a comment separated by one documents something else (a file header)."""
    return src.count(b"\n", above.end_byte, below.start_byte) <= 1


def line_cut(src: bytes, start: int, end: int, replacement: bytes = b"") -> tuple[int, int, bytes]:
    """A cut of bytes start..end, widened to whole lines when nothing else shares them (keeps indentation valid)."""
    line_start = src.rfind(b"\n", 0, start) + 1
    line_end = end if src[end - 1 : end] == b"\n" else src.find(b"\n", end) + 1 or len(src)
    if not replacement and not src[line_start:start].strip() and not src[end:line_end].strip():
        return line_start, line_end, b""
    return start, end, replacement


def doc_block_above(src: bytes, comment: Node | None, node: Node, comment_type: str) -> str:
    """The `/** ... */` comment right above `node` (Javadoc, JSDoc), cleaned; '' when there is none."""
    if comment is None or comment.type != comment_type or not adjacent(src, comment, node):
        return ""
    raw = text(src, comment)
    return block_doc(raw) if raw.startswith("/**") and raw != "/**/" else ""
