"""Contrastive training data: the pairs as arrays, and a seeded stream of batches.

A batch never holds the same code twice, nor the same query twice (either would put a true answer among the
negatives). Pair types are drawn in proportion to weight x count (weights 1 keep the corpus's own mix), and
batches either mix languages or take one language each (`grouped`: same-language negatives are harder). Some
doc->body positives get their doc written back into the code as a comment or docstring, so search over
documented code works as well as over bare bodies, and some doc queries are rewritten the way people type a
search (`web_query`), so short web-style questions land where the docstrings do. The stream depends only on the
seed: resuming replays the draws up to the saved step, which costs index arithmetic, not tokenization.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesift.config import PAIR_TYPES

_DOC_COMMENT = {"go": "// ", "rust": "/// ", "java": "/** ", "javascript": "/** ", "typescript": "/** "}
_LANGUAGE_NAMES = {"python": ("python",), "go": ("go", "golang"), "java": ("java",), "rust": ("rust",),
                   "javascript": ("javascript", "js"), "typescript": ("typescript", "ts")}
_MARKUP = [
    (re.compile(r"(?::\w+)+:`~?\.?([^`]+)`"), r"\1"),  # reStructuredText roles, :py:class:`~.X` -> X
    (re.compile(r"\{@\w+\s+([^}]+)\}"), r"\1"),  # javadoc {@link X}
    (re.compile(r"\[`?([^\]`]+)`?\](?:\([^)]*\))?"), r"\1"),  # markdown links and rustdoc [`X`]
    (re.compile(r"[`*]+|<[^>]+>"), ""),  # code ticks, emphasis, html tags
]
_NOT_VERBS = frozenset("a an the this that these those it its if when whether for in on of to internal".split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n\s*\n")


def content_id(text: str) -> int:
    """A 63-bit id of `text` with whitespace runs collapsed: equal ids are the same code or query."""
    digest = hashlib.blake2b(" ".join(text.split()).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def with_doc(code: str, doc: str, language: str) -> str:
    """`code` with `doc` written back the way its language documents a definition: a docstring after a Python
    header line, else a comment block above the definition."""
    doc = " ".join(doc.split())
    if language == "python":
        lines = code.split("\n")
        for i, line in enumerate(lines[:20]):
            if line.rstrip().endswith(":") and line.lstrip().startswith(("def ", "async def ", "class ")):
                body = next((x for x in lines[i + 1 :] if x.strip()), "    ")
                indent = body[: len(body) - len(body.lstrip())] or "    "
                return "\n".join([*lines[: i + 1], f'{indent}"""{doc}"""', *lines[i + 1 :]])
        return f"# {doc}\n{code}"
    prefix = _DOC_COMMENT.get(language, "// ")
    return f"{prefix}{doc}{' */' if prefix == '/** ' else ''}\n{code}"


def web_query(doc: str, language: str, rng: np.random.Generator) -> str:
    """`doc` as someone would type it into a search box: the first sentence without markup, lower case, no final
    stop; a third of the time after "how to" unless it starts with an article or the like ("Returns" becomes
    "return"), half of the time with the language's name before or after it."""
    text = doc
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    text = " ".join(_SENTENCE_END.split(text.strip(), maxsplit=1)[0].split()).rstrip(".:;,").lower()
    if not text:
        return doc
    words = text.split()
    draws = rng.random(3)
    if draws[0] < 1 / 3 and words[0] not in _NOT_VERBS:
        first = words[0]
        if len(first) > 3 and first.endswith("s") and not first.endswith("ss"):
            words[0] = first[:-1]
        words.insert(0, "how to")
    if draws[1] < 0.5:
        names = _LANGUAGE_NAMES.get(language, (language,))
        name = names[int(draws[2] * 2 * len(names)) % len(names)]
        words = [name, *words] if draws[2] < 0.5 else [*words, "in" if draws[2] < 0.75 else "", name]
    return " ".join(w for w in words if w)


@dataclass
class Examples:
    """Training pairs as parallel arrays; ids are content ids (see `content_id`)."""

    queries: list[str]
    codes: list[str]
    pair_types: np.ndarray
    languages: np.ndarray
    repos: np.ndarray | None = None  # the repository of each pair, for same-repository batches
    headers: list[str] | None = None  # "path symbol": the line the index embeds above each chunk
    query_ids: np.ndarray = field(init=False)
    code_ids: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not len(self.queries) == len(self.codes) == len(self.pair_types) == len(self.languages):
            raise ValueError("queries, codes, pair_types and languages must have the same length")
        if self.repos is not None and len(self.repos) != len(self.queries):
            raise ValueError("repos must have one entry per pair")
        self.query_ids = np.array([content_id(q) for q in self.queries], dtype=np.int64)
        self.code_ids = np.array([content_id(c) for c in self.codes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, index: np.ndarray) -> Examples:
        index = np.asarray(index, dtype=np.int64)
        return Examples([self.queries[i] for i in index], [self.codes[i] for i in index],
                        self.pair_types[index], self.languages[index],
                        None if self.repos is None else self.repos[index],
                        None if self.headers is None else [self.headers[i] for i in index])


def sample_rows(table, limit: int | None, seed: int):
    """A seeded sample of `limit` rows of a pyarrow table, in table order (all rows when it has no more)."""
    if limit is None or table.num_rows <= limit:
        return table
    return table.take(np.sort(np.random.default_rng(seed).choice(table.num_rows, limit, replace=False)))


def load_examples(parquet: str | Path, split: str, limit: int | None = None, seed: int = 0) -> Examples:
    """The pairs of one split (a seeded sample of `limit` of them if given), in file order."""
    from codesift.eval.benchmarks import read_pair_split

    path = Path(parquet)
    table = sample_rows(read_pair_split(path, split), limit, seed)
    unknown = set(table["pair_type"].to_pylist()) - set(PAIR_TYPES)
    if unknown:
        raise ValueError(f"{path}: unknown pair types {sorted(unknown)}; expected {list(PAIR_TYPES)}")
    return Examples(table["query"].to_pylist(), table["code"].to_pylist(),
                    np.array(table["pair_type"].to_pylist()), np.array(table["language"].to_pylist()),
                    np.array(table["repo"].to_pylist()),
                    [f"{p} {s}" for p, s in zip(table["path"].to_pylist(), table["symbol"].to_pylist())])


@dataclass
class Batch:
    """What one optimizer step embeds: B queries, their B positives, k x B hard negatives (query-major)."""

    queries: list[str]
    positives: list[str]
    negatives: list[str]
    query_ids: np.ndarray
    doc_ids: np.ndarray  # positives' ids, then negatives'
    index: np.ndarray  # the examples drawn


class BatchStream:
    """Seeded, resumable batches of distinct positives and queries from `examples`.

    `negatives` maps an example index to indices into `negative_pool` (default: `examples`) whose codes serve as
    its hard negatives (from mining); a query with fewer than `hard_negatives` of them is filled up with random
    codes of the pool. `own_batch_types`: pair types drawn in batches of their own (chosen in proportion to their
    weighted share), so their codes are never another type's in-batch negatives and theirs; the other types mix.
    """

    def __init__(
        self, examples: Examples, batch_size: int, seed: int, type_weights: Mapping[str, float] | None = None,
        group_languages: bool = False, doc_in_code_rate: float = 0.0, hard_negatives: int = 0,
        negatives: Mapping[int, np.ndarray] | None = None, negative_pool: Examples | None = None,
        query_style_rate: float = 0.0, repo_group: int = 1, code_header_rate: float = 0.0,
        own_batch_types: Collection[str] = (),
    ):
        self.examples, self.batch_size, self.seed = examples, batch_size, seed
        self.repo_group, self.code_header_rate = repo_group, code_header_rate
        if code_header_rate > 0 and examples.headers is None:
            raise ValueError("code_header_rate > 0 needs the pairs' paths and symbols (Examples.headers)")
        if repo_group > 1 and examples.repos is None:
            raise ValueError("repo_group > 1 needs the pairs' repositories (Examples.repos)")
        self.doc_in_code_rate, self.hard_negatives = doc_in_code_rate, hard_negatives
        self.query_style_rate = query_style_rate
        self.negatives = negatives or {}
        self.negative_pool = negative_pool if negative_pool is not None else examples
        weights = {t: 1.0 for t in PAIR_TYPES} | dict(type_weights or {})
        if unknown := set(weights) - set(PAIR_TYPES):
            raise ValueError(f"pair type weights name unknown types {sorted(unknown)}; expected {list(PAIR_TYPES)}")
        if unknown := set(own_batch_types) - set(PAIR_TYPES):
            raise ValueError(f"own_batch_types names unknown types {sorted(unknown)}; expected {list(PAIR_TYPES)}")
        self.own_batch_types = frozenset(own_batch_types)
        groups = sorted(set(examples.languages.tolist())) if group_languages else [None]
        self.pools: dict[tuple[str | None, str], np.ndarray] = {}
        for language in groups:
            for t in PAIR_TYPES:
                mask = examples.pair_types == t
                if language is not None:
                    mask &= examples.languages == language
                if mask.any() and weights[t] > 0:
                    self.pools[language, t] = np.flatnonzero(mask)
        if not self.pools:
            raise ValueError("no training pairs left after pair type weights (every present type has weight 0)")
        self.group_keys = groups
        self.mass = {key: weights[key[1]] * len(pool) for key, pool in self.pools.items()}
        for language in groups:
            for kind in {self._batch_kind(t) for g, t in self.pools if g == language}:
                distinct = len({int(examples.code_ids[i]) for (g, t), pool in self.pools.items()
                                if g == language and self._batch_kind(t) == kind for i in pool})
                if distinct < batch_size:
                    where = (f" of language {language}" if language else "") + (f" of type {kind}" if kind else "")
                    raise ValueError(f"batch_size {batch_size} exceeds the {distinct} distinct codes{where} in the "
                                     "training pairs; lower train.batch_size, use mixed-language batches or leave "
                                     "the type in mixed batches")
        self.rng = np.random.default_rng([seed, 0])
        self.cursor = {key: 0 for key in self.pools}
        self.epoch = {key: 0 for key in self.pools}
        self.order = {key: self._permutation(key) for key in self.pools}
        self.step = 0
        self.duplicates_skipped = 0

    def _batch_kind(self, pair_type: str) -> str | None:
        """The batch a pair of this type goes into: its type's own, or the mixed one (None)."""
        return pair_type if pair_type in self.own_batch_types else None

    def _permutation(self, key: tuple[str | None, str]) -> np.ndarray:
        """A pool's order for one epoch: shuffled, or with `repo_group` > 1 shuffled runs of up to that many pairs
        of one repository, so a batch holds same-repository neighbours: negatives that share its vocabulary."""
        salt = content_id(f"{key[0]}/{key[1]}") % 2**31
        rng = np.random.default_rng([self.seed, salt, self.epoch[key]])
        order = rng.permutation(self.pools[key])
        if self.repo_group <= 1:
            return order
        order = order[np.argsort(self.examples.repos[order], kind="stable")]  # by repository, shuffled within
        repos = self.examples.repos[order]
        starts = np.flatnonzero(np.r_[True, repos[1:] != repos[:-1]])
        position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        run_starts = np.flatnonzero(position % self.repo_group == 0)
        runs = np.split(order, run_starts[1:])
        return np.concatenate([runs[i] for i in rng.permutation(len(runs))])

    def _take(self, key: tuple[str | None, str]) -> int:
        if self.cursor[key] == len(self.order[key]):
            self.epoch[key] += 1
            self.order[key], self.cursor[key] = self._permutation(key), 0
        self.cursor[key] += 1
        return int(self.order[key][self.cursor[key] - 1])

    def _draw_indices(self) -> np.ndarray:
        keys = list(self.pools)
        if self.group_keys != [None]:
            language_mass = {g: sum(m for k, m in self.mass.items() if k[0] == g) for g in self.group_keys}
            names = [g for g in self.group_keys if language_mass[g] > 0]
            p = np.array([language_mass[g] for g in names])
            language = names[self.rng.choice(len(names), p=p / p.sum())]
            keys = [k for k in keys if k[0] == language]
        if self.own_batch_types:  # no draw otherwise: streams without it stay as they were
            kinds = sorted({self._batch_kind(k[1]) for k in keys}, key=str)
            kind_mass = np.array([sum(self.mass[k] for k in keys if self._batch_kind(k[1]) == kind) for kind in kinds])
            kind = kinds[self.rng.choice(len(kinds), p=kind_mass / kind_mass.sum())]
            keys = [k for k in keys if self._batch_kind(k[1]) == kind]
        p = np.array([self.mass[k] for k in keys])
        p = p / p.sum()
        chosen: list[int] = []
        codes: set[int] = set()
        queries: set[int] = set()
        attempts = 0
        while len(chosen) < self.batch_size:
            for key_i in self.rng.choice(len(keys), size=self.batch_size - len(chosen), p=p):
                i = self._take(keys[key_i])
                attempts += 1
                code, query = int(self.examples.code_ids[i]), int(self.examples.query_ids[i])
                if code in codes or query in queries:
                    self.duplicates_skipped += 1
                    continue
                chosen.append(i)
                codes.add(code)
                queries.add(query)
            if attempts > 50 * self.batch_size:
                raise ValueError(f"cannot fill a batch of {self.batch_size} distinct codes and queries; "
                                 "lower train.batch_size")
        return np.array(chosen, dtype=np.int64)

    def next(self) -> Batch:
        index = self._draw_indices()
        ex = self.examples
        positives = []
        with_doc_draws = self.rng.random(len(index))
        for i, r in zip(index, with_doc_draws, strict=True):
            code = ex.codes[i]
            if ex.pair_types[i] == "doc-body" and r < self.doc_in_code_rate:
                code = with_doc(code, ex.queries[i], str(ex.languages[i]))
            positives.append(code)
        if self.code_header_rate > 0:  # no draws otherwise: streams without it stay as they were
            for row, (i, r) in enumerate(zip(index, self.rng.random(len(index)), strict=True)):
                if r < self.code_header_rate:
                    positives[row] = f"{ex.headers[i]}\n{positives[row]}"
        queries = [ex.queries[i] for i in index]
        if self.query_style_rate > 0:  # no draws otherwise: streams without it stay as they were
            for row, (i, r) in enumerate(zip(index, self.rng.random(len(index)), strict=True)):
                if ex.pair_types[i] == "doc-body" and r < self.query_style_rate:
                    queries[row] = web_query(queries[row], str(ex.languages[i]), self.rng)
        neg_index = self._negatives(index)
        pool = self.negative_pool
        self.step += 1
        return Batch(
            queries=queries, positives=positives, negatives=[pool.codes[j] for j in neg_index],
            query_ids=ex.query_ids[index], doc_ids=np.concatenate([ex.code_ids[index], pool.code_ids[neg_index]]),
            index=index,
        )

    def _negatives(self, index: np.ndarray) -> np.ndarray:
        k = self.hard_negatives
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        out = np.empty((len(index), k), dtype=np.int64)
        for row, i in enumerate(index):
            mined = np.asarray(self.negatives.get(int(i), ()), dtype=np.int64)
            if len(mined) > k:
                mined = self.rng.choice(mined, k, replace=False)
            fill = self.rng.integers(0, len(self.negative_pool), size=k - len(mined))
            out[row] = np.concatenate([mined, fill])
        return out.reshape(-1)

    def skip(self, steps: int) -> None:
        """Advance `steps` batches without building them (resume)."""
        for _ in range(steps):
            self.next()
