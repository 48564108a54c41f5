"""Python units: functions, methods (async and decorated too) and classes, with docstrings split from bodies."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator

from tree_sitter import Node

from codesift.data.units.base import Found, header, line_cut, text

# Statements that can hold definitions without making them nested functions (`if TYPE_CHECKING:`, `try: import`).
_CONTAINERS = frozenset(
    {"block", "if_statement", "elif_clause", "else_clause", "try_statement", "except_clause",
     "except_group_clause", "finally_clause", "with_statement", "ERROR"}
)  # fmt: skip
_SKIP = frozenset({"comment"})


def find_units(root: Node, src: bytes) -> Iterator[Found]:
    yield from _walk(root, src, None)


def _walk(node: Node, src: bytes, cls: str | None) -> Iterator[Found]:
    """`cls`: the qualified name of the class whose body this is, if any."""
    for first in node.children:
        unit = first.child_by_field_name("definition") if first.type == "decorated_definition" else first
        if unit is None:
            continue
        kind = unit.type
        if kind == "function_definition":
            if not unit.has_error:
                yield _unit(src, first, unit, "method" if cls else "function", cls)
        elif kind == "class_definition":
            name, body = unit.child_by_field_name("name"), unit.child_by_field_name("body")
            if name is None or body is None:
                continue
            if not unit.has_error:
                yield _unit(src, first, unit, "class", cls)
            yield from _walk(body, src, f"{cls}.{text(src, name)}" if cls else text(src, name))
        elif kind in _CONTAINERS:
            yield from _walk(unit, src, cls)


def _unit(src: bytes, first: Node, unit: Node, kind: str, parent: str | None) -> Found:
    body = unit.child_by_field_name("body")
    signature = header(src, unit, body.start_byte, _SKIP, b"#").removesuffix(":").rstrip()
    doc, cuts = _docstring(src, body)
    return Found(text(src, unit.child_by_field_name("name")), kind, parent, first, unit, signature, doc, cuts)


def _docstring(src: bytes, body: Node) -> tuple[str, tuple[tuple[int, int, bytes], ...]]:
    """The first statement's string, cleaned, and the cut that removes that statement from the body."""
    statement = _next_statement(body.named_child(0) if body.named_child_count else None)
    if statement is None or statement.type != "expression_statement" or statement.named_child_count != 1:
        return "", ()
    literal = statement.named_child(0)
    if literal.type not in ("string", "concatenated_string"):
        return "", ()
    raw = text(src, literal)
    prefix = raw[: len(raw) - len(raw.lstrip("rRuUbBfFtT"))].lower()
    if "b" in prefix or "f" in prefix or "t" in prefix:  # bytes and f/t-strings are not docstrings
        return "", ()
    value = _string_value(raw, literal.type == "string", prefix)
    if _next_statement(statement.next_named_sibling) is None:  # a docstring-only body still needs a statement
        return inspect.cleandoc(value), (line_cut(src, statement.start_byte, statement.end_byte, b"..."),)
    return inspect.cleandoc(value), (_statement_cut(src, statement),)


def _next_statement(node: Node | None) -> Node | None:
    """`node` or the first statement after it, skipping comments (bodies can be long: no child lists)."""
    while node is not None and node.type == "comment":
        node = node.next_named_sibling
    return node


def _string_value(raw: str, single: bool, prefix: str) -> str:
    """The literal's value; ast is only needed for escapes and implicit concatenation (it costs ~30 us)."""
    if single and ("\\" not in raw or "r" in prefix):
        quoted = raw[len(prefix) :]
        quote = 3 if quoted[:3] in ('"""', "'''") else 1
        return quoted[quote:-quote]
    try:
        return ast.literal_eval(raw)
    except (SyntaxError, ValueError):  # e.g. a string tree-sitter accepts but Python does not
        return raw


def _statement_cut(src: bytes, statement: Node) -> tuple[int, int, bytes]:
    """Remove the docstring statement, and a ';' after it when other code shares its line."""
    start, end = statement.start_byte, statement.end_byte
    after = src[end : end + 64]
    rest = after.lstrip(b" \t")
    if rest.startswith(b";"):
        end += len(after) - len(rest[1:].lstrip(b" \t"))
    return line_cut(src, start, end)
