"""The records that flow through the data pipeline; each maps 1:1 to a Parquet row."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class Row:
    """A record that is one Parquet row."""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class SourceFile(Row):
    """One file as a source yields it, before cleaning. `repo` is the repository or package it belongs to."""

    repo: str
    path: str  # relative to the repo root, '/'-separated
    language: str | None  # None: not a training language (e.g. README.md keeps 'markdown')
    license: str | None  # SPDX id or expression; None when unknown
    source: str  # the source kind that produced it, e.g. 'python', 'npm', 'local'
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class CodeUnit(Row):
    """A function, method or class extracted from a file, with its doc split from its body."""

    repo: str
    path: str
    language: str
    license: str | None
    symbol: str
    kind: str  # function | method | class
    parent: str | None  # enclosing class/impl/type, if any
    signature: str
    doc: str  # cleaned doc comment or docstring ('' when undocumented)
    body: str  # the unit's code with its doc removed
    code: str  # the unit's code exactly as in the file (doc included where it sits inside)
    start_line: int  # 1-based, inclusive
    end_line: int
    start_byte: int
    end_byte: int
    is_test: bool = False


@dataclass
class CommitUnit(CodeUnit):
    """A function or method whose body a commit changed, as the commit left it, with the commit's message."""

    commit: str = ""
    message: str = ""  # cleaned: the first paragraph, without issue references or conventional-commit types


@dataclass
class DocSection(Row):
    """A README/Markdown section: its heading path ('Install > From source') and text."""

    repo: str
    path: str
    license: str | None
    heading: str
    text: str
    start_line: int
    end_line: int


@dataclass
class Pair(Row):
    """A training/eval pair: a natural-language or signature query and the code it should retrieve."""

    query: str
    code: str
    pair_type: str  # config.PairType: doc-body | signature-body | readme-file | commit-body | identifier-def | ...
    language: str
    repo: str
    path: str
    symbol: str
    split: str  # train | val | test
