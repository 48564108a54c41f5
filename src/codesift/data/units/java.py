"""Java units: classes, interfaces, enums and records (as classes), methods and constructors, with Javadoc."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from codesift.data.units.base import Found, doc_block_above, header, text

_CLASSES = frozenset(
    {"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
     "annotation_type_declaration"}
)  # fmt: skip
_METHODS = frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"})
# Member lists; enum_body_declarations holds an enum's methods after its constants.
_BODIES = frozenset({"enum_body_declarations", "ERROR"})
_ANNOTATIONS = frozenset({"marker_annotation", "annotation"})
_SKIP = frozenset({"line_comment", "block_comment"}) | _ANNOTATIONS
_MARKERS = b"/@"
_TEST_ANNOTATIONS = frozenset({"Test", "ParameterizedTest", "RepeatedTest", "TestFactory", "TestTemplate"})


def find_units(root: Node, src: bytes) -> Iterator[Found]:
    yield from _members(src, root, None)


def _members(src: bytes, body: Node, cls: str | None) -> Iterator[Found]:
    """`cls`: the qualified name of the class whose body this is ('Outer.Inner')."""
    for node in body.named_children:
        kind = node.type
        if kind in _CLASSES:
            name, members = node.child_by_field_name("name"), node.child_by_field_name("body")
            if name is None or members is None:
                continue
            if not node.has_error:
                yield _unit(src, node, members, text(src, name), "class", cls)
            yield from _members(src, members, f"{cls}.{text(src, name)}" if cls else text(src, name))
        elif kind in _METHODS:
            body = node.child_by_field_name("body")
            if body is not None and not node.has_error:  # abstract and interface methods have no body to learn
                yield _unit(src, node, body, text(src, node.child_by_field_name("name")), "method", cls)
        elif kind in _BODIES:
            yield from _members(src, node, cls)


def _unit(src: bytes, node: Node, body: Node, symbol: str, kind: str, parent: str | None) -> Found:
    signature = header(src, node, body.start_byte, _SKIP, _MARKERS)
    doc = doc_block_above(src, node.prev_named_sibling, node, "block_comment")
    return Found(symbol, kind, parent, node, node, signature, doc, is_test=_is_junit_test(src, node))


def _is_junit_test(src: bytes, node: Node) -> bool:
    modifiers = next((c for c in node.children if c.type == "modifiers"), None)
    if modifiers is None:
        return False
    for annotation in modifiers.named_children:
        if annotation.type in _ANNOTATIONS:
            name = text(src, annotation.child_by_field_name("name"))
            if name.rpartition(".")[2] in _TEST_ANNOTATIONS:
                return True
    return False
