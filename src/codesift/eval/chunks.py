"""Split a code folder into searchable chunks for the repository-search benchmark.

Deliberately simple so its behaviour is easy to predict: Python files give one chunk per function or method (via
`ast`, decorators included) and line windows over the code between them; every other file gives windows of
WINDOW lines. Every non-blank line of a chunked file is in exactly one chunk, so any target span can be hit.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

WINDOW = 40
MAX_FILE_BYTES = 1_000_000
SKIP_DIRS = {"node_modules", "__pycache__", "venv", "target", "build", "dist"}
LANGUAGE_BY_SUFFIX = {
    ".py": "python", ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".ts": "typescript",
    ".tsx": "typescript", ".go": "go", ".java": "java", ".rs": "rust", ".rb": "ruby", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".php": "php", ".kt": "kotlin", ".swift": "swift",
    ".sh": "shell", ".md": "markdown", ".rst": "rst", ".txt": "text", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".json": "json",
}


@dataclass(frozen=True)
class Chunk:
    path: str  # relative to the folder, '/'-separated
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    language: str

    @property
    def id(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


def chunk_folder(folder: str | Path) -> list[Chunk]:
    """Chunks of every known-language text file under `folder`, skipping hidden and vendored folders."""
    folder = Path(folder)
    chunks: list[Chunk] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") or part in SKIP_DIRS for part in rel.parts[:-1]) or rel.name.startswith("."):
            continue
        language = LANGUAGE_BY_SUFFIX.get(path.suffix.lower())
        if language is None or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        chunks += chunk_text(rel.as_posix(), text, language)
    return chunks


def chunk_text(path: str, text: str, language: str) -> list[Chunk]:
    """Chunks of one file: functions (Python) plus windows over the remaining non-blank lines."""
    lines = re.split(r"\r\n|\r|\n", text)  # the line breaks `ast` and editors count (not form feeds)
    spans = _python_functions(text) if language == "python" else []
    covered = [False] * (len(lines) + 1)
    for start, end in spans:
        for n in range(start, end + 1):
            covered[n] = True
    spans += uncovered_spans(lines, covered, WINDOW)
    return [
        Chunk(path, start, end, "\n".join(lines[start - 1 : end]), language) for start, end in sorted(spans)
    ]


def _python_functions(text: str) -> list[tuple[int, int]]:
    """Line spans of top-level functions and of methods (nested classes included); [] when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    spans = []
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((start, node.end_lineno or node.lineno))
        elif isinstance(node, ast.ClassDef):
            todo += node.body
    return spans


def uncovered_spans(lines: list[str], covered: list[bool], size: int) -> list[tuple[int, int]]:
    """Spans of uncovered non-blank lines (`covered` is 1-based): a covered line ends a span, and no span is
    longer than `size` lines. The code between functions, cut into windows."""
    spans: list[tuple[int, int]] = []
    run: list[int] = []
    for n in range(1, len(lines) + 1):
        if run and (covered[n] or (lines[n - 1].strip() and n - run[0] >= size)):
            spans.append((run[0], run[-1]))
            run = []
        if not covered[n] and lines[n - 1].strip():
            run.append(n)
    if run:
        spans.append((run[0], run[-1]))
    return spans
