"""Files -> search chunks, and the folder walk that finds the files.

Code in the six extracted languages is cut where the corpus extraction cuts it (`codesift.data.extract`: functions,
methods, classes, with line spans and symbols); the code between units (imports, constants, top-level statements)
and every other text file fall back to windows of at most `window_lines` non-blank lines. Markdown/reST files are
split at headings (`codesift.data.markdown`), long sections into windows. Every non-blank line of an indexed file
is in at least one chunk (a method is in its class's chunk too).

The walk honours .gitignore files, skips hidden and vendored folders, and reads through the corpus pipeline's
guarded reader, so binary, invalid-UTF-8, oversized, unreadable and special files are skipped with a counted
reason instead of failing the index.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codesift.data.extract import extract_file, split_markdown
from codesift.data.languages import detect_language
from codesift.data.sources import PRUNE_DIRS, _GitIgnore, _link_problem, _Reader
from codesift.eval.chunks import LANGUAGE_BY_SUFFIX, SKIP_DIRS, uncovered_spans

CHUNKER_VERSION = 1  # bump whenever chunk boundaries or texts change: cached indexes then re-chunk every file
EXTRACTED = frozenset({"python", "typescript", "javascript", "go", "java", "rust"})
SKIP_FOLDERS = PRUNE_DIRS | SKIP_DIRS | {"vendor"}


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of a file; `path` is relative to the indexed root, lines are 1-based and inclusive."""

    path: str
    language: str
    symbol: str  # 'Class.method', a function or class name, a Markdown heading path, or '' for windows
    kind: str  # function | method | class | section | window
    start_line: int
    end_line: int
    text: str

    @property
    def content_hash(self) -> str:
        return text_hash(self.text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def chunk_file(path: str, text: str, language: str, window_lines: int = 40) -> list[Chunk]:
    """The chunks of one file's text (`language` from `file_language`), in line order."""
    lines = text.splitlines()
    if language == "markdown":
        return _sections(path, text, lines, window_lines)
    chunks: list[Chunk] = []
    covered = [False] * (len(lines) + 2)
    if language in EXTRACTED:
        # A file that does not fully parse still gives its well-formed units; the rest becomes windows.
        for unit in extract_file(text, language, repo="", path=path, license=None).units:
            symbol = f"{unit.parent}.{unit.symbol}" if unit.parent else unit.symbol
            chunks.append(Chunk(path, language, symbol, unit.kind, unit.start_line, unit.end_line, unit.code))
            for n in range(unit.start_line, min(unit.end_line, len(lines)) + 1):
                covered[n] = True
    for start, end in uncovered_spans(lines, covered, window_lines):
        chunks.append(Chunk(path, language, "", "window", start, end, "\n".join(lines[start - 1 : end])))
    chunks.sort(key=lambda c: (c.start_line, -c.end_line))
    return chunks


def _sections(path: str, text: str, lines: list[str], window_lines: int) -> list[Chunk]:
    chunks = []
    for sec in split_markdown(text, repo="", path=path, license=None):
        if sec.end_line - sec.start_line < 2 * window_lines:
            body = "\n".join(lines[sec.start_line - 1 : sec.end_line])
            chunks.append(Chunk(path, "markdown", sec.heading, "section", sec.start_line, sec.end_line, body))
            continue
        covered = [n < sec.start_line or n > sec.end_line for n in range(len(lines) + 2)]
        for start, end in uncovered_spans(lines, covered, window_lines):
            body = "\n".join(lines[start - 1 : end])
            chunks.append(Chunk(path, "markdown", sec.heading, "section", start, end, body))
    return chunks


def file_language(rel_path: str, head: str = "") -> str | None:
    """What an indexed file is: one of the extracted languages, 'markdown', another known text type
    (windows only), or None when the file is not indexed. `head`: the first line, for extensionless scripts."""
    detected = detect_language(rel_path, head)
    if detected is not None:
        return detected.name
    suffix = PurePosixPath(rel_path).suffix.lower()
    return LANGUAGE_BY_SUFFIX.get(suffix)


@dataclass(frozen=True)
class FoundFile:
    """A candidate file of a walk, before it is read."""

    path: Path  # absolute
    rel: str  # relative to the root, '/'-separated
    size: int
    mtime_ns: int


def walk(root: Path, stats: Counter[str]) -> Iterator[FoundFile]:
    """Regular files under `root` that may be indexed, sorted; skipped ones counted in `stats` as skip:<reason>.

    Hidden files and folders, vendored/build folders and .gitignored paths are left out; folder symlinks are not
    followed and file symlinks only when they stay inside `root`. `root` may also be a single file."""
    root = root.resolve()
    if root.is_file():
        found = _found(root, root.name, root.parent, stats)
        if found:
            yield found
        return
    ignore = _GitIgnore(root)
    for folder, dirnames, filenames in os.walk(root, onerror=lambda e: stats.update(["skip:unreadable"])):
        here = Path(folder)
        kept = []
        for name in sorted(dirnames):
            sub = here / name
            if name.startswith(".") or name in SKIP_FOLDERS or sub.is_symlink() or ignore.ignored(sub, directory=True):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            if ignore.ignored(path):
                stats["skip:gitignored"] += 1
            elif found := _found(path, rel, root, stats):
                yield found


def _found(path: Path, rel: str, root: Path, stats: Counter[str]) -> FoundFile | None:
    if path.is_symlink() and (reason := _link_problem(path, root)):
        stats[f"skip:{reason}"] += 1
        return None
    if PurePosixPath(rel).suffix and file_language(rel) is None:
        stats["skip:not-text"] += 1
        return None
    try:
        st = path.stat()
    except OSError:
        stats["skip:unreadable"] += 1
        return None
    if not stat.S_ISREG(st.st_mode):
        stats["skip:special-file"] += 1
        return None
    return FoundFile(path, rel, st.st_size, st.st_mtime_ns)


def read_file(found: FoundFile, max_bytes: int) -> tuple[bytes, str, str] | str:
    """(raw bytes, text, language) of a found file, or why it cannot be indexed: 'binary', 'invalid-utf8',
    'too-large', 'unreadable', or 'not-text' (an extensionless file that is not a known script)."""
    why: Counter[str] = Counter()
    reader = _Reader(max_bytes, why)
    if found.size > max_bytes:
        return "too-large"
    try:
        with found.path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return "unreadable"
    text = reader.decode(data)
    if text is None:
        return next(iter(why)).removeprefix("skip:")
    language = file_language(found.rel, text.partition("\n")[0])
    if language is None:
        return "not-text"
    return data, text, language
