"""Definitions (functions, methods, classes) of the languages search parses beyond the six the corpus extracts.

One table entry per language: its tree-sitter grammar wheel, the node types that are class-like (their members are
methods and their names qualify nested names) and function-like, and how to read a name where the `name` field
is not it. As in the corpus extraction, a definition with a parse error is left out (its lines fall to windows), a
class spans its members (`chunking.definition_spans` cuts it to its header), and function bodies are not searched
for nested definitions. Grammars are imported on first use: a search of a Python repository loads none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import ClassVar

from tree_sitter import Language, Node, Parser


@dataclass(frozen=True)
class Definition:
    symbol: str  # qualified by enclosing classes/modules: 'Sinatra::Base', 'Sinatra::Base.route', 'M.route'
    kind: str  # class | function | method
    start_line: int  # 1-based, inclusive
    end_line: int
    parent: ClassVar[None] = None  # `chunking.definition_spans` reads it as a corpus unit's; `symbol` is qualified


Namer = Callable[[Node, bytes], str | None]
Recognizer = Callable[[Node, bytes], tuple[str, str] | None]  # a node -> (kind, name) when it is a definition


def _text(src: bytes, node: Node | None) -> str | None:
    return " ".join(src[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass").split()) if node else None


def _name_field(node: Node, src: bytes) -> str | None:
    return _text(src, node.child_by_field_name("name"))


@dataclass(frozen=True)
class Grammar:
    wheel: tuple[str, str]  # the grammar package and its function returning the language
    classes: frozenset[str]
    functions: frozenset[str]
    name: Namer = _name_field
    recognize: Recognizer | None = None  # definitions no node type marks (Elixir's `def` calls)
    wrappers: frozenset[str] = frozenset()  # nodes around one definition whose lines are its own (C++ template<>)
    clauses: bool = False  # adjacent definitions of one name are one (Haskell equations, Elixir clauses)
    scope_separator: str = "."  # between a class/module and a class inside it
    member_separator: str = "."  # between a class/module and a function inside it


def _c_name(node: Node, src: bytes) -> str | None:
    """A function's name ends its declarator chain (`*name_of(...)`, `&Foo::get()`); a struct, union, enum or class
    defines something only with a body, and `typedef struct {...} name_t` names it by the typedef."""
    if node.type == "function_definition":
        name = node.child_by_field_name("declarator")
        while name is not None and name.type.endswith("declarator"):
            name = name.child_by_field_name("declarator") or next(reversed(name.named_children), None)
        if name is not None and name.type == "operator_cast":  # `operator bool() const`
            return f"operator {_text(src, name.child_by_field_name('type'))}"
        return _text(src, name)
    if node.child_by_field_name("body") is None:
        return None
    name = node.child_by_field_name("name")
    if name is None and node.parent is not None and node.parent.type == "type_definition":
        name = node.parent.child_by_field_name("declarator")
    return _text(src, name)


def _haskell_name(node: Node, src: bytes) -> str | None:
    """An instance is named by its class and type: `Show Route`."""
    name = _name_field(node, src)
    patterns = node.child_by_field_name("patterns") if node.type == "instance" else None
    return f"{name} {_text(src, patterns)}" if name and patterns else name


def _swift_name(node: Node, src: bytes) -> str | None:
    return _name_field(node, src) or {"init_declaration": "init", "deinit_declaration": "deinit"}.get(node.type)


_ELIXIR_MODULES = frozenset({"defmodule", "defprotocol", "defimpl"})
_ELIXIR_FUNCTIONS = frozenset({"def", "defp", "defmacro", "defmacrop", "defguard", "defguardp", "defdelegate"})


def _elixir_definition(node: Node, src: bytes) -> tuple[str, str] | None:
    """`defmodule A.B do`, `def name(args) when guard do`: calls whose target is one of the def macros.
    `defimpl Proto, for: Type` is named as Elixir names its module, `Proto.Type`."""
    if node.type != "call" or (target := _text(src, node.child_by_field_name("target"))) is None:
        return None
    kind = "class" if target in _ELIXIR_MODULES else "function" if target in _ELIXIR_FUNCTIONS else None
    arguments = next((c for c in node.named_children if c.type == "arguments"), None)
    if kind is None or arguments is None or not arguments.named_child_count:
        return None
    head, *rest = arguments.named_children
    if head.type == "binary_operator":  # `name(args) when guard`
        head = head.child_by_field_name("left")
    if head is not None and head.type == "call":
        head = head.child_by_field_name("target")
    name = _text(src, head)
    if name and target == "defimpl" and (implemented := _keyword(src, rest, "for:")) is not None:
        name = f"{name}.{_text(src, implemented)}"
    return (kind, name) if name else None


def _keyword(src: bytes, arguments: list[Node], key: str) -> Node | None:
    """The value of `key: value` among an Elixir call's arguments."""
    for keywords in arguments:
        for pair in keywords.named_children if keywords.type == "keywords" else ():
            if _text(src, pair.child_by_field_name("key")) == key:
                return pair.child_by_field_name("value")
    return None


_ZIG_CONTAINERS = frozenset({"struct_declaration", "enum_declaration", "union_declaration", "opaque_declaration"})


def _zig_definition(node: Node, src: bytes) -> tuple[str, str] | None:
    """`const Router = struct {...}` is a class; `test "name" {...}` a function named by its string."""
    if node.type == "test_declaration":
        name = next((c for c in node.named_children if c.type in ("string", "identifier")), None)
        return ("function", _text(src, name).strip('"')) if name is not None else None
    if node.type == "variable_declaration" and any(c.type in _ZIG_CONTAINERS for c in node.named_children):
        name = next((c for c in node.named_children if c.type == "identifier"), None)
        return ("class", _text(src, name)) if name is not None else None
    return None


def _lua_definition(node: Node, src: bytes) -> tuple[str, str] | None:
    """`M.other = function(y) ... end` and `local f = function() ... end`."""
    if node.type != "assignment_statement" or node.named_child_count != 2:
        return None
    names, values = node.named_children
    if values.named_child_count == 1 and values.named_children[0].type == "function_definition":
        return "function", _text(src, names)
    return None


_C_CLASSES = frozenset({"struct_specifier", "union_specifier", "enum_specifier"})
GRAMMARS: dict[str, Grammar] = {
    "php": Grammar(("tree_sitter_php", "language_php"),
                   frozenset({"class_declaration", "interface_declaration", "trait_declaration", "enum_declaration"}),
                   frozenset({"function_definition", "method_declaration"})),
    "ruby": Grammar(("tree_sitter_ruby", "language"), frozenset({"class", "module"}),
                    frozenset({"method", "singleton_method"}), scope_separator="::"),
    "csharp": Grammar(("tree_sitter_c_sharp", "language"),
                      frozenset({"class_declaration", "struct_declaration", "interface_declaration",
                                 "enum_declaration", "record_declaration"}),
                      frozenset({"method_declaration", "constructor_declaration", "destructor_declaration"})),
    "kotlin": Grammar(("tree_sitter_kotlin", "language"), frozenset({"class_declaration", "object_declaration"}),
                      frozenset({"function_declaration"})),
    "scala": Grammar(("tree_sitter_scala", "language"),
                     frozenset({"class_definition", "object_definition", "trait_definition", "enum_definition"}),
                     frozenset({"function_definition"})),
    "swift": Grammar(("tree_sitter_swift", "language"), frozenset({"class_declaration", "protocol_declaration"}),
                     frozenset({"function_declaration", "init_declaration", "deinit_declaration"}), _swift_name),
    "c": Grammar(("tree_sitter_c", "language"), _C_CLASSES, frozenset({"function_definition"}), _c_name),
    "cpp": Grammar(("tree_sitter_cpp", "language"), _C_CLASSES | {"class_specifier"},
                   frozenset({"function_definition"}), _c_name, wrappers=frozenset({"template_declaration"}),
                   scope_separator="::", member_separator="::"),
    "elixir": Grammar(("tree_sitter_elixir", "language"), frozenset(), frozenset(), recognize=_elixir_definition,
                      clauses=True),
    "haskell": Grammar(("tree_sitter_haskell", "language"),
                       frozenset({"data_type", "newtype", "type_synonym", "class", "instance"}),
                       frozenset({"function", "bind", "signature"}), _haskell_name, clauses=True),
    "lua": Grammar(("tree_sitter_lua", "language"), frozenset(), frozenset({"function_declaration"}),
                   recognize=_lua_definition),
    "shell": Grammar(("tree_sitter_bash", "language"), frozenset(), frozenset({"function_definition"})),
    "zig": Grammar(("tree_sitter_zig", "language"), frozenset(), frozenset({"function_declaration"}),
                   recognize=_zig_definition),
}  # fmt: skip


def find_definitions(text: str, language: str) -> list[Definition]:
    """Every well-formed definition of a file in one of the GRAMMARS languages, in tree order."""
    src = text.encode("utf-8", "surrogatepass")
    return _walk(GRAMMARS[language], parser(language).parse(src).root_node, src)


@cache
def parser(language: str) -> Parser:
    """One parser per language and process, its grammar imported on first use."""
    module, function = GRAMMARS[language].wheel
    return Parser(Language(getattr(importlib.import_module(module), function)()))


@dataclass
class _Level:
    """One level of the walk: the nodes left to visit, the class or module they are in, its last definition."""

    children: Iterator[Node]
    scope: str | None
    previous: tuple[Node, int] | None = None  # the definition's first node and its place in the found list


def _walk(grammar: Grammar, root: Node, src: bytes) -> list[Definition]:
    """Depth first with a stack of its own: expressions in generated code nest past Python's recursion limit."""
    found: list[Definition] = []
    stack = [_Level(iter(root.named_children), None)]
    while stack:
        level = stack[-1]
        child = next(level.children, None)
        if child is None:
            stack.pop()
            continue
        first = child
        if child.type in grammar.wrappers and child.named_child_count:
            child = child.named_children[-1]
        what = _classify(grammar, child, src)
        if what is None:
            if child.named_child_count:
                stack.append(_Level(iter(child.named_children), level.scope))
            continue
        kind, name = what
        separator = grammar.scope_separator if kind == "class" else grammar.member_separator
        symbol = f"{level.scope}{separator}{name}" if level.scope else name
        if kind == "function" and level.scope:
            kind = "method"
        if not child.has_error:
            _add(found, level, first, Definition(symbol, kind, first.start_point.row + 1, _end_line(child)),
                 grammar.clauses)
        if kind == "class":
            stack.append(_Level(iter(child.named_children), symbol))
    return found


def _add(found: list[Definition], level: _Level, first: Node, definition: Definition, clauses: bool) -> None:
    """Append `definition`, or extend the one before it at this level when it is the next clause of it."""
    previous = level.previous
    at = previous[1] if clauses and previous and first.prev_named_sibling == previous[0] else None
    if at is not None and (found[at].symbol, found[at].kind) == (definition.symbol, definition.kind):
        found[at] = replace(found[at], end_line=definition.end_line)
    else:
        at = len(found)
        found.append(definition)
    level.previous = first, at


def _classify(grammar: Grammar, node: Node, src: bytes) -> tuple[str, str] | None:
    if node.type in grammar.classes:
        kind = "class"
    elif node.type in grammar.functions:
        kind = "function"
    else:
        return grammar.recognize(node, src) if grammar.recognize else None
    name = grammar.name(node, src)
    return (kind, name) if name else None


def _end_line(node: Node) -> int:
    """The last line with the node's text: a node ending at column 0 ended on the line before."""
    end = node.end_point
    return end.row if end.column == 0 and end.row > node.start_point.row else end.row + 1
