"""Commit message -> the definitions the commit changed, from a git source's history.

A commit makes pairs when its message describes a change to code. Dropped, each with a counted reason: merges,
reverts and the commits they undid, fixups, version bumps and releases, formatting and lint commits, bots,
non-code conventional types (docs, ci, chore...) and short or stock messages ("fix", "wip", "Update README.md").
The message is cleaned to its first paragraph without issue references, sign-offs or conventional-commit types.
A definition changed when the commit's new revision of a file holds a function or method whose body (doc removed,
whitespace collapsed) no definition of the same name had before; a commit that changed none (a reformat, docs, a
version string) or more than MAX_DEFINITIONS (no message describes them all) makes no pairs; a message that
names some of its changed definitions pairs with those only. Definitions in docs folders are left out.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict

from tqdm.auto import tqdm

from codesift.config import DataConfig, SourceConfig
from codesift.data.dedup import exact_key, repo_excluded
from codesift.data.english import is_english
from codesift.data.extract import extract_units
from codesift.data.filters import file_drop_reason, license_drop_reason, unit_drop_reason
from codesift.data.git import Commit
from codesift.data.languages import detect_language
from codesift.data.sources import GitSource, open_git
from codesift.log import get_logger
from codesift.records import CodeUnit, CommitUnit, SourceFile

log = get_logger(__name__)
MAX_DEFINITIONS = 8  # a message cannot describe more changed definitions than this
MIN_WORDS = 3  # "Fix typo", "Update docs" say nothing a search would use
MIN_NAME_CHARS = 4  # a message naming a changed definition this long pairs with the named ones only
DOC_DIRS = {"doc", "docs", "docs_src", "documentation", "website"}  # example code of docs commits ("Add docs for X")
BOTS = {"dependabot", "renovate", "pre-commit-ci", "github-actions", "greenkeeper", "snyk-bot", "allcontributors"}
# conventional-commit types whose commits are not about what the code does
NON_CODE_TYPES = {"docs", "doc", "style", "ci", "build", "chore", "release", "deps", "dep", "test", "tests", "lint",
                  "format", "revert", "wip"}
CODE_TYPES = {"feat", "feature", "fix", "bugfix", "hotfix", "perf", "refactor", "enh", "enhancement", "improvement",
              "bug", "security", "api", "add", "new", "update", "change", "types", "typing", "compat", "misc"}

_TRAILER = re.compile(r"^(?:[\w-]+-by|Change-Id|Cc|Bug|Closes|Fixes|Refs?|See-also|PR-URL):.*$", re.I | re.M)
_PARAGRAPH = re.compile(r"\n\s*\n")
_CONVENTIONAL = re.compile(r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^)]*)\))?!?:\s*")
_TAG = re.compile(r"^\[(?P<tag>[^\]]{1,40})\]\s*")
_ISSUE_REF = re.compile(
    r"\s*[(\[](?:(?:fix(?:es|ed)?|close[sd]?|resolve[sd]?|refs?|see|pr|gh|issue)\s*:?\s*)?"
    r"(?:[\w.-]+/[\w.-]+)?(?:#|gh-)\d+(?:\s*,\s*(?:#|gh-)?\d+)*[)\]]"  # (#123), [#12], (fixes #12, #13)
    r"|,?\s*\b(?:fix(?:es|ed)?|close[sd]?|resolve[sd]?|refs?|see|part of|related to)\s*:?\s+"
    r"(?:[\w.-]+/[\w.-]+)?(?:#|gh-)\d+(?:\s*,\s*(?:and\s+)?(?:#|gh-)?\d+)*"  # Fixes #12, closes org/repo#3
    r"|(?<![\w&])(?:[\w.-]+/[\w.-]+)?(?:#|gh-)\d+\b",  # a bare #12, GH-12
    re.I)
_EMOJI_CODE = re.compile(r"(?<![\w:]):[a-z0-9_+-]+:(?![\w:])")  # :sparkles:, not std::io::Read
_SKIP_CI = re.compile(r"\[(?:skip ci|ci skip|no ci|skip-ci|ci-skip)\]", re.I)

_REVERT = re.compile(r"^\s*revert(?:s|ed)?\b", re.I)
_REVERTED = re.compile(r"this reverts commit ([0-9a-f]{7,40})", re.I)
_FIXUP = re.compile(r"^\s*(?:fixup|squash|amend)!", re.I)
_VERSION = r"v?\d+(?:\.\d+)+[\w.+-]*"
_RELEASE = re.compile(
    rf"^bump(?:ed|s|ing)?\b|^{_VERSION}$|\bversion\s*(?:to\s+|=\s*)?{_VERSION}|\bversion bump|\bbump(?:ed|ing)?\b.*\bversion"
    rf"|^(?:release|releasing|released|tag|tagged|tagging|cut|publish|published)\s*:?\s+(?:version\s+)?{_VERSION}"
    rf"|\b(?:released?|releasing)\s+(?:version\s+)?{_VERSION}|^prepar\w*\s+(?:for\s+)?(?:the\s+)?(?:next\s+)?"
    rf"(?:release|version|{_VERSION})|^back to development|\bdevelopment cycle\b|\bchange ?log\b|\brelease notes\b"
    rf"|^(?:start|begin|open)\w*\s+(?:the\s+)?{_VERSION}",
    re.I)
_FORMATTING = re.compile(
    r"\b(?:re-?format(?:s|ted|ting)?|formatting|auto-?format\w*|format(?:ted|s)?\s+(?:the\s+)?(?:code|files?|with|"
    r"using|by|according|source)|black|blacken(?:ed)?|prettier|prettify|gofmt|go fmt|rustfmt|cargo fmt|isort|autopep8"
    r"|yapf|pre-commit|precommit|lint(?:s|ing|er|ers)?|flake8|pylint|eslint|tslint|clippy|ruff|mypy|whitespaces?"
    r"|trailing (?:spaces?|commas?)|code ?style|coding style|pep ?8|indentation|typos?|spelling)\b",
    re.I)
_UNINFORMATIVE = re.compile(
    r"^(?:apply|applied|incorporate|address(?:ed|ing)?)\s+(?:\w+\s+)?(?:suggestions?|review|comments?|feedback)\b"
    r"|^(?:update|create|delete|add|rename|remove|move)d?\s+[\w./-]+\.\w+$"  # GitHub's web editor defaults
    r"|^(?:initial|first)\s+(?:commit|import|version)\b|^(?:more|minor|small|some|various)\s+(?:fix|fixes|changes"
    r"|tweaks?|cleanups?|work|improvements|refactor\w*)\b|^fix(?:es|ed)?\s+(?:the\s+|a\s+)?(?:tests?|build|ci|bug"
    r"|typo|docs?|merge|conflicts?)$|^merged?\s+(?:(?:the\s+)?(?:branch|pull request|remote|tag|upstream|master|main|"
    r"develop)\b|\S+\s+(?:into|from)\b)|^wip\b",
    re.I)


def clean_message(message: str) -> str:
    """The first paragraph of a commit message on one line, without trailers, issue references, emoji, a
    conventional-commit type (its scope stays as a word: 'fix(parser): x' -> 'parser: x') or a [tag] bracket."""
    text = _TRAILER.sub("", message)
    text = " ".join(_PARAGRAPH.split(text.strip(), maxsplit=1)[0].split())
    text = _SKIP_CI.sub(" ", _EMOJI_CODE.sub(" ", text))
    text = "".join(c for c in text if unicodedata.category(c) not in ("So", "Cs", "Co"))
    text = _ISSUE_REF.sub(" ", text).strip()
    if m := _TAG.match(text):
        text = f"{m['tag']}: {text[m.end():]}"
    if (m := _CONVENTIONAL.match(text)) and m["type"].lower() in CODE_TYPES | NON_CODE_TYPES:
        text = f"{m['scope']}: {text[m.end():]}" if m["scope"] and m["scope"] != "*" else text[m.end():]
    return " ".join(text.split()).strip(" -:;,")


def message_drop_reason(message: str, cleaned: str, author: str = "") -> str | None:
    """Why a commit's message makes no pair (None: it may): the raw message, its clean_message, its author."""
    first, *body = _PARAGRAPH.split(message.strip(), maxsplit=2)
    name = author.lower().removesuffix("[bot]")
    if author.lower().endswith("[bot]") or name in BOTS:
        return "bot"
    # a revert's subject, or the line git revert writes under it (not a squash's list of its commits' messages)
    if _REVERT.match(first) or (body and body[0].lstrip().lower().startswith("this reverts commit")):
        return "revert"
    if _FIXUP.match(message):
        return "fixup"
    if (m := _CONVENTIONAL.match(_TAG.sub("", first.strip()))) and m["type"].lower() in NON_CODE_TYPES:
        return "non-code-type"
    if _RELEASE.search(first) or _RELEASE.search(cleaned):
        return "release"
    if _FORMATTING.search(first):
        return "formatting"
    if _UNINFORMATIVE.search(cleaned) or len(re.findall(r"[A-Za-z]{2,}", cleaned)) < MIN_WORDS:
        return "uninformative"
    if not is_english(cleaned):
        return "not-english"
    return None


def changed_definitions(old_text: str | None, new: SourceFile) -> list[CodeUnit]:
    """The functions and methods of `new` whose body (doc removed, whitespace collapsed) no definition of the same
    kind, class and name had in `old_text` (None: the file is new). Moving a definition changes nothing."""
    def units(text: str) -> list[CodeUnit]:
        found = extract_units(text, new.language, repo=new.repo, path=new.path, license=new.license)
        return [u for u in found if u.kind != "class"]

    before = Counter((u.kind, u.parent, u.symbol, exact_key(u.body)) for u in units(old_text)) if old_text else Counter()
    changed = []
    for unit in units(new.text):
        key = (unit.kind, unit.parent, unit.symbol, exact_key(unit.body))
        if before[key]:
            before[key] -= 1
        else:
            changed.append(unit)
    return changed


def commit_units(cfg: SourceConfig, data: DataConfig, exclusions: set[str],
                 stats: Counter[str]) -> Iterator[CommitUnit]:
    """Every definition a kept commit of the git source `cfg` changed, newest commit first, with its message.
    The repository is skipped (logged) when excluded or when its license at HEAD is not allowed."""
    if cfg.max_commits == 0:
        return
    source = open_git(cfg, data.max_file_bytes, stats)
    pkg = source.package
    with source.repo as repo:
        if pkg.meta["commit"] is None:
            return
        if repo_excluded(pkg.name, exclusions):
            log.info("git source %s: on the exclusion list, its commits are skipped", pkg.name)
            stats["commits:excluded-repo"] += 1
            return
        if reason := license_drop_reason(pkg.license, data):
            log.warning("git source %s: license %s at HEAD is not allowed (data.licenses), its commits are skipped",
                        pkg.name, pkg.license or "unknown")
            stats[f"commits:{reason}"] += 1
            return
        reverted: set[str] = set()  # commits a later one undid (the log is newest first)
        for commit in tqdm(repo.commits(cfg.max_commits), desc=f"commits {pkg.name}", unit="commit", mininterval=2):
            stats["commits:read"] += 1
            if any(commit.sha.startswith(sha) for sha in reverted):
                stats["commit-drop:reverted"] += 1
                continue
            reverted.update(sha.lower() for sha in _REVERTED.findall(commit.message))
            message = clean_message(commit.message)
            units, reason = _commit_definitions(commit, message, source, data, stats)
            if reason:
                stats[f"commit-drop:{reason}"] += 1
                continue
            stats["commits:kept"] += 1
            for unit in units:
                if reason := unit_drop_reason(unit) or _docs_path(unit.path):
                    stats[f"commit-drop-unit:{reason}"] += 1
                else:
                    yield CommitUnit(**asdict(unit), commit=commit.sha, message=message)


def _docs_path(path: str) -> str | None:
    return "docs-folder" if DOC_DIRS.intersection(path.lower().split("/")[:-1]) else None


def _commit_definitions(commit: Commit, message: str, source: GitSource, data: DataConfig,
                        stats: Counter[str]) -> tuple[list[CodeUnit], str | None]:
    """The definitions `commit` changed, or why it makes no pairs."""
    if len(commit.parents) > 1:
        return [], "merge"
    if reason := message_drop_reason(commit.message, message, commit.author):
        return [], reason
    code = []
    for change in commit.changes:
        language = detect_language(change.new_path) if change.new_path else None
        if change.new_blob and language and language.name in data.languages and not language.declaration \
                and source.readable(change.new_path):
            code.append((change, language.name))
    if not code:
        return [], "no-code-change"
    if len(code) > MAX_DEFINITIONS:
        return [], "too-many-definitions"
    units, compared, whitespace_only = [], 0, True
    for change, language in code:
        new_text = source.text(change.new_blob)
        old_text = source.text(change.old_blob) if change.old_blob else None
        if new_text is None:
            continue
        new = SourceFile(source.package.name, change.new_path, language, source.package.license, "git", new_text)
        if reason := file_drop_reason(new, data):
            stats[f"commit-drop-file:{reason}"] += 1
            continue
        compared += 1
        whitespace_only &= old_text is not None and "".join(old_text.split()) == "".join(new_text.split())
        units.extend(changed_definitions(old_text, new))
    if compared and whitespace_only:
        return [], "formatting"
    if not units:
        return [], "no-changed-definition"
    if len(units) > MAX_DEFINITIONS:
        return [], "too-many-definitions"
    named = named_definitions(message, units)
    stats["commit-drop-unit:not-named"] += len(units) - len(named)
    return named, None


def named_definitions(message: str, units: list[CodeUnit]) -> list[CodeUnit]:
    """The definitions a message names ('Simplify asdict and has' -> asdict, has) when it names any; else all."""
    words = set(re.findall(r"[A-Za-z_$][\w$]*", message))
    named = [u for u in units if len(u.symbol) >= MIN_NAME_CHARS and u.symbol in words]
    return named or units
