"""README/Markdown (and reStructuredText) -> sections, each with its heading path, for readme-file pairs."""

from __future__ import annotations

import re
from typing import NamedTuple

from codesift.records import DocSection

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)")  # a code fence opening, and its info string (`python`)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# Lines that cannot be part of a paragraph above a setext underline: list items, quotes, tables, html, code.
_NOT_PARAGRAPH = re.compile(r"^(?: {0,3}(?:[-*+>|<]|\d+[.)]|#)| {4}|\t)")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")  # one punctuation character, repeated


class _Heading(NamedTuple):
    start: int  # 0-based index of the heading's first line
    body: int  # index of the first line after it
    level: int
    title: str


def split_markdown(text: str, *, repo: str, path: str, license: str | None) -> list[DocSection]:
    """Sections split at ATX and setext headings (reST over/underlines for .rst); empty sections are dropped.

    Text before the first heading is a section with heading ''. `#` lines in fenced code are code, not headings;
    YAML front matter is left out.
    """
    lines = text.splitlines()
    rst = path.lower().endswith(".rst")
    start = 0 if rst else _front_matter_end(lines)
    headings = _rst_headings(lines) if rst else _markdown_headings(lines, start)
    sections, stack = [], []
    bounds = [_Heading(start, start, 0, "")] + headings + [_Heading(len(lines), len(lines), 0, "")]
    for heading, following in zip(bounds, bounds[1:]):
        if heading.level:
            while stack and stack[-1][0] >= heading.level:
                stack.pop()
            stack.append((heading.level, heading.title))
        body = lines[heading.body : following.start]
        while body and not body[-1].strip():
            body.pop()
        content = "\n".join(body).strip("\n")
        if content.strip():
            title = " > ".join(t for _, t in stack if t)
            end = heading.body + len(body)
            sections.append(DocSection(repo, path, license, title, content, heading.start + 1, end))
    return sections


def _markdown_headings(lines: list[str], start: int) -> list[_Heading]:
    headings: list[_Heading] = []
    fence = ""
    paragraph = start  # where the paragraph that a setext underline would turn into a heading starts
    for i in range(paragraph, len(lines)):
        line = lines[i]
        if fence:
            if closes_fence(line, fence):
                fence, paragraph = "", i + 1
            continue
        if match := FENCE.match(line):
            fence = match.group(1)
        elif match := _ATX.match(line):
            headings.append(_Heading(i, i + 1, len(match.group(1)), (match.group(2) or "").strip()))
        elif (match := _SETEXT.match(line)) and paragraph < i:
            title = " ".join(s.strip() for s in lines[paragraph:i])
            headings.append(_Heading(paragraph, i + 1, 1 if match.group(1)[0] == "=" else 2, title))
        elif line.strip() and not _NOT_PARAGRAPH.match(line):
            continue  # the paragraph goes on
        paragraph = i + 1
    return headings


def closes_fence(line: str, fence: str) -> bool:
    """Whether `line` closes the code block that `fence` (its opening run of backticks or tildes) opened."""
    stripped = line.strip()
    return stripped.startswith(fence) and not stripped.strip(fence[0])


def _front_matter_end(lines: list[str]) -> int:
    """YAML front matter ('---' ... '---') is metadata; its closing '---' is not a setext underline."""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                return i + 1
    return 0


def _rst_headings(lines: list[str]) -> list[_Heading]:
    """reST titles: a line underlined (optionally also overlined) by one repeated punctuation character.

    Levels follow the order in which adornment styles first appear, as docutils assigns them.
    """
    headings: list[_Heading] = []
    styles: list[tuple[str, bool]] = []
    taken = -1  # last line index used by a heading
    for i in range(1, len(lines)):
        title, underline = lines[i - 1], lines[i]
        match = _RST_ADORNMENT.match(underline)
        if not match or not title.strip() or title[0].isspace() or _RST_ADORNMENT.match(title) or i - 1 <= taken:
            continue
        if len(underline.rstrip()) < len(title.rstrip()):
            continue
        overline = i >= 2 and lines[i - 2].rstrip() == underline.rstrip() and i - 2 > taken
        if not overline and i >= 2 and lines[i - 2].strip() and i - 2 > taken:
            continue  # a title must follow a blank line
        style = (match.group(1), overline)
        if style not in styles:
            styles.append(style)
        headings.append(_Heading(i - 2 if overline else i - 1, i + 1, styles.index(style) + 1, title.strip()))
        taken = i
    return headings
