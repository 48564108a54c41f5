"""Files -> search chunks, and the folder walk that finds the files.

Code in the six extracted languages is cut where the corpus extraction cuts it (`codesift.data.extract`: functions,
methods, classes, with line spans and symbols), and thirteen more languages by their grammars (`definitions`); the
code between units (imports, constants, top-level statements) and every other text file (`filetypes`) fall back to
windows of at most `window_lines` non-blank lines. Markdown/reST files are split at headings
(`codesift.data.markdown`), long sections into windows. Every non-blank line of a code file is in one chunk (a class's
chunk is its header, each method a chunk of its own).

The walk honours .gitignore files, skips hidden and vendored folders, and reads through the corpus pipeline's
guarded reader, so binary, invalid-UTF-8, oversized, unreadable and special files are skipped with a counted
reason instead of failing the index.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

from codesift.data.extract import extract_file, split_markdown
from codesift.data.languages import detect_language
from codesift.data.sources import PRUNE_DIRS, _GitIgnore, _link_problem, _Reader, walk_folders
from codesift.eval.chunks import SKIP_DIRS, uncovered_spans
from codesift.index.definitions import GRAMMARS, find_definitions
from codesift.index.filetypes import search_language

CHUNKER_VERSION = 3  # bump whenever chunk boundaries or texts change: cached indexes then re-chunk every file
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

    @cached_property
    def embedding_text(self) -> str:
        """What the model embeds: the text under a line naming its file and symbol, so a method is read with its
        class and module (`tmpdir.py TempPathFactory.getbasetemp`)."""
        return f"{self.path} {self.symbol}\n{self.text}"

    @cached_property
    def content_hash(self) -> str:
        """Identifies the embedded text: a chunk whose hash the index holds reuses that vector."""
        return text_hash(self.embedding_text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def chunk_file(path: str, text: str, language: str, window_lines: int = 40) -> list[Chunk]:
    """The chunks of one file's text (`language` from `file_language`), in line order."""
    lines = text.splitlines()
    if language == "markdown":
        return _sections(path, text, lines, window_lines)
    chunks: list[Chunk] = []
    covered = [False] * (len(lines) + 2)
    units = []
    if language in EXTRACTED:
        # A file that does not fully parse still gives its well-formed units; the rest becomes windows.
        units = extract_file(text, language, repo="", path=path, license=None).units
    elif language in GRAMMARS:
        units = find_definitions(text, language)
    for symbol, kind, start, end in definition_spans(units, lines):
        chunks.append(Chunk(path, language, symbol, kind, start, end, "\n".join(lines[start - 1 : end])))
        for n in range(start, min(end, len(lines)) + 1):
            covered[n] = True
    for start, end in uncovered_spans(lines, covered, window_lines):
        chunks.append(Chunk(path, language, "", "window", start, end, "\n".join(lines[start - 1 : end])))
    chunks.sort(key=lambda c: (c.start_line, -c.end_line))
    return chunks


def definition_spans(units, lines: list[str]) -> list[tuple[str, str, int, int]]:
    """(symbol, kind, start, end) of the chunks cut from a file's units, no line in two of them: a function keeps
    the functions nested in it (a closure is part of its body); a class is cut to its header (up to its first
    member), and each method is a chunk of its own. The class's lines between members become windows."""
    spans = sorted(((u.start_line, -u.end_line, u) for u in units), key=lambda t: (t[0], t[1]))
    kept: list[tuple[str, str, int, int]] = []
    for start, neg_end, unit in spans:
        end = min(-neg_end, len(lines))
        if kept and start <= kept[-1][3] and kept[-1][1] != "class":
            continue  # inside a function, method, or a class header's line: already in that chunk
        if kept and kept[-1][1] == "class" and start <= kept[-1][3]:
            symbol, kind, first, _ = kept[-1]
            start = _leading_comments(lines, start, first)  # the member's doc comment is the member's
            header_end = start - 1
            while header_end >= first and not lines[header_end - 1].strip():
                header_end -= 1
            if header_end >= first:
                kept[-1] = (symbol, kind, first, header_end)
            else:
                kept.pop()
        symbol = f"{unit.parent}.{unit.symbol}" if unit.parent else unit.symbol
        floor = kept[-1][3] if kept else 0
        kept.append((symbol, unit.kind, _leading_comments(lines, start, floor), end))
    return kept


# Comment, doc-comment and attribute lines; not '#!' or C preprocessor lines, which belong to no definition.
_COMMENT_OR_ATTRIBUTE = re.compile(
    r"^\s*(//|/\*|\*|@|--|#(?!!|\s*(include|define|undef|if|ifdef|ifndef|else|elif|endif|pragma|import)\b))"
    r"|\*/\s*$")


def _leading_comments(lines: list[str], start: int, floor: int) -> int:
    """The first line of the comment, doc comment or attribute block right above line `start` (no blank line
    between), not reaching line `floor`: a Go, Rust or JSDoc doc comment belongs to the definition it documents,
    not to a window of its own."""
    while start - 1 > floor and _COMMENT_OR_ATTRIBUTE.match(lines[start - 2]):
        start -= 1
    return start


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
    """What an indexed file is: one of the extracted languages, 'markdown', a `filetypes` language (definitions or
    windows), or None when the file is not indexed. `head`: the first line, for extensionless scripts."""
    detected = detect_language(rel_path, head)
    if detected is not None:
        return detected.name
    return search_language(rel_path, head)


@dataclass(frozen=True)
class FoundFile:
    """A candidate file of a walk, before it is read."""

    path: Path  # absolute
    rel: str  # relative to the root, '/'-separated
    size: int
    mtime_ns: int
    ctime_ns: int  # moves on every write, even one that puts the mtime back


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
    ignore = _GitIgnore(root, stats)
    for folder, dirnames, filenames in walk_folders(root, onerror=lambda e: stats.update(["skip:unreadable"])):
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
    return FoundFile(path, utf8_name(rel), st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def utf8_name(name: str) -> str:
    """A file or folder name as valid UTF-8: the bytes of a name that is not UTF-8 (Python holds them as surrogate
    escapes, which Parquet and terminals refuse) become \\xNN, so the file is still indexed and its path still
    says which file it is."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
