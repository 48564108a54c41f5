"""Pairs from documentation (issue 23): where people explain code in plain words, not in docstring style.

Two pair types, built from the Markdown and reST sections the data stage keeps (READMEs, package docs, the CPython
documentation), each weighted (or dropped with 0) by `train.pair_type_weights`:
- `doc-example`: the prose paragraph right above a code example -> that example ("In-memory binary streams are also
  available as BytesIO objects" -> `f = io.BytesIO(b"...")`). Markdown fences; reST literal blocks (`::`),
  code-block directives and doctest blocks. An example's language is its fence or directive tag, else its
  repository's main language (reST: Python, Sphinx's default); doctest prompts are taken off, their output dropped.
- `api-doc`: a reST API entry's first sentence -> its signature, qualified by the module and class it documents
  (`.. function:: getsize(path)` under `.. module:: os.path` -> `os.path.getsize(path)`): the reference's words
  for functions written in C, whose source gives the corpus no docstring to read.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from codesift.config import PairsConfig
from codesift.data.markdown import FENCE, closes_fence
from codesift.data.query_text import WORD, fit_query
from codesift.records import CodeUnit, DocSection, Pair

MIN_WORDS = 4  # "For example:" is no query
MIN_API_WORDS = 3
LANGUAGE_TAGS = {
    "python": "python", "py": "python", "python3": "python", "pycon": "python", "ipython": "python",
    "rust": "rust", "rs": "rust", "go": "go", "golang": "go", "java": "java",
    "javascript": "javascript", "js": "javascript", "jsx": "javascript", "mjs": "javascript", "cjs": "javascript",
    "typescript": "typescript", "ts": "typescript", "tsx": "typescript",
}
_NOT_PROSE = re.compile(r"^ {0,3}(?:#|\||<|!\[|\[!)")  # headings, tables, html, badges
_CODE_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode|testcode|doctest)::[ \t]*(\S*)")
_API = re.compile(r"^\.\. (?:py:)?(function|method|classmethod|staticmethod|class|exception|decorator|attribute|"
                  r"data|property)::[ \t]*(\S.*)$")
_MODULE = re.compile(r"^\.\. (?:py:)?(?:module|currentmodule)::[ \t]*(\S+)")
_MEMBER_KINDS = {"method", "classmethod", "staticmethod", "attribute", "property"}
_ROLE = re.compile(r"(?::[\w-]+)+:`(~?)!?([^`<]*?)\s*(?:<([^>]*)>)?`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_{1,2}|\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"`+|\*\*?|\\ ")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`])")


def doc_pairs(sections: Iterable[DocSection], main_language: dict[str, str], cfg: PairsConfig,
              stats: Counter[str], contaminated: Callable[[str], bool] = lambda code: False) -> Iterator[Pair]:
    """doc-example and api-doc pairs (as `cfg.types` asks) from sections in file order; `main_language`: repository
    -> the language most of its code is in; `contaminated` says which example codes duplicate benchmark code."""
    modules: dict[str, str] = {}  # path -> the module its reST entries document so far
    classes: dict[str, str] = {}  # path -> the class entry seen last
    for section in sections:
        rst = section.path.lower().endswith(".rst")
        if "doc-example" in cfg.types:
            examples = rst_examples(section.text) if rst else markdown_examples(section.text)
            for paragraph, tag, code in examples:
                pair = _example_pair(section, paragraph, tag, code, main_language, rst, cfg, stats)
                if pair is not None and contaminated(pair.code):
                    stats["drop:doc-example-contaminated"] += 1
                elif pair is not None:
                    yield pair
        if "api-doc" in cfg.types and rst:
            yield from _api_pairs(section, modules, classes, cfg, stats)


def main_languages(units: Iterable[CodeUnit]) -> dict[str, str]:
    """Repository -> the language most of its units are in (the language of its untagged examples)."""
    counts: dict[str, Counter[str]] = {}
    for unit in units:
        counts.setdefault(unit.repo, Counter())[unit.language] += 1
    return {repo: languages.most_common(1)[0][0] for repo, languages in counts.items()}


def markdown_examples(text: str) -> Iterator[tuple[str, str, str]]:
    """(paragraph above, fence tag, code) for each fenced code block; the paragraph is '' when a heading, a table,
    html or another code block comes between."""
    lines = text.splitlines()
    paragraph: list[str] = []
    blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        if match := FENCE.match(line):
            fence = match.group(1)
            end = i + 1
            while end < len(lines) and not closes_fence(lines[end], fence):
                end += 1
            yield " ".join(paragraph), match.group(2).lower(), textwrap.dedent("\n".join(lines[i + 1 : end]))
            paragraph, blank, i = [], True, end + 1
            continue
        if not line.strip():
            blank = True
        elif _NOT_PROSE.match(line):
            paragraph, blank = [], False
        else:
            paragraph = [line.strip()] if blank else [*paragraph, line.strip()]
            blank = False
        i += 1


def rst_examples(text: str) -> Iterator[tuple[str, str, str]]:
    """(paragraph above, directive tag, code) for each literal block (`::`), code-block directive and doctest
    block; a paragraph that ends in `::` introduces the block under it (a lone `::` leaves the one before)."""
    lines = text.splitlines()
    paragraph = ""
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        indent = _indent(lines[i])
        if not stripped:
            i += 1
        elif match := _CODE_DIRECTIVE.match(stripped):
            i += 1
            while i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > indent:
                i += 1  # directive options
            code, i = _indented_block(lines, i, indent)
            yield paragraph, match.group(1).lower(), code
            paragraph = ""
        elif stripped.startswith(">>>"):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            yield paragraph, "pycon", textwrap.dedent("\n".join(lines[i:end]))
            paragraph, i = "", end
        elif stripped.startswith(".."):
            paragraph, i = "", i + 1  # another directive, a comment or a link target: its body reads on as text
            while i < len(lines) and lines[i].strip().startswith(":") and _indent(lines[i]) > indent:
                i += 1
        else:
            end = i
            while end < len(lines) and lines[end].strip() and not lines[end].strip().startswith((">>>", "..")):
                end += 1
            text_here = " ".join(line.strip() for line in lines[i:end])
            i = end
            if text_here.endswith("::"):
                introduces = paragraph if text_here == "::" else text_here
                code, i = _indented_block(lines, i, indent)
                if code:
                    yield introduces, "", code
                paragraph = ""
            else:
                paragraph = text_here


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], start: int, indent: int) -> tuple[str, int]:
    """The block of lines indented deeper than `indent` from `start` on (blank lines before it skipped), dedented,
    and the index after it."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n"), end


def _example_pair(section: DocSection, paragraph: str, tag: str, code: str, main_language: dict[str, str],
                  rst: bool, cfg: PairsConfig, stats: Counter[str]) -> Pair | None:
    language = LANGUAGE_TAGS.get(tag) if tag else main_language.get(section.repo) or ("python" if rst else None)
    if language is None:
        stats["drop:doc-example-language"] += 1
        return None
    code = _doctest_code(code)
    query = fit_query(prose(paragraph).rstrip(": "), cfg.min_tokens, cfg.max_tokens)
    if len(code.split()) < 2:
        stats["drop:doc-example-short-code"] += 1
        return None
    if query is None or sum(w.isalpha() for w in WORD.findall(query)) < MIN_WORDS:
        stats["drop:doc-example-no-prose"] += 1
        return None
    return Pair(query=query, code=code, pair_type="doc-example", language=language, repo=section.repo,
                path=section.path, symbol=section.heading.split(" > ")[-1], split="train")


def _doctest_code(code: str) -> str:
    """A doctest's statements without their prompts; its output lines are dropped. Other code is kept as it is."""
    lines = code.splitlines()
    if not any(line.startswith(">>>") for line in lines):
        return code
    return "\n".join(line[4:] for line in lines if line.startswith((">>> ", "... ")) or line in (">>>", "..."))


def prose(text: str) -> str:
    """reST/Markdown inline markup as the words a reader sees: roles (:func:`~os.path.join` -> join), literals,
    links and emphasis."""
    text = _ROLE.sub(lambda m: (m.group(3) or m.group(2)).split(".")[-1] if m.group(1) else m.group(3) or m.group(2),
                     text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    return " ".join(_MARKUP.sub("", text).split())


def _api_pairs(section: DocSection, modules: dict[str, str], classes: dict[str, str], cfg: PairsConfig,
               stats: Counter[str]) -> Iterator[Pair]:
    lines = section.text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if match := _MODULE.match(stripped):
            modules[section.path], classes[section.path] = match.group(1), ""
            continue
        if not (match := _API.match(stripped)):
            continue
        kind, indent = match.group(1), _indent(line)
        signatures = [match.group(2).strip()]
        j = i + 1
        while j < len(lines) and lines[j].strip() and _indent(lines[j]) > indent \
                and not lines[j].strip().startswith((":", "..")):
            signatures.append(lines[j].strip())  # more signatures of the same entry
            j += 1
        while j < len(lines) and (not lines[j].strip() or lines[j].strip().startswith(":")
                                  or (lines[j].strip().startswith("..") and _indent(lines[j]) > indent)):
            if lines[j].strip().startswith(".."):  # a note or deprecation before the description: not it
                j = _indented_block(lines, j + 1, _indent(lines[j]))[1]
            else:
                j += 1  # options (:noindex:, :type:) and blank lines
        description = []
        while j < len(lines) and lines[j].strip() and _indent(lines[j]) > indent:
            description.append(lines[j].strip())
            j += 1
        module, cls = modules.get(section.path, ""), classes.get(section.path, "") if kind in _MEMBER_KINDS else ""
        names = [_qualified(signature, module, cls) for signature in signatures]
        if kind in ("class", "exception"):
            classes[section.path] = signatures[0].split("(")[0].strip().rpartition(".")[2]
        summary = _SENTENCE_END.split(prose(" ".join(description)), maxsplit=1)[0]
        query = fit_query(summary, cfg.min_tokens, cfg.max_tokens)
        if query is None or sum(w.isalpha() for w in WORD.findall(query)) < MIN_API_WORDS:
            stats["drop:api-doc-no-description"] += 1
            continue
        yield Pair(query=query, code="\n".join(names), pair_type="api-doc", language="python", repo=section.repo,
                   path=section.path, symbol=names[0].split("(")[0], split="train")


def _qualified(signature: str, module: str, cls: str) -> str:
    """`getsize(path)` in module `os.path` -> `os.path.getsize(path)`; a method's name gets its class too, and a
    name already qualified (`Counter.update(...)`) gets only the module it lacks."""
    name = signature.split("(")[0].strip()
    if "." in name:
        return signature if not module or name.startswith(module + ".") else f"{module}.{signature}"
    prefix = ".".join(part for part in (module, cls) if part)
    return f"{prefix}.{signature}" if prefix else signature
