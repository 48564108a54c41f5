"""Exact and near deduplication (MinHash LSH) with deterministic keep-first, and benchmark decontamination.

Signatures are computed where the text is (in the parallel workers) and only the small hash arrays
travel to the single process that owns the LSH index, so the order items are offered in decides
which copy survives, never timing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from codesift.log import get_logger

TOKEN = re.compile(r"\w+|[^\w\s]")
SEED = 1
SCHEME = "affine32"  # datasketch 2.x default; hash values only compare within one scheme
log = get_logger(__name__)


def normalize_code(text: str) -> str:
    """Whitespace-insensitive form: reformatting or re-indenting a copy must not make it unique."""
    return " ".join(text.split())


def exact_key(text: str) -> str:
    return hashlib.blake2b(normalize_code(text).encode(), digest_size=16).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    """Word-level n-grams over code tokens (identifiers, numbers and single punctuation marks)."""
    tokens = TOKEN.findall(text)
    if len(tokens) < size:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def minhash_signature(text: str, num_perm: int, shingle_size: int) -> np.ndarray:
    mh = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME)
    mh.update_batch(shingles(text, shingle_size))
    return mh.hashvalues.astype(np.uint64)


class NearDuplicateFilter:
    """Keeps the first item of every near-duplicate cluster (estimated Jaccard >= threshold)."""

    def __init__(self, threshold: float, num_perm: int):
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.threshold = threshold
        self._kept: dict[str, LeanMinHash] = {}

    def _minhash(self, signature: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=SEED, hashvalues=signature, scheme=SCHEME)

    def matches(self, signature: np.ndarray) -> bool:
        """Whether a kept item is a near-duplicate; LSH candidates are confirmed by their estimated Jaccard."""
        mh = self._minhash(signature)
        return any(self._confirm(mh, key) for key in self.lsh.query(mh))

    def _confirm(self, mh: LeanMinHash, key: str) -> bool:
        return mh.jaccard(self._kept[key]) >= self.threshold

    def add(self, signature: np.ndarray) -> None:
        mh = self._minhash(signature)
        key = str(len(self._kept))
        self._kept[key] = mh
        self.lsh.insert(key, mh)

    def keep(self, signature: np.ndarray) -> bool:
        """Offer an item: True (and remember it) unless it near-duplicates one kept before."""
        if self.matches(signature):
            return False
        self.add(signature)
        return True


class BenchmarkGuard:
    """Flags code that duplicates or near-duplicates any function of the external benchmarks."""

    def __init__(self, texts: Iterable[str], threshold: float, num_perm: int, shingle_size: int):
        self.exact: set[str] = set()
        self.near = NearDuplicateFilter(threshold, num_perm)
        self.num_perm, self.shingle_size = num_perm, shingle_size
        for text in texts:
            self.exact.add(exact_key(text))
            self.near.add(minhash_signature(text, num_perm, shingle_size))

    def __len__(self) -> int:
        return len(self.exact)

    def contaminated(self, exact: str, signature: np.ndarray) -> bool:
        return exact in self.exact or self.near.matches(signature)

    def contains(self, text: str) -> bool:
        """`contaminated` for a text whose key and signature were not computed yet."""
        return self.contaminated(exact_key(text), minhash_signature(text, self.num_perm, self.shingle_size))


def benchmark_texts(benchmarks_dir: Path) -> list[str]:
    """Every code text of the benchmarks folder (data/benchmarks): the CoSQA pool and CodeSearchNet Ruby test + valid.
    A missing file is logged and skipped, so a partial copy still decontaminates what it holds."""
    texts: list[str] = []
    cosqa = benchmarks_dir / "cosqa" / "code_idx_map.txt"
    if cosqa.exists():
        texts.extend(json.loads(cosqa.read_text(encoding="utf-8")).keys())
    else:
        log.warning("%s not found: training data is not decontaminated against CoSQA", cosqa)
    for split in ("test", "valid"):
        path = benchmarks_dir / "csn-ruby" / f"{split}.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                texts.extend(json.loads(line)["code"] for line in fh if line.strip())
        else:
            log.warning("%s not found: training data is not decontaminated against it", path)
    return texts


def load_exclusions(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            names.add(line)
    return names


def repo_excluded(repo: str, exclusions: set[str]) -> bool:
    """Match a repo/package name with or without owner, scope or version: 'github.com/gin-gonic/gin',
    '@trpc/server', 'tokio-1.24.2' and 'Flask' all hit their exclusion-list entries."""
    name = repo.lower().strip("/")
    parts = [p for p in re.split(r"[/]", name) if p]
    candidates = {name, *parts}
    candidates |= {p.lstrip("@") for p in parts}
    candidates |= {re.sub(r"-v?\d+(\.\d+)*([-+.][\w.]+)?$", "", p) for p in parts}
    candidates |= {re.sub(r"[-_.]+", "-", c) for c in list(candidates)}
    return bool(candidates & exclusions)
