"""Rust units: free functions, methods in impl and trait blocks, and structs/enums/unions/traits as classes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from codesift.data.doccomments import block_doc, line_doc
from codesift.data.units.base import Found, header, line_cut, text

_CLASSES = frozenset({"struct_item", "enum_item", "union_item", "trait_item"})
_BLOCKS = frozenset({"block", "field_declaration_list", "enum_variant_list", "declaration_list"})  # end headers
_SKIP = frozenset({"line_comment", "block_comment", "attribute_item"})
_MARKERS = b"/#"
_TEST_ATTRIBUTES = frozenset({"test", "rstest", "test_case"})


@dataclass(frozen=True)
class _Scope:
    parent: str | None = None  # the impl's self type or the trait
    trait_impl: str = ""  # 'impl fmt::Display for Point' when inside a trait impl
    in_tests: bool = False  # inside a #[cfg(test)] module


def find_units(root: Node, src: bytes) -> Iterator[Found]:
    yield from _items(src, root, _Scope())


def _items(src: bytes, block: Node, scope: _Scope) -> Iterator[Found]:
    for node in block.named_children:
        kind = node.type
        if kind == "function_item":
            if not node.has_error:
                yield _function(src, node, scope)
        elif kind in _CLASSES:
            if node.child_by_field_name("name") is None:
                continue
            name = text(src, node.child_by_field_name("name"))
            if not node.has_error:
                yield _unit(src, node, name, "class", None, _header(src, node), scope)
            if kind == "trait_item" and node.child_by_field_name("body") is not None:
                yield from _items(src, node.child_by_field_name("body"), _Scope(name, "", scope.in_tests))
        elif kind == "impl_item":
            body = node.child_by_field_name("body")
            if body is not None and node.child_by_field_name("type") is not None:
                trait_impl = _header(src, node) if node.child_by_field_name("trait") is not None else ""
                yield from _items(src, body, _Scope(_type_name(src, node), trait_impl, scope.in_tests))
        elif kind == "mod_item":
            body = node.child_by_field_name("body")
            if body is not None:
                tests = scope.in_tests or "cfg(test)" in _leading(src, node)[2]
                yield from _items(src, body, _Scope(None, "", tests))
        elif kind == "ERROR":
            yield from _items(src, node, scope)


def _function(src: bytes, node: Node, scope: _Scope) -> Found:
    signature = _header(src, node)
    if scope.trait_impl:
        signature = f"{scope.trait_impl} {{ {signature} }}"
    kind = "method" if scope.parent else "function"
    return _unit(src, node, text(src, node.child_by_field_name("name")), kind, scope.parent, signature, scope)


def _unit(src: bytes, node: Node, symbol: str, kind: str, parent: str | None, signature: str, scope: _Scope) -> Found:
    """Attributes above the item are part of its code; doc comments among them are cut from its body."""
    first, docs, attributes = _leading(src, node)
    cuts = tuple(line_cut(src, d.start_byte, d.end_byte) for d in docs if d.start_byte > first.start_byte)
    test = scope.in_tests or any(_is_test_attribute(a) for a in attributes)
    return Found(symbol, kind, parent, first, node, signature, _doc_text(src, docs), cuts, test)


def _leading(src: bytes, node: Node) -> tuple[Node, list[Node], list[str]]:
    """The attributes and outer doc comments above `node`: (first attribute or node, docs, attribute contents).

    Attribute contents come whitespace-free: 'test', 'cfg(test)', 'tokio::test'.
    """
    first, docs, attributes = node, [], []
    below = node
    while (previous := below.prev_named_sibling) is not None:
        if previous.type == "attribute_item":
            first = previous
            attributes.append("".join(text(src, previous)[2:-1].split()))
        elif _is_doc(src, previous):
            docs.append(previous)
        else:
            break
        below = previous
    return first, docs[::-1], attributes


def _header(src: bytes, node: Node) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.type in _BLOCKS else node.end_byte
    return header(src, node, end, _SKIP, _MARKERS).removesuffix(";")


def _type_name(src: bytes, impl: Node) -> str:
    """`impl<T> Stack<T>` -> 'Stack'."""
    kind = impl.child_by_field_name("type")
    if kind.type == "generic_type":
        kind = kind.child_by_field_name("type")
    return text(src, kind)


def _is_test_attribute(attribute: str) -> bool:
    name = attribute.partition("(")[0]
    return name in _TEST_ATTRIBUTES or name.endswith("::test")


def _is_doc(src: bytes, comment: Node) -> bool:
    """Outer doc comments: `///` (not `////`) and `/** */` (not `/***`); `//!` documents the enclosing module."""
    if comment.type not in ("line_comment", "block_comment"):
        return False
    head = src[comment.start_byte : comment.start_byte + 4]
    return (head[:3] == b"///" and head != b"////") or (head[:3] == b"/**" and head not in (b"/***", b"/**/"))


def _doc_text(src: bytes, docs: list[Node]) -> str:
    """Join `///` runs and `/** */` blocks in source order."""
    parts, run = [], []
    for doc in docs:
        if doc.type == "line_comment":
            run.append(text(src, doc))
            continue
        if run:
            parts.append(line_doc(run, "///"))
            run = []
        parts.append(block_doc(text(src, doc)))
    if run:
        parts.append(line_doc(run, "///"))
    return "\n".join(p for p in parts if p)
