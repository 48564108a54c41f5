"""Typed recipe schema: one YAML file drives every stage.

Every section is a frozen pydantic model that forbids unknown keys, so a typo in a recipe
fails loudly with the file, the key and what is allowed instead of being silently ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from codesift.runtime.views import DocumentViews

LANGUAGES = ("python", "typescript", "javascript", "go", "java", "rust")
DEFAULT_LICENSES = (
    "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "PSF-2.0", "0BSD",
    "Unlicense", "CC0-1.0", "Zlib", "BSL-1.0", "MIT-0", "Python-2.0",
)

# What a training pair teaches (codesift.data.pairs, search_pairs): doc -> body, signature -> body, README section
# -> file (the held-out benchmark's three), commit message -> the definitions the commit changed (git sources), and
# the search-shaped ones: a name -> its definition, a file's own doc -> the file, a doc asked as a question -> body,
# a comment inside a body -> the lines it introduces, the doc of the one function a short function calls -> it;
# from documentation (doc_pairs): the paragraph above a code example -> the example, an API entry's description ->
# its signature.
PairType = Literal["doc-body", "signature-body", "readme-file", "commit-body", "identifier-def", "doc-file",
                   "question-body", "comment-block", "call-doc", "doc-example", "api-doc"]
PAIR_TYPES: tuple[str, ...] = get_args(PairType)
# The types the held-out benchmark scores and splits are assigned from: adding a search-shaped type to training
# changes neither the held-out queries and documents nor which repository is held out.
HELDOUT_TYPES = ("doc-body", "signature-body", "readme-file")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file, the key and what is allowed."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Section):
    """One place code comes from; `kind` picks the reader (see codesift.data.sources)."""

    kind: Literal["local", "git", "python", "debian-go", "debian-rust", "debian-java", "npm", "stack", "hf"]
    path: str | None = Field(None, description="folder or file to read (local, git, debian-*, npm, stack)")
    name: str | None = Field(None, description="dataset name (hf) or a label for the source")
    split: str = "train"
    max_commits: int = Field(2000, ge=0, description="git: the newest non-merge commits read for commit -> "
                             "definition pairs (0: the head revision's files only)")


class DataConfig(Section):
    corpus: str | None = Field(None, description="corpus spec (e.g. data/corpus.yaml) installed, then read")
    corpus_cache: str = Field("runs/.corpus", description="where the corpus spec's installs go")
    sources: list[SourceConfig] = Field(default_factory=list)
    languages: list[Literal[LANGUAGES]] = Field(default_factory=lambda: list(LANGUAGES))  # type: ignore[valid-type]
    max_file_bytes: int = Field(1_000_000, gt=0)
    min_file_chars: int = Field(32, ge=0)
    max_line_length: int = Field(1000, gt=0, description="files with longer average lines count as minified")
    licenses: list[str] = Field(default_factory=lambda: list(DEFAULT_LICENSES))
    allow_unknown_license: bool = False
    keep_tests_for_pairs: bool = False
    near_dup_threshold: float = Field(0.85, gt=0, le=1)
    minhash_permutations: int = Field(128, ge=16)
    shingle_size: int = Field(5, ge=1)
    exclusion_list: str = "data/exclusions.txt"
    decontaminate_against: str = Field("data/benchmarks", description="external benchmark folder")
    executor: Literal["local", "ray"] = "local"
    workers: int = Field(2, ge=1)


class PairsConfig(Section):
    min_tokens: int = Field(3, ge=1)
    max_tokens: int = Field(256, ge=1)
    val_fraction: float = Field(0.02, ge=0, lt=0.5)
    test_fraction: float = Field(0.02, ge=0, lt=0.5)
    hard_positive_rate: float = Field(0.0, ge=0, le=1, description="share of bodies with the signature stripped")
    types: list[PairType] = Field(
        ["doc-body", "signature-body", "readme-file", "commit-body"], description="pair types to build (commit-body "
        "only from git sources); identifier-def, doc-file, question-body, comment-block and call-doc are the "
        "search-shaped ones (codesift.data.search_pairs), doc-example and api-doc come from documentation "
        "(codesift.data.doc_pairs); each is off until it measures better")
    max_identifier_defs: int = Field(
        3, ge=1, description="identifier-def: a name defined more often than this in the corpus is no query")
    max_comments_per_unit: int = Field(
        2, ge=1, description="comment-block: pairs from one function's comments at most (the first ones)")

    @model_validator(mode="after")
    def _tokens_ordered(self) -> PairsConfig:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) must not exceed max_tokens ({self.max_tokens})")
        return self


class TokenizerConfig(Section):
    kind: Literal["unigram", "bpe"] = "bpe"
    vocab_size: int = Field(32768, ge=512, le=262144)
    max_training_chars: int = Field(200_000_000, gt=0)
    split_identifiers: bool = Field(False, description="cut names into their words and drop single spaces between "
                                    "words, so a word is one token in code and prose (no exact decode)")

    @field_validator("vocab_size")
    @classmethod
    def _multiple_of_64(cls, v: int) -> int:
        if v % 64:
            raise ValueError(f"must be a multiple of 64 (tensor-core friendly), e.g. {(v // 64 + 1) * 64}")
        return v


class ModelConfig(Section):
    arch: Literal["modernbert", "bert", "static"] = Field(
        "modernbert", description="static: one trained vector per token, averaged (no layers, no pretrain "
        "section; model.static_init picks its starting table)")
    layers: int | None = Field(None, ge=1, le=48)
    hidden: int = Field(ge=16, description="the transformer's width; a static model's embedding size")
    heads: int | None = Field(None, ge=1)
    intermediate: int | None = Field(None, ge=16)
    max_seq_len: int = Field(256, ge=16, le=8192)
    embedding_dim: int | None = Field(None, ge=8, description="optional linear projection after pooling")
    fold_case: bool = Field(False, description="static: a token shares the row of its lower-case form (Json = json)")
    fold_stems: bool = Field(False, description="static: a word token shares the row of the word it inflects "
                             "(files = file, sorting = sort); lower on every benchmark here (BENCHMARKS.md, issue 23)")
    static_init: Literal["random", "cooccurrence"] = Field(
        "random", description="static: the table's starting rows; cooccurrence: PPMI + SVD of how tokens co-occur in "
        "the corpus (the pretrain stage, codesift.train.static_init)")
    static_init_chars: int = Field(60_000_000, ge=1, description="static_init cooccurrence: characters of code "
                                   "sampled from the corpus for the counts")

    @model_validator(mode="after")
    def _shape_fits_arch(self) -> ModelConfig:
        layered = {"layers": self.layers, "heads": self.heads, "intermediate": self.intermediate}
        if self.arch == "static":
            if given := [k for k, v in {**layered, "embedding_dim": self.embedding_dim}.items() if v is not None]:
                raise ValueError(f"a static model has no {', '.join(given)}: its size is `hidden` alone")
            return self
        if self.fold_case or self.fold_stems:
            raise ValueError("fold_case and fold_stems are for static models (a transformer reads words in context)")
        if self.static_init != "random":
            raise ValueError("static_init is for static models (a transformer is pretrained by the pretrain section)")
        if missing := [k for k, v in layered.items() if v is None]:
            raise ValueError(f"arch {self.arch} needs {', '.join(missing)}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        return self

    @property
    def folding(self) -> dict[str, bool]:
        """A static model's token folding, as StaticEmbedder takes it."""
        return {"fold_case": self.fold_case, "fold_stems": self.fold_stems}


# How a training step runs, not what it computes, so none is part of a stage's fingerprint (`exclude`): the
# batches are bitwise the same however they are made (tests/test_pretrain.py, test_contrastive.py), and compiling
# changes the arithmetic only in rounding, as the thread count does.
PREFETCH = Field(2, ge=0, le=64, exclude=True, description="batches made ahead of the step in the background (0: "
                 "made inside the step, the synchronous loop)")
COMPILE = Field(False, exclude=True, description="run the model under torch.compile (minutes of compiling first; "
                "measure before turning it on, BENCHMARKS.md)")


class PretrainConfig(Section):
    steps: int = Field(ge=1)
    max_minutes: float | None = Field(
        None, gt=0, description="also stop after this much training time; the decay follows time (Cramming)")
    batch_size: int = Field(ge=1, description="sequences per optimizer step per process, before grad_accum")
    grad_accum: int = Field(1, ge=1)
    seq_len: int = Field(256, ge=16)
    lr: float = Field(5e-4, gt=0, lt=1)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="the decay ends at lr x this")
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    objective: Literal["mlm", "rtd"] = "mlm"
    mask_rate: float = Field(0.3, ge=0.05, le=0.5)
    dobf_fraction: float = Field(0.5, ge=0, le=1, description="share of examples using identifier deobfuscation")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast where the hardware runs bf16 natively (CUDA, AMX), else fp32")
    checkpoint_every: int = Field(500, ge=1)
    eval_every: int = Field(250, ge=1, description="validation loss on held-out repositories every N steps")
    val_windows: int = Field(256, ge=1, description="held-out sequences in the validation loss")
    max_windows: int | None = Field(
        None, ge=1, description="pack at most this many training windows (a longer run cycles over them)")
    log_every: int = Field(10, ge=1)
    rtd_generator_ratio: float = Field(0.25, gt=0, le=1, description="RTD: generator width / encoder width")
    rtd_weight: float = Field(50.0, gt=0, description="RTD: discriminator loss weight (ELECTRA: 50)")
    prefetch: int = PREFETCH
    prefetch_workers: int = Field(1, ge=0, le=32, exclude=True, description="processes masking the batches, in "
                                  "parallel (0: a thread in the training process, whose Python shares the GIL)")
    compile: bool = COMPILE


# What all of a soup's ingredients share: the round's data, start and evaluation.
SOUP_SHARED = ("soup", "rounds", "init", "init_from", "hard_negatives", "consistency_top_k", "max_pairs",
               "eval_benchmarks", "eval_max_queries", "eval_max_docs")


class SoupIngredient(Section):
    """One model of a weight average: trained from the round's start with these train settings changed."""

    weight: float = Field(gt=0, description="its share of the average (the weights are normalized)")
    set: dict[str, Any] = Field(default_factory=dict, description="train settings of this model (steps, "
                                "pair_type_weights, own_batch_types, lr, ...); the others are the train section's")

    @field_validator("set")
    @classmethod
    def _settable(cls, v: dict[str, Any]) -> dict[str, Any]:
        if shared := sorted(set(v) & set(SOUP_SHARED)):
            raise ValueError(f"{', '.join(shared)}: shared by every ingredient, set in the train section")
        return v


class TrainConfig(Section):
    steps: int = Field(ge=1, description="optimizer steps per round")
    max_minutes: float | None = Field(
        None, gt=0, description="also end each round after this much training time; the decay follows time")
    batch_size: int = Field(ge=2, description="effective contrastive batch: every query sees all of it")
    chunk_size: int = Field(32, ge=1, description="GradCache mini-batch; memory, not negatives")
    lr: float = Field(1e-4, gt=0, lt=1)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="each round's cosine decay ends at lr x this")
    warmup_steps: int = Field(50, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    temperature: float | Literal["learned"] = 0.05
    symmetric: bool = Field(True, description="add the code->query direction to the InfoNCE loss")
    hard_negatives: int = Field(1, ge=0, description="mined negatives per query, from round 2 on")
    rounds: int = Field(1, ge=1, description="training rounds; mining runs between them")
    matryoshka_dims: list[int] = Field(default_factory=list, description="also train these embedding prefixes")
    consistency_top_k: int | None = Field(
        None, ge=1, description="after round 1, drop pairs whose code is not in the top k for its own query")
    init: Literal["pretrained", "random"] = Field(
        "pretrained", description="random: the pretrained architecture and tokenizer, fresh weights (ablation)")
    init_from: str | None = Field(
        None, description="continue from this embedding model folder (a train stage's model/) instead of the "
        "pretrained encoder; it must use the run's tokenizer")
    query_max_len: int = Field(64, ge=8, description="tokens kept of a query in training")
    code_max_len: int | None = Field(None, ge=16, description="tokens kept of a code; default model.max_seq_len")
    pair_type_weights: dict[PairType, float] = Field(
        default_factory=dict, description="draw rate per pair of a type, relative (missing types: 1; 0 drops)")
    repo_group: int = Field(
        1, ge=1, description="draw pairs in runs of up to this many from one repository: same-repository in-batch "
        "negatives, as in repository search (1: independent draws)")
    code_header_rate: float = Field(
        0.0, ge=0, le=1, description="share of positives shown under the line the index embeds above each chunk "
        "('path symbol')")
    own_batch_types: list[PairType] = Field(
        default_factory=list, description="pair types drawn in batches of their own, never as another type's in-batch "
        "negatives (the others mix): a new kind of pair without shortcuts between kinds")
    language_batches: Literal["mixed", "grouped"] = Field(
        "mixed", description="grouped: every batch from one language (harder in-batch negatives)")
    doc_in_code_rate: float = Field(
        0.3, ge=0, le=1, description="share of doc->body positives shown with their doc written into the code")
    query_style_rate: float = Field(
        0.0, ge=0, le=1, description="share of doc->body queries rewritten the way people search (first sentence, "
        "lower case, no markup, sometimes 'how to' or the language's name)")
    document_views: DocumentViews = Field(
        default_factory=DocumentViews, description="{doc: W, name: W}: train each code's vector as the runtime embeds "
        "a document with these views (export.document_views), so the loss sees what search will")
    token_dropout: float = Field(
        0.0, ge=0, lt=1, description="share of a code's tokens hidden from the model at each training step (token "
        "cutoff): a pair cannot be learnt from one rare name alone")
    max_pairs: int | None = Field(None, ge=2, description="train on a seeded sample of this many pairs")
    batch_seed: int = Field(0, ge=0, description="another batch order from the same pairs and start (draws, query "
                            "styles): soup models that differ only here average like an ensemble")
    eval_benchmarks: list[Literal["val", "cosqa-dev"]] = Field(
        default_factory=lambda: ["val", "cosqa-dev"], min_length=1, description="scored after every round")
    eval_max_queries: int | None = Field(500, ge=1, description="per-round eval: queries sampled per benchmark")
    eval_max_docs: int | None = Field(
        5000, ge=1, description="per-round eval: documents kept per benchmark (all relevant ones + a sample)")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast where the hardware runs bf16 natively (CUDA, AMX), else fp32")
    checkpoint_every: int = Field(200, ge=1)
    log_every: int = Field(10, ge=1)
    prefetch: int = PREFETCH
    prefetch_workers: int = Field(0, ge=0, le=1, exclude=True, description="0: a thread draws and tokenizes the "
                                  "batches (the tokenizer's own threads stay on: faster on CPU, BENCHMARKS.md); 1: a "
                                  "process (the stream is read in order, so by one)")
    compile: bool = COMPILE
    soup: list[SoupIngredient] = Field(
        default_factory=list, description="each round's model is the weight average of these models, each trained "
        "from the round's start with its own settings (a model soup): a kind of pair that pulls the model "
        "away from the others adds what it teaches at half strength (BENCHMARKS.md)")

    @field_validator("temperature")
    @classmethod
    def _temperature_range(cls, v: float | str) -> float | str:
        if isinstance(v, float) and not 0.02 <= v <= 0.07:
            raise ValueError("must be between 0.02 and 0.07, or 'learned'")
        return v

    @field_validator("matryoshka_dims")
    @classmethod
    def _dims_distinct(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v) or len(set(v)) != len(v):
            raise ValueError("must be distinct positive sizes, e.g. [384, 256, 128, 64]")
        return v

    @field_validator("pair_type_weights")
    @classmethod
    def _weights_usable(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in v.values()):
            raise ValueError("weights must be >= 0")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.consistency_top_k is not None and self.rounds < 2:
            raise ValueError("consistency_top_k filters with the round-1 model, so it needs rounds >= 2")
        if self.max_pairs is not None and self.max_pairs < self.batch_size:
            raise ValueError(f"max_pairs ({self.max_pairs}) is below batch_size ({self.batch_size})")
        if self.init_from is not None and self.init == "random":
            raise ValueError("init: random and init_from exclude each other (fresh weights, or a model's)")
        if len(self.soup) == 1:
            raise ValueError("soup: one ingredient is no average; list two or more, or none")
        for i in range(len(self.soup)):
            self.ingredient(i)  # each ingredient's settings must make a valid train section
        return self

    def ingredient(self, i: int) -> TrainConfig:
        """The train settings soup ingredient `i` is trained with."""
        changes = self.soup[i].set
        try:
            valid = TrainConfig.model_validate({**self.model_dump(exclude={"soup"}), **changes})
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'set'}: {err['msg']}" for err in e.errors())
            raise ValueError(f"soup[{i}].set: {problems}") from None
        return self.model_copy(update={**{k: getattr(valid, k) for k in changes}, "soup": []})

    @property
    def round_steps(self) -> int:
        """Optimizer steps in one round: a soup trains each of its models in turn."""
        return sum(x.set.get("steps", self.steps) for x in self.soup) if self.soup else self.steps


class MineConfig(Section):
    rank_window: tuple[int, int] = Field((3, 100), description="[start, end) ranks candidates are taken from")
    margin: float = Field(0.95, gt=0, le=1, description="drop candidates scoring above margin x positive")
    per_query: int = Field(1, ge=1, description="negatives kept per query (the train stage keeps >= train.hard_negatives)")
    duplicate_cosine: float = Field(0.98, gt=0, le=1, description="a candidate this close to the positive is a copy")
    pool_size: int | None = Field(50_000, ge=1, description="training pairs mined per round (seeded); null: all")
    index: Literal["auto", "flat", "hnsw", "torch"] = Field(
        "auto", description="auto: exact torch matmuls on a GPU; else faiss, exact up to 50k codes, HNSW above")
    batch_size: int = Field(64, ge=1, description="texts per forward pass when embedding the pool")

    @field_validator("rank_window")
    @classmethod
    def _window_ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] < v[1]:
            raise ValueError(f"must be [start, end) with 0 <= start < end, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _window_holds_k(self) -> MineConfig:
        if self.per_query > self.rank_window[1] - self.rank_window[0]:
            raise ValueError(f"per_query ({self.per_query}) exceeds the rank window's {list(self.rank_window)} size")
        return self


class EvalConfig(Section):
    benchmarks: list[Literal["heldout", "cosqa-dev", "cosqa-test", "csn-ruby", "repo"]] = ["heldout", "cosqa-dev"]
    baselines: list[str] = ["bm25"]
    select_metric: Literal["mrr", "ndcg@10", "recall@1", "recall@10"] = "mrr"
    benchmarks_dir: str = "data/benchmarks"
    max_seq_len: int = Field(256, ge=16)
    repo_folder: str | None = Field(None, description="code folder searched by the 'repo' benchmark")
    repo_queries: str | None = Field(None, description="its queries JSON (format: codesift.eval.benchmarks)")

    @model_validator(mode="after")
    def _repo_needs_files(self) -> EvalConfig:
        if "repo" in self.benchmarks and not (self.repo_folder and self.repo_queries):
            raise ValueError("benchmark 'repo' needs eval.repo_folder and eval.repo_queries")
        return self


class ExportConfig(Section):
    opset: int = Field(17, ge=17)
    builder: Literal["fused", "trace"] = Field(
        "fused", description="fused: graph written from the weights with onnxruntime's fused kernels (modernbert, "
        "bert); trace: torch.onnx tracing, standard ops only (any architecture, any runtime)")
    int8: bool = True
    int8_weights: Literal["s8", "u8"] = Field("s8", description="int8 weight type (u8 picks the u8u8 kernels)")
    int8_reduce_range: bool | Literal["auto"] = Field(
        "auto", description="7-bit weights: avoids u8s8 saturation on CPUs without VNNI; auto: on when the exporting "
        "CPU has no AVX512-VNNI/AVX-VNNI/AMX")
    int8_per_channel: bool = True
    int8_embeddings: bool = Field(False, description="also store the embedding tables int8 (a 32k x 384 table is half "
                                  "of a small model's file); the quality gate decides")
    int8_smooth: float | None = Field(None, gt=0, lt=1, description="SmoothQuant alpha (e.g. 0.7): activation "
                                      "outliers moved into the weights before int8, calibrated on held-out texts")
    static_int8: bool = Field(False, description="also write a static QDQ int8 model calibrated on held-out texts")
    calibration_texts: int = Field(256, ge=8)
    calibration_method: Literal["minmax", "percentile", "entropy"] = "minmax"
    fp16: bool = Field(False, description="also write an fp16 model for GPUs")
    document_views: DocumentViews = Field(
        default_factory=DocumentViews, description="{doc: W, name: W}: a document's vector adds W x its definition's "
        "doc and name vectors (codesift.runtime.views); written into encoder.json, used by the eval stage too")
    min_cosine_fp32: float = Field(0.999, gt=0, le=1)
    min_cosine_int8: float = Field(0.99, gt=0, le=1)
    max_mrr_drop: float = Field(1.0, ge=0, description="MRR points (x100) the ONNX model may lose to torch")
    gate_texts: int = Field(512, ge=16, description="held-out texts for the cosine check")
    gate_benchmarks: list[str] = Field(
        default_factory=lambda: ["cosqa-dev", "heldout"], description="cosqa-dev, cosqa-test, csn-ruby, heldout")
    gate_queries: int | None = Field(200, ge=10, description="queries sampled per benchmark (null: all)")
    gate_docs: int | None = Field(2000, ge=100, description="documents per benchmark: the relevant ones + sampled "
                                  "distractors (null: the whole pool)")

    @field_validator("gate_benchmarks")
    @classmethod
    def _known_gate_benchmarks(cls, value: list[str]) -> list[str]:
        allowed = ("cosqa-dev", "cosqa-test", "csn-ruby", "heldout")
        if bad := [b for b in value if b not in allowed]:
            raise ValueError(f"unknown gate benchmark(s) {bad}; allowed: {', '.join(allowed)}")
        return value


class IndexConfig(Section):
    """The code search index (codesift.index): HNSW parameters, filters, updates, hybrid retrieval, chunking."""

    m: int = Field(16, ge=2, description="HNSW graph degree")
    ef_construction: int = Field(200, ge=1)
    ef_search: int = Field(128, ge=1, description="default search beam: recall@10 0.988 at 100k x 384 with p95 "
                           "0.73 ms (`codesift bench index`, BENCHMARKS.md); 1M vectors need more (or a larger m)")
    vectors: Literal["float32", "fp16", "int8"] = Field(
        "fp16", description="the graph's vector codes: fp16 (default) halves float32's memory at the same recall and "
        "walks the graph as fast or faster (BENCHMARKS.md); int8 (SQ8) quarters it, candidates rescored with float "
        "vectors kept on disk")
    rescore_factor: int = Field(4, ge=1, description="int8: candidates fetched per result, rescored in float")
    paths: list[str] = Field(default_factory=list, description="code folders the index stage embeds")
    backend: Literal["hnsw", "qdrant"] = Field("hnsw", description="local faiss HNSW, or a Qdrant collection")
    qdrant_url: str | None = Field(None, description="Qdrant server/cluster URL; unset: local mode in the index folder")
    qdrant_collection: str = Field("codesift", pattern=r"^[A-Za-z0-9_-]+$")
    exact_filter_max: int = Field(4096, ge=0, description="a filter keeping at most this many chunks is searched "
                                  "exactly; larger ones walk the graph with a wider beam (bench index)")
    graph_min_vectors: int = Field(10_000, ge=0, description="an index of fewer chunks stores its vectors flat and "
                                   "searches exactly (under a millisecond at this size; building the graph was "
                                   "0.6-0.9 s of a repository's first search); 0: always a graph")
    rebuild_tombstone_fraction: float = Field(0.2, gt=0, le=1,
                                              description="rebuild the graph once this share of it is deleted")
    hybrid: bool = Field(True, description="fuse BM25 with dense results; on: with the shipped model it lifts "
                                          "CoSQA dev and the validation pairs over either side alone (BENCHMARKS.md)")
    fusion: Literal["zscore", "rrf"] = Field("zscore", description="zscore: weighted sum of each side's scores "
                                             "standardized by its top candidates; rrf: weighted reciprocal rank "
                                             "fusion (k=60). zscore measured better with the shipped model")
    bm25_weight: float = Field(0.3, ge=0, description="0.3 (dense 0.7): the z-score weights measured best with the "
                               "shipped model on CoSQA dev + validation pairs; for rrf the best was 0.5 (dense 1)")
    dense_weight: float = Field(0.7, ge=0)
    hybrid_candidates: int = Field(100, ge=1, description="results taken from each side before fusion")
    window_lines: int = Field(40, ge=1, description="lines per chunk for code outside functions and other text")
    max_file_bytes: int = Field(1_000_000, gt=0)
    example_queries: list[str] = Field(default_factory=list, description="searched once the index is built: the "
                                       "top 3 go to examples.json and are printed at the end of `codesift run`")

    @model_validator(mode="after")
    def _consistent(self) -> IndexConfig:
        if self.hybrid and self.bm25_weight + self.dense_weight <= 0:
            raise ValueError("hybrid needs bm25_weight or dense_weight above 0")
        if self.qdrant_url is not None and self.backend != "qdrant":
            raise ValueError(f"qdrant_url is set but backend is {self.backend!r}; set backend: qdrant")
        return self


class Recipe(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="run name: runs/<name>/")
    seed: int = 0
    run_dir: str = "runs"
    data: DataConfig = DataConfig()
    pairs: PairsConfig = PairsConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig
    pretrain: PretrainConfig | None = Field(None, description="required unless model.arch is static")
    train: TrainConfig
    mine: MineConfig = MineConfig()
    eval: EvalConfig = EvalConfig()
    export: ExportConfig = ExportConfig()
    index: IndexConfig = IndexConfig()

    @model_validator(mode="after")
    def _sections_fit_model(self) -> Recipe:
        if self.model.arch == "static":
            if self.pretrain is not None:
                raise ValueError("a static model is not pretrained; remove the pretrain section")
        elif self.pretrain is None:
            raise ValueError(f"missing required section 'pretrain' (model.arch {self.model.arch} is pretrained)")
        elif self.pretrain.seq_len > self.model.max_seq_len:
            raise ValueError(
                f"pretrain.seq_len ({self.pretrain.seq_len}) exceeds model.max_seq_len ({self.model.max_seq_len})"
            )
        dim = self.model.embedding_dim or self.model.hidden
        if too_big := [d for d in self.train.matryoshka_dims if d > dim]:
            raise ValueError(f"train.matryoshka_dims {too_big} exceed the embedding size {dim}")
        if self.train.code_max_len is not None and self.train.code_max_len > self.model.max_seq_len:
            raise ValueError(
                f"train.code_max_len ({self.train.code_max_len}) exceeds model.max_seq_len ({self.model.max_seq_len})"
            )
        return self

    def section(self, name: str) -> Section:
        return getattr(self, name)


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read and validate a YAML recipe; `overrides` are `dotted.key=value` strings parsed as YAML."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping of sections, got {type(data).__name__}")
    for item in overrides:
        _apply_override(data, item, path)
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_describe(path, e)) from None


def _apply_override(data: dict, item: str, path: Path) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise RecipeError(f"{path}: override {item!r} must look like section.key=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"{path}: override {item!r}: '{part}' is not a section")
    node[leaf] = yaml.safe_load(raw)


def _describe(path: Path, error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(err["loc"][:-1]))
            lines.append(f"{path}: unknown key '{loc}'; allowed here: {allowed}")
        elif err["type"] == "missing":
            lines.append(f"{path}: missing required key '{loc}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {loc}: {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        args = getattr(annotation, "__args__", None)
        candidates = args if args else (annotation,)
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return sorted(model.model_fields)
