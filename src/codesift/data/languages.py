"""Which training language a file is, from its name (and shebang for extensionless scripts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_BY_SUFFIX = {
    ".py": "python",
    ".pyi": None,  # stubs: signatures without bodies, nothing to pair
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescript",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".go": "go",
    ".java": "java",
    ".rs": "rust",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "markdown",
}
_DECLARATION = re.compile(r"\.d\.[mc]?ts$")
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?$")
_NODE = {"node", "nodejs"}


@dataclass(frozen=True)
class FileLanguage:
    """A detected language; `declaration` marks .d.ts files, which hold types only and are best skipped."""

    name: str  # python | typescript | javascript | go | java | rust | markdown
    declaration: bool = False


def detect_language(path: str, head: str = "") -> FileLanguage | None:
    """The file's language, or None when it is not one we train on. `head`: the file's first line, for shebangs."""
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    if suffix:
        language = _BY_SUFFIX.get(suffix)
        return FileLanguage(language, bool(_DECLARATION.search(name))) if language else None
    language = _shebang_language(head)
    return FileLanguage(language) if language else None


def grammar_for(language: str, path: str) -> str:
    """The tree-sitter grammar to parse with: TSX needs its own grammar; otherwise the language's."""
    if language == "typescript" and path.lower().endswith(".tsx"):
        return "tsx"
    return language


def shebang_interpreter(head: str) -> str | None:
    """The program a '#!' first line runs ('python3', 'bash'), looking past `env` and its options; None if none."""
    if not head.startswith("#!"):
        return None
    words = head[2:].split()
    if words and PurePosixPath(words[0]).name == "env":  # '#!/usr/bin/env -S node --flag', 'env VAR=1 python3'
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return PurePosixPath(words[0]).name if words else None


def _shebang_language(head: str) -> str | None:
    interpreter = shebang_interpreter(head)
    if interpreter is None:
        return None
    if _PYTHON.match(interpreter):
        return "python"
    return "javascript" if interpreter in _NODE else None
