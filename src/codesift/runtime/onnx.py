"""The runtime encoder: onnxruntime + tokenizers, no torch. What the index, `codesift search` and the service use.

    from codesift.runtime.onnx import load_encoder
    enc = load_encoder("runs/small/export")               # int8 when the export's gate passed it, else fp32
    out = enc.encode(["read a json file"], kind="query")  # Encoded(vectors, token_counts, truncated)

Export folder layout (written by `codesift export`, see codesift.export):

    encoder.json            format, dim, max_seq_len, pooling, lowercase, prefixes, document views (a definition's
                            doc and name added to a document's vector: codesift.runtime.views), revision (sha256
                            of the source weights), the model files per quantization with their sha256, the
                            default quantization and the quality gate's figures
    tokenizer.json          the model's tokenizer (Hugging Face tokenizers), padding and truncation off
    model.onnx              fp32 graph: (input_ids, attention_mask) int64 [batch, sequence] -> sentence_embedding
                            float32 [batch, dim], pooled and L2-normalized inside the graph
    model.int8.onnx         the same with int8 weights (dynamic quantization, per output channel)
    model.int8-static.onnx  optional: static QDQ int8 calibrated on held-out texts
    model.fp16.onnx         optional: float16 weights for GPUs (float32 inputs and outputs)
    gate.json               the quality gate: cosine to torch per precision, MRR per benchmark

Truncation policy: a text is tokenized in full (so `token_counts` is its true length, special tokens included),
then cut from the end to `max_seq_len` tokens, keeping the special tokens; `truncated` says where that happened.
`truncation="error"` raises instead. Batches are formed from texts of similar length (sorted by token count), each
padded only to its own longest text, and bounded by `batch_size` texts and `max_batch_tokens` padded tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from codesift.runtime.base import Encoded, InputKind, valid_text
from codesift.runtime.views import DocumentViews, add_views

FORMAT_VERSION = 1
ENCODER_JSON = "encoder.json"
TOKENIZER_JSON = "tokenizer.json"
GATE_JSON = "gate.json"
MODEL_FILES = {
    "fp32": "model.onnx",
    "int8": "model.int8.onnx",
    "int8-static": "model.int8-static.onnx",
    "fp16": "model.fp16.onnx",
}
Quantization = Literal["auto", "fp32", "int8", "int8-static", "fp16"]
INT8_SCALE = 127.0  # int8 output: round(v * 127); a unit vector's components lie in [-1, 1]


class ExportFolderError(ValueError):
    """The folder is not a complete codesift export (the message says what is missing or wrong)."""


@dataclass(frozen=True)
class EncoderMeta:
    """encoder.json: what a runtime needs to know about an exported model besides its graph."""

    dim: int
    max_seq_len: int
    revision: str
    files: dict[str, dict[str, Any]]
    default_quantization: str
    pooling: str = "mean"
    lowercase: bool = False
    prefixes: dict[str, str] = field(default_factory=dict)
    document_views: DocumentViews = field(default_factory=DocumentViews)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> EncoderMeta:
        path = folder / ENCODER_JSON
        if not path.is_file():
            raise ExportFolderError(f"{folder}: not a codesift export folder (no {ENCODER_JSON}); "
                                    "run `codesift export RECIPE` to make one")
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ExportFolderError(f"{path}: cannot read ({e})") from None
        if raw.get("format_version") != FORMAT_VERSION:
            raise ExportFolderError(f"{path}: format_version {raw.get('format_version')!r}, this codesift reads "
                                    f"{FORMAT_VERSION}; re-export the model")
        try:
            known = {k: raw[k] for k in ("dim", "max_seq_len", "revision", "files", "default_quantization")}
        except KeyError as e:
            raise ExportFolderError(f"{path}: missing key {e.args[0]!r}") from None
        optional = {k: raw[k] for k in ("pooling", "lowercase", "prefixes") if k in raw}
        try:
            views = DocumentViews(**raw.get("document_views", {}))
        except (TypeError, ValueError) as e:
            raise ExportFolderError(f"{path}: bad document_views {raw.get('document_views')!r} ({e})") from None
        rest = {k: v for k, v in raw.items() if k not in known and k not in optional and k != "document_views"}
        return cls(**known, **optional, document_views=views, extra=rest)

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "dim": self.dim, "max_seq_len": self.max_seq_len,
                "revision": self.revision, "files": self.files, "default_quantization": self.default_quantization,
                "pooling": self.pooling, "lowercase": self.lowercase, "prefixes": self.prefixes,
                **({"document_views": self.document_views.to_json()} if self.document_views.active else {}),
                **self.extra}


def session_options(intra_op_threads: int | None = None, inter_op_threads: int | None = None,
                    arena: bool = True, spinning: bool | None = None, sequential: bool = True):
    """onnxruntime SessionOptions: all graph optimizations, explicit thread pools, the CPU memory arena on or off.
    `spinning=False` stops idle pool threads from busy-waiting (better when other processes share the cores)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL if sequential else ort.ExecutionMode.ORT_PARALLEL
    for name, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0 (0 = onnxruntime's default), got {value}")
    if intra_op_threads is not None:
        so.intra_op_num_threads = intra_op_threads
    if inter_op_threads is not None:
        so.inter_op_num_threads = inter_op_threads
    so.enable_cpu_mem_arena = arena
    so.log_severity_level = 3
    if spinning is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
    return so


class OnnxEncoder:
    """Implements `codesift.runtime.base.Encoder` over one exported model file."""

    def __init__(self, session, tokenizer, meta: EncoderMeta, quantization: str, *, batch_size: int = 32,
                 max_batch_tokens: int | None = None, truncation: Literal["end", "error"] = "end",
                 query_prefix: str | None = None, document_prefix: str | None = None,
                 output_dtype: Literal["float32", "int8"] = "float32", folder: Path | None = None,
                 document_views: DocumentViews | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_batch_tokens is not None and max_batch_tokens < meta.max_seq_len:
            raise ValueError(f"max_batch_tokens ({max_batch_tokens}) must hold one full text ({meta.max_seq_len})")
        if truncation not in ("end", "error"):
            raise ValueError(f"truncation must be 'end' or 'error', got {truncation!r}")
        if output_dtype not in ("float32", "int8"):
            raise ValueError(f"output_dtype must be 'float32' or 'int8', got {output_dtype!r}")
        self.session, self.tokenizer, self.meta, self.folder = session, tokenizer, meta, folder
        self.document_views = meta.document_views if document_views is None else document_views
        self.dim, self.max_seq_len = meta.dim, meta.max_seq_len
        self.revision = self.document_views.revision(meta.revision)
        self.quantization = quantization
        self.batch_size, self.max_batch_tokens, self.truncation = batch_size, max_batch_tokens, truncation
        self.output_dtype = output_dtype
        self.prefixes = {"query": meta.prefixes.get("query", ""), "document": meta.prefixes.get("document", "")}
        if query_prefix is not None:
            self.prefixes["query"] = query_prefix
        if document_prefix is not None:
            self.prefixes["document"] = document_prefix
        self._n_special = tokenizer.num_special_tokens_to_add(False)
        self._pad = int(meta.extra.get("pad_token_id", 0))
        names = [i.name for i in session.get_inputs()]
        if names[:2] != ["input_ids", "attention_mask"]:
            raise ExportFolderError(f"model inputs are {names}; expected input_ids, attention_mask first")
        self._token_types = "token_type_ids" in names
        self.calls = 0  # session runs so far (batches), for tests and service metrics

    def __repr__(self) -> str:
        return (f"OnnxEncoder(dim={self.dim}, max_seq_len={self.max_seq_len}, quantization={self.quantization!r}, "
                f"revision={self.revision[:12]!r})")

    # --- tokenization -------------------------------------------------------------------------------------------

    def _prepare(self, texts: Sequence[str], kind: InputKind) -> list[str]:
        if kind not in ("query", "document"):
            raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string; wrap it in a list")
        prefix = self.prefixes[kind]
        out = [prefix + valid_text(t) for t in texts]
        return [t.lower() for t in out] if self.meta.lowercase else out

    def count_tokens(self, texts: Sequence[str], kind: InputKind = "document") -> list[int]:
        """Tokens per text before truncation, special tokens (and the kind's prefix) included."""
        encodings = self.tokenizer.encode_batch_fast(self._prepare(texts, kind), add_special_tokens=False)
        return [len(e) + self._n_special for e in encodings]

    def tokenize(self, texts: Sequence[str], kind: InputKind = "document") -> tuple[list[list[int]], list[int]]:
        """Token ids per text after the truncation policy (special tokens added), and the counts before it."""
        encodings = self.tokenizer.encode_batch_fast(self._prepare(texts, kind), add_special_tokens=False)  # no offsets
        keep = self.max_seq_len - self._n_special
        ids, counts = [], []
        for i, enc in enumerate(encodings):
            counts.append(len(enc) + self._n_special)
            if len(enc) > keep:
                if self.truncation == "error":
                    raise ValueError(f"text {i} has {counts[-1]} tokens, more than max_seq_len={self.max_seq_len} "
                                     "(truncation='error')")
                enc.truncate(keep)
            ids.append(self.tokenizer.post_process(enc).ids if self._n_special else enc.ids)
        return ids, counts

    # --- inference ----------------------------------------------------------------------------------------------

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Positions grouped into batches of similar length, longest first: at most `batch_size` texts and at most
        `max_batch_tokens` tokens once padded to the batch's longest text."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        out: list[list[int]] = []
        for i in order:
            if out:
                batch = out[-1]
                width = lengths[batch[0]]  # the longest, since the order is descending
                fits_tokens = self.max_batch_tokens is None or width * (len(batch) + 1) <= self.max_batch_tokens
                if len(batch) < self.batch_size and fits_tokens:
                    batch.append(i)
                    continue
            out.append([i])
        return out

    def run_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings for already-tokenized texts (one padded batch; no bucketing)."""
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if self._token_types:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        self.calls += 1
        return self.session.run(None, feed)[0]

    def encode(self, texts: Sequence[str], kind: InputKind = "document", dtype: str | None = None) -> Encoded:
        """Unit vectors for `texts` in input order (documents with their views added, when the export has them);
        `dtype="int8"` (or output_dtype) gives round(v * 127) as int8."""
        dtype = dtype or self.output_dtype
        if dtype not in ("float32", "int8"):
            raise ValueError(f"dtype must be 'float32' or 'int8', got {dtype!r}")
        ids, counts = self.tokenize(texts, kind)
        vectors = self._run(ids)
        if kind == "document" and self.document_views.active:
            vectors = add_views(texts, vectors, self.document_views, lambda parts: self._run(self.tokenize(parts)[0]))
        if dtype == "int8":
            vectors = quantize_vectors(vectors)
        return Encoded(vectors, counts, [c > self.max_seq_len for c in counts])

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
        for batch in self.batches([len(x) for x in ids]):
            vectors[batch] = self.run_ids([ids[i] for i in batch])
        return vectors


def quantize_vectors(vectors: np.ndarray) -> np.ndarray:
    """float unit vectors -> int8 (round(v * 127)); dot products / 127**2 approximate the cosines."""
    return np.clip(np.rint(vectors * INT8_SCALE), -127, 127).astype(np.int8)


def available(folder: str | Path) -> dict[str, Path]:
    """The quantizations an export folder holds: name -> model file."""
    folder = Path(folder)
    meta = EncoderMeta.read(folder)
    return {q: folder / info["file"] for q, info in meta.files.items() if (folder / info["file"]).is_file()}


def load_encoder(path: str | Path, *, quantization: Quantization = "auto", intra_op_threads: int | None = None,
                 inter_op_threads: int | None = None, arena: bool = True, spinning: bool | None = None,
                 providers: Sequence[str] | None = None, batch_size: int = 32, max_batch_tokens: int | None = None,
                 truncation: Literal["end", "error"] = "end", query_prefix: str | None = None,
                 document_prefix: str | None = None, output_dtype: Literal["float32", "int8"] = "float32",
                 document_views: DocumentViews | None = None) -> OnnxEncoder:
    """An `OnnxEncoder` over the export folder `path`.

    quantization: "auto" takes fp16 on a CUDA provider when exported, else the export's default (int8 when it passed
    the quality gate, else fp32); or name one: fp32, int8, int8-static, fp16. Threads: None leaves onnxruntime's
    default (one per physical core); `arena=False` turns the CPU memory arena off (lower resident memory, slower
    first runs); `spinning` sets whether idle pool threads busy-wait (None: onnxruntime's default, on).
    `document_views` replaces the export's own (`DocumentViews()`: plain mean pooling).
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: export folder not found")
    meta = EncoderMeta.read(folder)
    have = available(folder)
    providers = list(providers or ["CPUExecutionProvider"])
    if unknown := [p for p in providers if p not in ort.get_available_providers()]:
        raise ValueError(f"providers {unknown} are not available here; available: {ort.get_available_providers()}")
    if quantization == "auto":
        gpu = providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        quantization = "fp16" if gpu and "fp16" in have else meta.default_quantization
    if quantization not in MODEL_FILES:
        raise ValueError(f"quantization must be auto or one of {', '.join(MODEL_FILES)}, got {quantization!r}")
    if quantization not in have:
        raise ExportFolderError(f"{folder}: no {quantization} model ({MODEL_FILES[quantization]}); this export has "
                                f"{', '.join(sorted(have)) or 'none'}")
    tok_path = folder / TOKENIZER_JSON
    if not tok_path.is_file():
        raise ExportFolderError(f"{folder}: {TOKENIZER_JSON} is missing")
    tokenizer = Tokenizer.from_file(str(tok_path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    so = session_options(intra_op_threads, inter_op_threads, arena, spinning)
    session = ort.InferenceSession(str(have[quantization]), so, providers=providers)
    return OnnxEncoder(session, tokenizer, meta, quantization, batch_size=batch_size,
                       max_batch_tokens=max_batch_tokens, truncation=truncation, query_prefix=query_prefix,
                       document_prefix=document_prefix, output_dtype=output_dtype, folder=folder,
                       document_views=document_views)

