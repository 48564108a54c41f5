"""Understand the query: is it an identifier (go to definitions first) or words (meaning first)?

People type three kinds of query at a code search: their own words ("retry a request after a connection reset"),
a question ("how are plugins discovered at startup"), and an identifier exactly as written in the code
(`CallInfo`, `try_get_value`, `Sinatra::Base`, `ProxyBalancer.pick`). An identifier query names a definition;
words name a behaviour, which the dense side reads better.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


_SEPARATORS = re.compile(r"::|->|\\|\.|#")
_NAME = r"[A-Za-z_$][A-Za-z0-9_$]*"
# One identifier, optionally qualified: a word with an inner capital, an underscore or a qualifier, or one that
# starts with a capital (a type name). A plain lower-case word ("session") is a word, not an identifier.
_IDENTIFIER = re.compile(rf"^{_NAME}(?:(?:::|->|\\|\.|#){_NAME})*(?:\(\))?$")
# Identifiers written inside a sentence ("where is parseArgs called"): camelCase, PascalCase with an inner
# capital, snake_case or qualified names.
_EMBEDDED = re.compile(rf"\b(?:[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*|{_NAME}_\w+|{_NAME}(?:::|\.){_NAME})")


@dataclass(frozen=True)
class QueryInfo:
    text: str
    kind: str  # 'symbol' (an identifier) or 'text' (words)
    names: tuple[str, ...]  # identifiers the query names, last part first for qualified ones ('Base' of Sinatra::Base)

    @property
    def is_symbol(self) -> bool:
        return self.kind == "symbol"


def understand(text: str) -> QueryInfo:
    stripped = text.strip()
    if _IDENTIFIER.match(stripped) and _looks_like_identifier(stripped):
        return QueryInfo(text, "symbol", _names(stripped.removesuffix("()")))
    embedded = tuple(dict.fromkeys(n for m in _EMBEDDED.findall(stripped) for n in _names(m)))
    return QueryInfo(text, "text", embedded)


def _looks_like_identifier(word: str) -> bool:
    return bool(_SEPARATORS.search(word) or "_" in word or word[0].isupper() or any(c.isupper() for c in word[1:])
                or word.endswith("()"))


def _names(identifier: str) -> tuple[str, ...]:
    """The last part of a qualified name first, then the whole (as written) when qualified."""
    parts = [p for p in _SEPARATORS.split(identifier) if p]
    return tuple(dict.fromkeys([parts[-1], identifier] if len(parts) > 1 else [identifier])) if parts else ()
