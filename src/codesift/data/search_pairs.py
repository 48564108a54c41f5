"""Pairs shaped like what people type into code search (issue 23), beside pairs.py's docstring ones.

Three pair types, each weighted (or dropped with 0) by `train.pair_type_weights`:
- `identifier-def`: a name -> its definition. The query is the name as written (`read_json_file`), its words
  ("read json file") or, for a method, qualified by its class (`Config.read_json_file`, `Config::new` in Rust).
  Names defined more often than `pairs.max_identifier_defs` times in the corpus (`run`, `__init__`) are no query.
- `doc-file`: a module, package or file header doc (Python module docstring, Go package comment, Rust `//!`,
  a JS/TS leading `/** */`) -> the file it describes, with that doc taken out of it: answers at file level.
- `question-body`: a doc summary asked as a question ("where is the header line parsed", "how does
  `load_plugins` work", "how do i parse the header line") -> the body, as doc-body gives it.
- `comment-block`: a comment inside a body ("# retry once the connection was reset") -> the lines it introduces:
  a developer's own words for a few lines of code, the shape of most typed queries.
- `call-doc`: the doc summary of a function that a short undocumented function calls -> that caller ("Serialize
  obj to a JSON formatted str" -> `def to_json(d): return json.dumps(d, indent=2)`): the small wrappers people
  search for, described by the API they wrap, in words a user types about what the code does.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from pathlib import PurePosixPath

from codesift.config import PairsConfig
from codesift.data.doccomments import block_doc, doc_summary, line_doc
from codesift.data.english import is_english
from codesift.records import CodeUnit, Pair

NAME_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_NOT_DOC = re.compile(r"copyright|licen[cs]e|spdx|generated|do not edit|\(c\)|all rights reserved", re.I)
_MARKUP = re.compile(r"(?::\w+)+:`~?\.?([^`]+)`|\{@\w+\s+([^}]+)\}|[`*]+|<[^>]+>")
_NOT_VERBS = frozenset("a an the this that these those it its if when whether for in on of to internal "
                       "all some any each every one two base abstract default simple generic helper utility class function "
                       "method wrapper object module constructor type interface struct enum trait test".split())
_IRREGULAR = {"get": "got", "set": "set", "put": "put", "read": "read", "write": "written", "run": "run",
              "find": "found", "build": "built", "make": "made", "send": "sent", "take": "taken", "give": "given",
              "begin": "begun", "split": "split", "hold": "held", "keep": "kept", "bind": "bound", "cut": "cut",
              "let": "let", "reset": "reset", "seek": "sought", "spawn": "spawned", "throw": "thrown",
              "choose": "chosen", "draw": "drawn", "show": "shown", "feed": "fed", "lead": "led", "leave": "left",
              "lose": "lost", "hide": "hidden", "shut": "shut", "stop": "stopped", "drop": "dropped",
              "wrap": "wrapped", "map": "mapped", "strip": "stripped", "skip": "skipped", "emit": "emitted",
              "submit": "submitted", "commit": "committed", "plot": "plotted", "pad": "padded", "tag": "tagged"}
_NOT_WORDS = re.compile(r"[^a-z0-9 ]")


def name_words(name: str) -> str:
    """`readJSONFile`, `read_json_file` -> "read json file"."""
    return " ".join(part.lower() for part in NAME_PART.findall(name))


def identifier_pairs(units: Iterable[CodeUnit], cfg: PairsConfig, rng: random.Random,
                     stats: Counter[str]) -> Iterator[Pair]:
    """identifier -> definition, one pair per unit whose name (or qualified name) is rare enough to be asked for."""
    units = list(units)
    defined = Counter(u.symbol.lower() for u in units)
    qualified_defined = Counter(_qualified(u).lower() for u in units if u.parent)
    for unit in units:
        name = unit.symbol
        if len(name) < 4 or name.startswith("__") or not any(c.isalpha() for c in name):
            stats["identifier:too-short"] += 1
            continue
        qualified = _qualified(unit) if unit.parent else None
        forms = []
        if defined[name.lower()] <= cfg.max_identifier_defs:
            forms += [name, name_words(name)]
        if qualified and qualified_defined[qualified.lower()] <= cfg.max_identifier_defs:
            forms += [qualified, qualified]
        if not forms:
            stats["identifier:ambiguous"] += 1
            continue
        query = rng.choice(forms)
        if query:
            yield Pair(query=query, code=unit.code, pair_type="identifier-def", language=unit.language,
                       repo=unit.repo, path=unit.path, symbol=unit.symbol, split="train")


def _qualified(unit: CodeUnit) -> str:
    parent = (unit.parent or "").split(".")[-1].split("::")[-1]
    parent = re.sub(r"<.*", "", parent).strip()  # Rust/Java generics: impl Foo<T> -> Foo
    return f"{parent}{'::' if unit.language == 'rust' else '.'}{unit.symbol}"


# ----------------------------------------------------------------------------------------------- file docs

# Leading blank and comment lines are matched a line at a time ([ \t]*, never \s*: no backtracking blow-up).
_PY_DOCSTRING = re.compile(r'\A(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*[rRuU]?("""|\'\'\')(.*?)\1[ \t]*\n?', re.S)
_RUST_INNER = re.compile(r"\A(?:[ \t]*(?://(?![!/])[^\n]*)?\n)*((?:[ \t]*//![^\n]*\n)+)")
_GO_PACKAGE = re.compile(r"^package \w+", re.M)
_JS_LEADING = re.compile(r"\A(?:[ \t]*(?://[^\n]*|#![^\n]*)?\n)*[ \t]*(/\*\*.*?\*/)[ \t]*\n?", re.S)


def file_doc(text: str, language: str) -> tuple[str, str] | None:
    """(the file's own doc, the file without it), or None when the file has no doc of its own."""
    if language == "python":
        m = _PY_DOCSTRING.match(text)
        if m:
            import inspect

            return inspect.cleandoc(m.group(2)), text[: m.start(1)] + text[m.end() :]
    elif language == "rust":
        m = _RUST_INNER.match(text)
        if m:
            lines = [line.strip() for line in m.group(1).splitlines()]
            return line_doc(lines, "//!"), text[: m.start(1)] + text[m.end(1) :]
    elif language == "go":
        m = _GO_PACKAGE.search(text)
        if m:
            above = text[: m.start()].rstrip("\n").split("\n")
            comments = []
            while above and above[-1].lstrip().startswith("//"):
                comments.insert(0, above.pop().strip())
            if comments and not comments[0].startswith("//go:") and not comments[0].startswith("// +build"):
                return line_doc(comments, "//"), "\n".join(above) + "\n" + text[m.start() :]
    elif language in ("javascript", "typescript"):
        m = _JS_LEADING.match(text)
        if m:
            return block_doc(m.group(1)), text[: m.start(1)] + text[m.end() :]
    return None


def file_pairs(files: Iterable[tuple[str, str, str, str]], cfg: PairsConfig, stats: Counter[str]) -> Iterator[Pair]:
    """(repo, path, language, text) -> doc-file pairs: the file's own doc summary -> the file without it."""
    for repo, path, language, text in files:
        found = file_doc(text, language)
        if found is None:
            continue
        doc, rest = found
        query = " ".join(_MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", doc_summary(doc)).split())
        if not query or _NOT_DOC.search(doc[:400]):
            stats["doc-file:not-a-description"] += 1
            continue
        n_words = len(query.split())
        if n_words < cfg.min_tokens or n_words > cfg.max_tokens or not is_english(query):
            stats["doc-file:length-or-language"] += 1
            continue
        if len(rest.strip().splitlines()) < 3:
            stats["doc-file:no-code"] += 1
            continue
        yield Pair(query=query, code=rest.strip("\n"), pair_type="doc-file", language=language, repo=repo, path=path,
                   symbol=path.rsplit("/", 1)[-1], split="train")


# ----------------------------------------------------------------------------------------------- questions

def _third_person(verb: str) -> str:
    if verb.endswith(("s", "x", "ch", "sh", "z")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _participle(verb: str) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _base_form(word: str) -> str:
    """`Returns` -> return, `Applies` -> apply, `Matches` -> match, `Parse` -> parse."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def as_question(summary: str, name: str, rng: random.Random) -> str | None:
    """A doc summary (and the documented name) asked the way developers ask about code, or None when the summary
    does not start with a verb ("Return the ...", "Parses ...") and there is no name to ask about."""
    text = _MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", summary)
    text = re.split(r"(?<=[.!?])\s|;", text.strip(), maxsplit=1)[0].rstrip(".:,!").lower()
    words = _NOT_WORDS.sub(" ", text).split()[:12]
    thing = name_words(name) if name else ""
    if len(words) < 2 or words[0] in _NOT_VERBS or not words[0].isalpha():
        if not thing:
            return None
        return rng.choice([f"how does {thing} work", f"what is {thing} for", f"where is {thing} implemented"])
    verb, rest = _base_form(words[0]), " ".join(words[1:])
    templates = [f"how do i {verb} {rest}", f"how to {verb} {rest}", f"where is {rest} {_participle(verb)}",
                 f"how is {rest} {_participle(verb)}", f"what {_third_person(verb)} {rest}",
                 f"which function {_third_person(verb)} {rest}", f"where do we {verb} {rest}"]
    if thing:
        templates.append(f"how does {thing} work")
    return rng.choice(templates)


def question_pairs(units: Iterable[CodeUnit], cfg: PairsConfig, rng: random.Random) -> Iterator[Pair]:
    """Documented units -> their bodies, with the doc summary asked as a question."""
    for unit in units:
        if not unit.doc:
            continue
        query = as_question(doc_summary(unit.doc), unit.symbol, rng)
        if query and cfg.min_tokens <= len(query.split()) <= cfg.max_tokens:
            yield Pair(query=query, code=unit.body, pair_type="question-body", language=unit.language,
                       repo=unit.repo, path=unit.path, symbol=unit.symbol, split="train")


# ----------------------------------------------------------------------------------------------- comments

MAX_COMMENT_WORDS = 24  # longer comments explain a design, not the lines below them
MIN_BLOCK_CHARS = 24  # `i += 1` under "# next one" teaches nothing
_LINE_COMMENT = {"python": "#", "go": "//", "rust": "//", "java": "//", "javascript": "//", "typescript": "//"}
# tool directives, markers of unfinished work and commented-out code are no description of the lines below them
_DIRECTIVE = re.compile(r"\b(?:todo|fixme|xxx|hack|noqa|pragma|type:|pylint|eslint|nolint|clippy|nosec|fmt:|isort|"
                        r"mypy|ts-ignore|ts-expect-error|istanbul|prettier|jshint|coverage|safety|nocov)\b", re.I)
_CODE_IN_COMMENT = re.compile(r"[=;{}\[\]<>]|\w\(|\)$|^\w+[.:]\w|['\"]\s*:|"
                              r"^(?:return|import|from|if|for|let|const|var|def|fn)\b")


def comment_blocks(body: str, language: str) -> Iterator[tuple[str, str]]:
    """(comment, the lines it introduces) for each run of whole-line comments inside `body`: the lines below it at
    its indentation or deeper, up to the first blank line, the next comment or a line above its level."""
    marker = _LINE_COMMENT.get(language)
    if marker is None:
        return
    lines = body.splitlines()
    i = 1  # the first line is the signature
    while i < len(lines):
        stripped = lines[i].lstrip()
        if not stripped.startswith(marker) or stripped.startswith((marker + "!", "///", "//!")):
            i += 1
            continue
        indent = _indent(lines[i])
        words = []
        while i < len(lines) and lines[i].lstrip().startswith(marker) and _indent(lines[i]) == indent:
            words.append(lines[i].lstrip()[len(marker):].strip())
            i += 1
        block = []
        while i < len(lines) and lines[i].strip():
            if _indent(lines[i]) < indent or lines[i].lstrip().startswith(marker):
                break
            block.append(lines[i][indent:])
            i += 1
        if block:
            yield " ".join(" ".join(words).split()), "\n".join(block)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def comment_pairs(units: Iterable[CodeUnit], cfg: PairsConfig, stats: Counter[str]) -> Iterator[Pair]:
    """Comments inside bodies -> the lines they introduce; a unit gives at most `pairs.max_comments_per_unit`."""
    for unit in units:
        made = 0
        for comment, block in comment_blocks(unit.body, unit.language):
            if made == cfg.max_comments_per_unit:
                break
            if _DIRECTIVE.search(comment) or _CODE_IN_COMMENT.search(comment) or not is_english(comment):
                stats["comment:directive-or-code"] += 1
                continue
            n_words = len(comment.split())
            if n_words < cfg.min_tokens or n_words > min(cfg.max_tokens, MAX_COMMENT_WORDS) or len(block) < MIN_BLOCK_CHARS:
                stats["comment:length"] += 1
                continue
            made += 1
            yield Pair(query=comment.rstrip(".:"), code=block, pair_type="comment-block", language=unit.language,
                       repo=unit.repo, path=unit.path, symbol=unit.symbol, split="train")


# --------------------------------------------------------------------------------------------------- calls

MAX_CALLER_LINES = 12  # a longer function does more than the one call it is paired with says
MAX_CALLERS_PER_DOC = 4  # `os.path.join` is called everywhere: one popular doc must not fill the pair type
_CALL = re.compile(r"(?:\b(\w+)(?:\.|::))?\b([A-Za-z_]\w*)\s*\(")
_FILE_STEMS = frozenset({"__init__", "mod", "index", "lib", "main"})  # the module is the folder's name


def _module(unit: CodeUnit) -> str:
    """The name a call site qualifies `unit` with: its class, or its module (`json/__init__.py` -> json,
    `strings/strings.go` -> strings, `fs/mod.rs` -> fs)."""
    if unit.parent:
        return re.sub(r"<.*", "", unit.parent.split(".")[-1].split("::")[-1]).strip().lower()
    path = PurePosixPath(unit.path)
    if unit.language == "go" or path.stem in _FILE_STEMS:
        return path.parent.name.lower()
    return path.stem.lower()


def _resolve(qualifier: str, name: str, caller: CodeUnit, documented: dict[str, list[CodeUnit]],
             max_defs: int) -> CodeUnit | None:
    """The documented definition a call `qualifier.name(` most likely reaches: the one in the caller's own
    repository, else the one whose class or module is the qualifier, else the only one; None when ambiguous."""
    defs = [d for d in documented.get(name, ()) if d.language == caller.language
            and (d.repo, d.path, d.symbol) != (caller.repo, caller.path, caller.symbol)]
    if not defs or len(defs) > max_defs and not qualifier:
        return None
    for pick in ([d for d in defs if d.repo == caller.repo],
                 [d for d in defs if qualifier and _module(d) == qualifier.lower()], defs):
        if len({doc_summary(d.doc) for d in pick}) == 1:
            return pick[0]
        if pick:
            return None
    return None


def call_pairs(units: Iterable[CodeUnit], cfg: PairsConfig, rng: random.Random, stats: Counter[str],
               held_out: Collection[str] = ()) -> Iterator[Pair]:
    """Short undocumented functions that call exactly one documented function -> that function's doc summary as
    the query; a doc pairs with `MAX_CALLERS_PER_DOC` callers at most (a seeded choice). A doc of a `held_out`
    repository is never a query: the held-out benchmark asks it."""
    units = list(units)
    documented: dict[str, list[CodeUnit]] = {}
    for unit in units:
        if unit.doc and unit.kind != "class":
            documented.setdefault(unit.symbol, []).append(unit)
    callers: dict[str, list[CodeUnit]] = {}
    for unit in units:
        if unit.doc or unit.kind == "class":
            continue
        lines = [line for line in unit.body.strip().splitlines() if line.strip()]
        if not 2 <= len(lines) <= MAX_CALLER_LINES:
            stats["call:length"] += 1
            continue
        body = "\n".join(lines[1:])  # the header line holds the unit's own name, not a call
        callees = {id(d): d for q, n in _CALL.findall(body)
                   if (d := _resolve(q, n, unit, documented, cfg.max_identifier_defs)) is not None}
        if len(callees) != 1:
            stats["call:none" if not callees else "call:several"] += 1
            continue
        callee = next(iter(callees.values()))
        if callee.repo in held_out:
            stats["call:held-out-doc"] += 1
            continue
        query = doc_summary(callee.doc)
        if cfg.min_tokens <= len(query.split()) <= cfg.max_tokens:
            callers.setdefault(query, []).append(unit)
    for query, group in callers.items():
        if len(group) > MAX_CALLERS_PER_DOC:
            stats["call:popular-doc"] += len(group) - MAX_CALLERS_PER_DOC
            group = rng.sample(group, MAX_CALLERS_PER_DOC)
        for unit in group:
            yield Pair(query=query, code=unit.code, pair_type="call-doc", language=unit.language,
                       repo=unit.repo, path=unit.path, symbol=unit.symbol, split="train")
