"""Training pairs from code units and README sections, with train/val/test held out by repository.

Four pair types teach four kinds of query: a doc summary (what the code does), a signature
(what it is called and takes), a README section (how a project describes a piece of itself) and a
commit message (what a change to the code did, in the words of the person who made it).
The search-shaped types (names, file docs, questions, comments) are built in search_pairs.py, the ones from
documentation (code examples, API reference entries) in doc_pairs.py.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from codesift.config import HELDOUT_TYPES, PairsConfig
from codesift.data.doc_pairs import doc_pairs, main_languages
from codesift.data.doccomments import doc_summary
from codesift.data.extract import is_test_path
from codesift.data.query_text import clean_query, fit_query, token_count
from codesift.data.search_pairs import call_pairs, comment_pairs, file_pairs, identifier_pairs, question_pairs
from codesift.records import CodeUnit, CommitUnit, DocSection, Pair

INLINE_CODE = re.compile(r"`([A-Za-z_][\w.]*)(?:\(\))?`")


def strip_signature(body: str, signature: str) -> str | None:
    """The body without its declaration header, or None when no line of the body starts the signature.

    The header is found by walking the signature's non-space characters, so it may span lines and
    follow decorators or attributes, which are dropped with it.
    """
    wanted = [c for c in signature if not c.isspace()]
    if not wanted:
        return None
    offset = 0
    for line in body.splitlines(keepends=True)[:20]:
        if line.lstrip().startswith(wanted[0]):
            end = _walk(body, offset, wanted)
            if end is not None:
                rest = body[end:].lstrip(" \t").removeprefix("{").removeprefix(":").strip("\n")
                return rest if rest.strip() else None
        offset += len(line)
    return None


def _walk(body: str, start: int, wanted: list[str]) -> int | None:
    i = 0
    for pos in range(start, len(body)):
        char = body[pos]
        if char.isspace():
            continue
        if char != wanted[i]:
            return None
        i += 1
        if i == len(wanted):
            return pos + 1
    return None


def _fits(query: str, cfg: PairsConfig) -> bool:
    return cfg.min_tokens <= token_count(query) <= cfg.max_tokens


def unit_pairs(unit: CodeUnit, cfg: PairsConfig, rng: random.Random) -> Iterator[Pair]:
    """doc -> body (the doc removed, sometimes the signature too) and signature -> body (header removed)."""
    if "doc-body" in cfg.types and unit.doc:
        query = doc_summary(unit.doc)
        if _fits(query, cfg):
            code = unit.body
            if rng.random() < cfg.hard_positive_rate:
                code = strip_signature(unit.body, unit.signature) or unit.body
            yield _pair(unit, query, code, "doc-body")
    if "signature-body" in cfg.types and unit.signature and unit.kind != "class":
        query = " ".join(unit.signature.split())
        code = strip_signature(unit.body, unit.signature)
        if code and _fits(query, cfg) and len(code.strip().splitlines()) >= 2:
            yield _pair(unit, query, code, "signature-body")


def readme_pairs(section: DocSection, units_by_symbol: dict[str, CodeUnit], cfg: PairsConfig) -> Iterator[Pair]:
    """A README section that names a symbol of its own repository (in `backticks`) -> that symbol's code."""
    if "readme-file" not in cfg.types:
        return
    query = fit_query(f"{section.heading.split(' > ')[-1]}: {_prose(section.text)}", cfg.min_tokens, cfg.max_tokens)
    if query is None:
        return
    for name in dict.fromkeys(m.group(1).split(".")[-1] for m in INLINE_CODE.finditer(section.text)):
        unit = units_by_symbol.get(name)
        if unit is not None:
            yield _pair(unit, query, unit.code, "readme-file")
            return


def commit_pairs(unit: CommitUnit, cfg: PairsConfig) -> Iterator[Pair]:
    """A commit's cleaned message -> a definition it changed, as the commit left it."""
    query = clean_query(unit.message)
    if "commit-body" in cfg.types and _fits(query, cfg):
        yield _pair(unit, query, unit.code, "commit-body")


def _prose(markdown: str) -> str:
    """Markdown text without fenced code blocks (they would leak the answer into the query) or backticks."""
    return re.sub(r"```.*?```|~~~.*?~~~", " ", markdown, flags=re.DOTALL).replace("`", "")


def _pair(unit: CodeUnit, query: str, code: str, pair_type: str) -> Pair:
    return Pair(query=query, code=code, pair_type=pair_type, language=unit.language, repo=unit.repo,
                path=unit.path, symbol=unit.symbol, split="train")


def assign_splits(pair_counts: Counter[str], cfg: PairsConfig, seed: int) -> dict[str, str]:
    """Repository -> split. Repos are visited in a seeded hash order and fill test, then val, up to their
    share of pairs; a repo that would overshoot a split's share by half goes on to the next split, so one
    huge repository never swallows the test set."""
    total = sum(pair_counts.values())
    targets = [("test", cfg.test_fraction * total), ("val", cfg.val_fraction * total)]
    filled = {"test": 0, "val": 0}
    order = sorted(pair_counts, key=lambda r: hashlib.sha256(f"{seed}:{r}".encode()).hexdigest())
    splits = {}
    for repo in order:
        n = pair_counts[repo]
        splits[repo] = "train"
        for name, target in targets:
            if filled[name] < target and filled[name] + n <= target * 1.5:
                splits[repo] = name
                filled[name] += n
                break
    return splits


def build_pairs(units: Iterable[CodeUnit], sections: Iterable[DocSection], cfg: PairsConfig, seed: int,
                keep_tests: bool = False, commits: Iterable[CommitUnit] = (),
                files: Iterable[tuple[str, str, str, str]] = (),
                contaminated: Callable[[str], bool] = lambda code: False) -> tuple[list[Pair], Counter[str]]:
    """All pairs with splits assigned, plus counters of what was dropped and why. `commits`: the definitions
    git sources' commits changed; `files` ((repo, path, language, text) of the cleaned files) are only read for
    doc-file pairs; `contaminated` says which documentation examples duplicate benchmark code (doc-example pairs:
    their code never went through the data stage's decontamination).

    The search-shaped types (search_pairs.py) come after the others and draw from a random stream of their own,
    and splits are assigned from the held-out types' counts alone, before them: adding them changes no other pair
    and no split, and a call-doc pair never asks a held-out repository's doc.
    """
    rng = random.Random(seed)
    sections = list(sections)
    stats: Counter[str] = Counter()
    pairs: list[Pair] = []
    by_repo: dict[str, dict[str, CodeUnit]] = {}
    kept_units = []
    for unit in units:
        if unit.is_test and not keep_tests:
            stats["drop:test-unit"] += 1
            continue
        kept_units.append(unit)
        by_repo.setdefault(unit.repo, {}).setdefault(unit.symbol, unit)
        made = list(unit_pairs(unit, cfg, rng))
        stats["drop:no-pair"] += not made
        pairs.extend(made)
    for section in sections:
        pairs.extend(readme_pairs(section, by_repo.get(section.repo, {}), cfg))
    for changed in commits:
        if changed.is_test and not keep_tests:
            stats["drop:test-commit-unit"] += 1
            continue
        made = list(commit_pairs(changed, cfg))
        stats["drop:no-commit-pair"] += not made
        pairs.extend(made)
    first_repo: dict[tuple[str, str], str] = {}
    for pair in pairs:
        if pair.pair_type in HELDOUT_TYPES:
            first_repo.setdefault((pair.query, pair.code), pair.repo)
    splits = assign_splits(Counter(first_repo.values()), cfg, seed)
    search_rng = random.Random(f"{seed}:search")
    if "identifier-def" in cfg.types:
        pairs.extend(identifier_pairs(kept_units, cfg, search_rng, stats))
    if "question-body" in cfg.types:
        pairs.extend(question_pairs(kept_units, cfg, search_rng))
    if "comment-block" in cfg.types:
        pairs.extend(comment_pairs(kept_units, cfg, stats))
    if "call-doc" in cfg.types:
        held_out = {repo for repo, split in splits.items() if split != "train"}
        pairs.extend(call_pairs(kept_units, cfg, search_rng, stats, held_out))
    if "doc-file" in cfg.types:
        pairs.extend(file_pairs((f for f in files if keep_tests or not is_test_path(f[1])), cfg, stats))
    if "doc-example" in cfg.types or "api-doc" in cfg.types:
        pairs.extend(doc_pairs(sections, main_languages(kept_units), cfg, stats, contaminated))
    seen: set[tuple[str, str]] = set()
    unique = []
    for pair in pairs:
        key = (pair.query, pair.code)
        if key in seen:
            stats["drop:duplicate-pair"] += 1
            continue
        seen.add(key)
        unique.append(pair)
    for pair in unique:
        pair.split = splits.get(pair.repo, "train")
        stats[f"pairs:{pair.split}"] += 1
    return unique, stats
