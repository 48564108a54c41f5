"""Doc comment text: strip comment markers so docs read the same in every language, and take their summary."""

from __future__ import annotations

import inspect
import re

_DOC_MARKER = re.compile(r"^[ \t]*\*(?: |$)?", re.M)  # the leading ' * ' of /** */ continuation lines
_TAG_LINE = re.compile(r"^(@\w|:\w[\w ]*:|\.\. \w)")  # @param, :param x:, .. note:: end the summary
_INLINE_TAG = re.compile(r"\{@(?:code|link|linkplain|literal)\s+([^}]*)\}")
_GO_DIRECTIVE = re.compile(r"//(?:line |extern |export |[a-z0-9]+:[a-z0-9])")


def block_doc(comment: str) -> str:
    """`/** ... */` -> its text, without the delimiters and the leading `*` of each line."""
    inner = comment[3:-2] if comment.endswith("*/") else comment[3:]
    return inspect.cleandoc(_DOC_MARKER.sub("", inner)).strip()


def line_doc(comments: list[str], marker: str) -> str:
    """Consecutive line comments (`//`, `///`) -> their text; Go directives such as //go:generate are left out."""
    lines = []
    for comment in comments:
        if marker == "//" and _GO_DIRECTIVE.match(comment):
            continue
        line = comment.rstrip()[len(marker) :]
        lines.append(line[1:] if line.startswith(" ") else line)
    return inspect.cleandoc("\n".join(lines)).strip()


def doc_summary(doc: str) -> str:
    """The doc's first paragraph on one line, before any tag (@param, :returns:) and with {@code x} read as x."""
    lines = []
    for line in doc.strip().splitlines():
        line = line.strip()
        if not line or _TAG_LINE.match(line) or (lines and line.lower().startswith("<p>")):
            break
        lines.append(line.removeprefix("<p>"))
    return _INLINE_TAG.sub(r"\1", " ".join(lines))
