"""Go units: functions, methods (parent: the receiver's type), and struct/interface types as classes."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from codesift.data.doccomments import line_doc
from codesift.data.units.base import Found, adjacent, header, text

_SKIP = frozenset({"comment"})
_MARKERS = b"/"
_TYPE_BODIES = {"struct_type": "field_declaration_list", "interface_type": "{"}


def find_units(root: Node, src: bytes) -> Iterator[Found]:
    for node in root.children:
        kind = node.type
        if kind in ("function_declaration", "method_declaration"):
            body = node.child_by_field_name("body")
            if body is None or node.has_error:  # no body: implemented in assembly
                continue
            signature = header(src, node, body.start_byte, _SKIP, _MARKERS)
            receiver = _receiver_type(src, node) if kind == "method_declaration" else None
            symbol = text(src, node.child_by_field_name("name"))
            yield Found(symbol, "method" if receiver else "function", receiver, node, node, signature, _doc(src, node))
        elif kind == "type_declaration":
            grouped = any(c.type == "(" for c in node.children)
            for spec in node.named_children:
                if spec.type == "type_spec":
                    # `type X struct{}` alone: the declaration is the unit; in a `type (...)` group, each spec is.
                    yield from _type(src, spec if grouped else node, spec)


def _type(src: bytes, unit: Node, spec: Node) -> Iterator[Found]:
    shape = spec.child_by_field_name("type")
    if shape is None or shape.type not in _TYPE_BODIES or unit.has_error:
        return
    body = next((c for c in shape.children if c.type == _TYPE_BODIES[shape.type]), shape)
    signature = header(src, unit, body.start_byte, _SKIP, _MARKERS)
    if unit is spec:
        signature = "type " + signature
    yield Found(text(src, spec.child_by_field_name("name")), "class", None, unit, unit, signature, _doc(src, unit))


def _receiver_type(src: bytes, method: Node) -> str | None:
    """`func (s *Stack[T]) Push(...)` -> 'Stack'."""
    receiver = method.child_by_field_name("receiver")
    parameter = next((c for c in receiver.named_children if c.type == "parameter_declaration"), None)
    if parameter is None:
        return None
    kind = parameter.child_by_field_name("type")
    while kind is not None and kind.type in ("pointer_type", "generic_type", "parenthesized_type"):
        kind = kind.child_by_field_name("type") if kind.type == "generic_type" else kind.named_children[0]
    return text(src, kind) if kind is not None else None


def _doc(src: bytes, node: Node) -> str:
    """The `//` lines right above the declaration, as go doc reads them."""
    lines, below = [], node
    while (comment := below.prev_sibling) is not None and comment.type == "comment" and adjacent(src, comment, below):
        raw = text(src, comment)
        if not raw.startswith("//"):
            break
        lines.append(raw)
        below = comment
    return line_doc(lines[::-1], "//") if lines else ""
