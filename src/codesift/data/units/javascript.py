"""JavaScript and TypeScript units: functions, classes, methods, and functions bound to a name, with JSDoc."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from codesift.data.units.base import Found, doc_block_above, header, text

_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration"})
_CLASSES = frozenset({"class_declaration", "abstract_class_declaration"})
_VALUES = frozenset({"arrow_function", "function_expression", "generator_function"})  # functions bound to a name
_FIELDS = frozenset({"field_definition", "public_field_definition"})  # `handler = () => {...}` in a class
_VARIABLES = frozenset({"lexical_declaration", "variable_declaration"})
# Statements that can hold definitions without making them nested functions (namespaces, `if (...) {}` blocks).
_CONTAINERS = frozenset(
    {"statement_block", "if_statement", "else_clause", "try_statement", "catch_clause", "finally_clause",
     "internal_module", "module", "ERROR"}
)  # fmt: skip
_SKIP = frozenset({"comment", "decorator"})
_MARKERS = b"/@"
_EXPORTS = ("exports", "module.exports")


def find_units(root: Node, src: bytes) -> Iterator[Found]:
    for child in root.children:
        yield from _statement(src, child, child)


def _statement(src: bytes, first: Node, node: Node) -> Iterator[Found]:
    """`first`: where the unit's code starts, the export statement wrapping `node` if there is one."""
    kind = node.type
    if kind == "export_statement":
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            yield from _statement(src, first, declaration)
    elif kind in _FUNCTIONS or (kind in _VALUES and node.parent.type == "ERROR"):
        # Error recovery can turn `function f() {}` after broken code into a function expression.
        name = node.child_by_field_name("name")
        if name is not None and not node.has_error:
            yield _unit(src, first, node, node, text(src, name), "function", None)
    elif kind in _CLASSES:
        yield from _class(src, first, node)
    elif kind in _VARIABLES:
        yield from _variables(src, first, node)
    elif kind == "expression_statement":
        inner = node.named_children[0] if node.named_child_count else None
        if inner is not None and inner.type == "internal_module":  # `namespace NS { ... }`
            yield from _statement(src, inner, inner)
        elif inner is not None and inner.type == "assignment_expression":
            yield from _assignment(src, node, inner)
    elif kind in _CONTAINERS:
        for child in node.children:
            yield from _statement(src, child, child)


def _class(src: bytes, first: Node, node: Node) -> Iterator[Found]:
    name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
    if name is None or body is None:
        return
    cls = text(src, name)
    if not node.has_error:
        yield _unit(src, first, node, body, cls, "class", None)
    for member in body.named_children:
        if member.has_error:
            continue
        if member.type == "method_definition":
            yield _unit(src, member, member, member, text(src, member.child_by_field_name("name")), "method", cls)
        elif member.type in _FIELDS:
            value = member.child_by_field_name("value")
            if value is not None and value.type in _VALUES:
                field = member.child_by_field_name("property") or member.child_by_field_name("name")
                yield _unit(src, member, member, value, text(src, field), "method", cls)


def _variables(src: bytes, first: Node, node: Node) -> Iterator[Found]:
    """`const f = (x) => ...`: the whole declaration is the unit's code unless it declares several names."""
    declarators = [d for d in node.named_children if d.type == "variable_declarator"]
    for declarator in declarators:
        name, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
        if name is None or name.type != "identifier" or value is None or value.type not in _VALUES:
            continue
        if declarator.has_error:
            continue
        if len(declarators) == 1:
            yield _unit(src, first, node, value, text(src, name), "function", None)
        else:
            yield _unit(src, declarator, declarator, value, text(src, name), "function", None)


def _assignment(src: bytes, statement: Node, assignment: Node) -> Iterator[Found]:
    """CommonJS and pre-class idioms: `exports.f = function`, `module.exports.f = ...`, `A.prototype.m = ...`,
    and `module.exports = function f() {}`."""
    if statement.has_error:
        return
    left, value = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
    if left is None or left.type != "member_expression" or value is None or value.type not in _VALUES:
        return
    owner, name = text(src, left.child_by_field_name("object")), text(src, left.child_by_field_name("property"))
    own_name = value.child_by_field_name("name")
    if text(src, left) == "module.exports" and own_name is not None:
        yield _unit(src, statement, statement, value, text(src, own_name), "function", None)
    elif owner in _EXPORTS:
        yield _unit(src, statement, statement, value, name, "function", None)
    elif owner.endswith(".prototype"):
        yield _unit(src, statement, statement, value, name, "method", owner.removesuffix(".prototype"))


def _unit(src: bytes, first: Node, last: Node, function: Node, symbol: str, kind: str, parent: str | None) -> Found:
    """`function`: the node whose `body` ends the signature (a class: its body)."""
    body = function if function.type == "class_body" else function.child_by_field_name("body")
    signature = header(src, last if first.type == "export_statement" else first, body.start_byte, _SKIP, _MARKERS)
    first = _decorated_start(first)
    return Found(symbol, kind, parent, first, last, signature, doc_block_above(src, first.prev_sibling, first, "comment"))


def _decorated_start(node: Node) -> Node:
    """Class members' decorators are siblings before them; they belong to the member's code."""
    while (previous := node.prev_named_sibling) is not None and previous.type == "decorator":
        node = previous
    return node
