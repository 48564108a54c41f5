"""Document views: a definition's doc and name embedded beside its whole text.

A mean-pooled model reads a 200-token function as the average of its tokens, so the few that say what it does (its
name, its docstring or doc comment) weigh as little as any `self` or `return`. A document's vector is therefore
the sum of three unit vectors, normalized: the whole text's, `doc` x its doc's and `name` x its name's (each only
where the text has one). A query is embedded as before. The parts are read from the text alone, for every language
the index reads, so an index, the service and the eval harness embed a document the same way:

- name: the name on the text's first definition line (`def`, `fn`, `func`, `class`, `function`, `const f = (...)
  =>`, or a method signature such as `public int size() {`), within its first few code lines, so the index's
  `path symbol` line above a chunk and decorators or attributes may come first;
- doc: the comment lines before that definition line (`//`, `///`, `#`, `/** */`) and the docstring right after it.

A text with no definition line (a body without its signature, a Markdown section) has neither and keeps its plain
vector. Weights are chosen on CoSQA dev and the validation pairs (BENCHMARKS.md, issue 23, sixth round).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from codesift.data.doccomments import doc_summary

_COMMENT = re.compile(r"\s*(?:#(?![!\[])|//+!?|/\*+|\*+/|\*(?!/))\s?")  # a comment line's marker
_DOCSTRING = re.compile(r"\s*[rRuUbB]{0,2}(\"\"\"|'''|\"|')(.*?)\1", re.DOTALL)
_KEYWORD_DEFINITION = re.compile(
    r"\b(?:def|fn|func|function|class|struct|interface|trait|enum|type|impl|module|record)\s+(?:\([^)]*\)\s*)?"
    r"([A-Za-z_$][\w$]*)"
    r"|\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>|\w+\s*=>)")
_SIGNATURE = re.compile(r"(?<![\w$])([A-Za-z_$][\w$]*)\s*(?:<[^<>()]*>)?\s*\([^()]*(?:\)[^(){};=]*\{|,)\s*$")
_NOT_NAMES = {"if", "for", "while", "switch", "return", "catch", "new", "super", "this", "await", "typeof", "sizeof",
              "function", "async", "else", "elif", "with", "print"}
_DECORATOR = re.compile(r"^\s*(?:@|#\[)")
CODE_LINES = 3  # code lines searched for the definition line: the index's header line, the definition, one more


@dataclass(frozen=True)
class DocumentViews:
    """How much a document's doc and name add to its vector (0: not at all; both 0: plain mean pooling)."""

    doc: float = 0.0
    name: float = 0.0

    def __post_init__(self) -> None:
        for field, value in (("doc", self.doc), ("name", self.name)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"document_views.{field} must be a finite number >= 0, got {value!r}")

    @property
    def active(self) -> bool:
        return self.doc > 0 or self.name > 0

    def to_json(self) -> dict[str, float]:
        return {"doc": self.doc, "name": self.name}

    @classmethod
    def parse(cls, spec: str) -> DocumentViews:
        """'off' or 'doc=0.35,name=0.3' (a missing part is 0), as the eval CLI takes it."""
        if spec.strip() == "off":
            return cls()
        weights: dict[str, float] = {}
        for item in spec.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in ("doc", "name") or key in weights:
                raise ValueError(f"document views {spec!r}: expected 'off' or 'doc=W,name=W'")
            try:
                weights[key] = float(value)
            except ValueError:
                raise ValueError(f"document views {spec!r}: {value.strip()!r} is not a number") from None
        return cls(**weights)

    def revision(self, weights_revision: str) -> str:
        """The revision of an encoder that embeds documents this way: vectors made another way never mix with
        these in an index or a cache."""
        if not self.active:
            return weights_revision
        return hashlib.sha256(f"{weights_revision} doc={self.doc} name={self.name}".encode()).hexdigest()


def definition_parts(text: str) -> tuple[str, str]:
    """(doc, name) of the definition `text` starts with; ('', '') when it starts with none. Reads only the lines
    it needs: the index parses every chunk of a repository."""
    doc: list[str] = []
    code_lines = pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line, start, pos = text[pos:end], pos, end + 1
        stripped = line.strip()
        if not stripped or _DECORATOR.match(line):
            continue
        if marker := _COMMENT.match(line):
            if said := line[marker.end() :].rstrip().removesuffix("*/").rstrip():
                doc.append(said)
            continue
        if name := _definition_name(stripped):
            if docstring := _docstring_after(text, start):
                doc.append(docstring)
            return doc_summary("\n".join(doc)), name
        code_lines += 1
        if code_lines >= CODE_LINES:
            break
        doc = []  # comments above a line that defines nothing are not this definition's doc
    return "", ""


def _definition_name(line: str) -> str:
    if found := _KEYWORD_DEFINITION.search(line):
        return found.group(1) or found.group(2)
    if not line.endswith(("{", ",")) or line.startswith(("return ", "if ", "for ", "while ")):
        return ""  # a signature line opens a body or goes on with more parameters
    found = _SIGNATURE.search(line)
    if found and found.group(1) not in _NOT_NAMES and "=" not in line[: found.start()]:
        return found.group(1)
    return ""


def _docstring_after(text: str, start: int) -> str:
    """The string literal opening the body of a definition whose header (maybe several lines, from `start`) ends
    with ':'."""
    for _ in range(8):
        end = text.find("\n", start)
        if end < 0:
            return ""
        if text[start:end].rstrip().endswith(":"):
            found = _DOCSTRING.match(text, end + 1)
            return found.group(2).strip() if found else ""
        start = end + 1
    return ""


def add_views(texts: Sequence[str], vectors: np.ndarray, views: DocumentViews,
              encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """`vectors` (the whole texts' unit vectors) with `views` added; `encode` embeds the views' texts as
    documents."""
    if not views.active or not len(texts):
        return vectors
    weighted = [(which, weight) for which, weight in enumerate((views.doc, views.name)) if weight > 0]
    parts = part_vectors(texts, encode, [which for which, _ in weighted])
    return combine(vectors, parts, [weight for _, weight in weighted])


def part_vectors(texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
                 which: Sequence[int] = (0, 1)) -> list[np.ndarray]:
    """Per part in `which` (0: doc, 1: name), each text's unit vector of that part, zeros where it has none; every
    distinct part text is embedded once, in one call."""
    parts = [definition_parts(t) for t in texts]
    distinct = list(dict.fromkeys(p[w] for p in parts for w in which if p[w]))
    embedded = encode(distinct) if distinct else None
    row = {text: i for i, text in enumerate(distinct)}
    out = []
    for w in which:
        rows = [i for i, p in enumerate(parts) if p[w]]
        vectors = np.zeros((len(texts), embedded.shape[1] if embedded is not None else 0), np.float32)
        if rows:
            vectors[rows] = embedded[[row[parts[i][w]] for i in rows]]
        out.append(vectors)
    return out


def combine(vectors: np.ndarray, parts: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The whole texts' unit vectors plus each part's vectors at its weight, normalized again."""
    out = np.array(vectors, dtype=np.float32)
    for part, weight in zip(parts, weights, strict=True):
        if part.shape[1]:  # no text had any part: nothing to add
            out += weight * part
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
