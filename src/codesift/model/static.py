"""The static embedding model: one trained vector per token, a text is the mean of its tokens' vectors, L2-normalized.

Nothing is contextual, so it needs no MLM pretraining (its table can start from co-occurrence counts instead:
train/static_init.py), and a training step is a table lookup and a sum: on two CPU cores it trains on ~1,800 pairs a
second, where the small transformer manages under one (BENCHMARKS.md).
It is sentence-transformers' `StaticEmbedding` (the model2vec architecture), saved as such (`StaticEmbedding` ->
`Normalize`), so `SentenceTransformer(folder)` loads it and returns the same vectors as `StaticEmbedder.encode`.

The saved tokenizer.json adds no special tokens (what `StaticEmbedding` asks of it) and truncates at `max_seq_len`,
so training, sentence-transformers, the ONNX export and the runtime encoder all see the same tokens.
`StaticEmbedder` has `Embedder`'s interface (tokenize / forward / embed / encode / save / load), so the contrastive
trainer, mining and the eval harness take either.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codesift.model.embedder import MODULES, EncodeMixin, write_modules

STATIC_DIR = "0_StaticEmbedding"
INIT_STD = 0.1  # rows start at the scale of a few Adam steps at the recipe's lr (0.05), so the first ones matter


def static_tokenizer(tokenizer, max_seq_len: int):
    """A copy of a `tokenizers.Tokenizer` that adds no special tokens, truncates at `max_seq_len`, pads nothing."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.post_processor = None
    tok.no_padding()
    tok.enable_truncation(max_seq_len)
    return tok


def case_folding(tokenizer) -> torch.Tensor:
    """token id -> the id of the same token with ASCII letters lower-cased (itself when the vocabulary lacks it).
    Only A-Z fold: byte-level tokens spell other bytes with non-ASCII letters whose lower case is another byte."""
    vocab = tokenizer.get_vocab()
    fold = torch.arange(tokenizer.get_vocab_size())
    for token, i in vocab.items():
        lower = "".join(c.lower() if "A" <= c <= "Z" else c for c in token)
        fold[i] = vocab.get(lower, i)
    return fold


INFLECTIONS = ("s", "es", "ed", "d", "ing", "ly")


def inflection_bases(word: str) -> list[str]:
    """The words `word` may inflect, longest first: `values` -> value, valu; `running` -> runn, run;
    `categories` -> category; `saving` -> save."""
    bases = set()
    for suffix in INFLECTIONS:
        base = word[: -len(suffix)]
        if not word.endswith(suffix) or len(base) < 3:
            continue
        if suffix in ("es", "ed") and base.endswith("i"):
            bases.add(base[:-1] + "y")  # copied -> copy, not the BPE piece `copi`
            continue
        bases |= {base, base + "e"}
        if len(base) >= 4 and base[-1] == base[-2]:
            bases.add(base[:-1])
    return sorted(bases, key=lambda b: (-len(b), b))


def stem_folding(tokenizer, fold: torch.Tensor) -> torch.Tensor:
    """`fold` followed by inflection folding: a word token shares the row of the token it inflects (`files` ->
    `file`, `sorting` -> `sort`, `Names` -> `names` -> `name`), so a query's inflection reads like the doc's.
    A base counts only where the English stemmer (Snowball, as BM25 here) gives both the same stem: `string` is not
    `str` + "ing", nor `values` the BPE piece `valu` + "es". Lower-case all-letter tokens of 4+ letters only."""
    import Stemmer

    stem = Stemmer.Stemmer("english").stemWord
    vocab = tokenizer.get_vocab()
    head = fold.clone()
    for word, i in vocab.items():
        if fold[i] != i or len(word) < 4 or not (word.isascii() and word.isalpha() and word.islower()):
            continue
        for base in inflection_bases(word):
            if base in vocab and fold[vocab[base]] == vocab[base] and stem(base) == stem(word):
                head[i] = vocab[base]
                break
    while not torch.equal(head, head[head]):  # settings -> setting -> set
        head = head[head]
    return head


def token_folding(tokenizer, fold_case: bool = False, fold_stems: bool = False) -> torch.Tensor | None:
    """token id -> the id whose row it reads (case_folding, then stem_folding), or None when nothing folds."""
    if not (fold_case or fold_stems):
        return None
    fold = case_folding(tokenizer) if fold_case else torch.arange(tokenizer.get_vocab_size())
    return stem_folding(tokenizer, fold) if fold_stems else fold


class StaticEmbedder(EncodeMixin, nn.Module):
    """A (vocab, dim) table; `forward` takes padded ids and a mask like a transformer's, so GradCache works as is.

    `fold_case`: a token shares the row of its lower-case form (`Json` and `JSON` read as `json`), while names are
    still cut at case changes by the tokenizer; `fold_stems`: the inflections of a word share a row too
    (`stem_folding`). Training looks rows up through the folding; `save` writes every token's folded row, so the
    saved table needs no folding to be read (sentence-transformers, ONNX)."""

    def __init__(self, tokenizer, dim: int, max_seq_len: int, weights: torch.Tensor | None = None,
                 fold_case: bool = False, fold_stems: bool = False):
        super().__init__()
        self.tokenizer = static_tokenizer(tokenizer, max_seq_len)
        self.max_seq_len = max_seq_len
        self.register_buffer("fold", token_folding(self.tokenizer, fold_case, fold_stems), persistent=False)
        self.embedding = nn.Embedding(self.tokenizer.get_vocab_size(), dim)
        if weights is not None:
            if tuple(weights.shape) != tuple(self.embedding.weight.shape):
                raise ValueError(f"weights {tuple(weights.shape)} do not match the tokenizer's vocabulary and dim "
                                 f"{tuple(self.embedding.weight.shape)}")
            self.embedding.weight.data.copy_(weights)
        else:
            nn.init.normal_(self.embedding.weight, std=INIT_STD)

    @property
    def dim(self) -> int:
        return self.embedding.embedding_dim

    def tokenize(self, texts: Sequence[str], max_len: int | None = None) -> dict[str, torch.Tensor]:
        """Token ids padded with 0 and their mask, truncated to `max_len` (default and at most max_seq_len)."""
        if isinstance(texts, str):
            raise TypeError("tokenize takes a list of texts, not one string")
        limit = min(max_len or self.max_seq_len, self.max_seq_len)
        ids = [e.ids[:limit] for e in self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        mask = np.arange(max(1, int(lengths.max(initial=1)))) < lengths[:, None]
        # One assignment fills the rows in order, no Python loop per text: a training step tokenizes thousands.
        flat = np.zeros(mask.shape, dtype=np.int64)
        flat[mask] = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lengths.sum()))
        input_ids = torch.from_numpy(flat)
        if self.fold is not None:
            input_ids = self.fold.cpu()[input_ids]
        return {"input_ids": input_ids, "attention_mask": torch.from_numpy(mask.astype(np.int64))}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the real tokens' rows, *unnormalized* (B, dim); an empty text gives zeros, as in StaticEmbedding.
        A weighted bag sum: no (B, T, dim) tensor is built."""
        weights = attention_mask.to(self.embedding.weight.dtype)
        summed = nn.functional.embedding_bag(input_ids, self.embedding.weight, per_sample_weights=weights, mode="sum")
        return summed / weights.sum(1, keepdim=True).clamp(min=1.0)

    # --- sentence-transformers folder ---------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write a sentence-transformers folder: StaticEmbedding (tokenizer.json + safetensors table), Normalize."""
        from safetensors.torch import save_file

        folder = Path(folder)
        (folder / STATIC_DIR).mkdir(parents=True, exist_ok=True)
        table = self.embedding.weight.detach().float().cpu()
        if self.fold is not None:
            table = table[self.fold.cpu()]
        save_file({"embedding.weight": table.contiguous()},
                  str(folder / STATIC_DIR / "model.safetensors"))
        self.tokenizer.save(str(folder / STATIC_DIR / "tokenizer.json"))
        return write_modules(folder, [(STATIC_DIR, "sentence_transformers.models.StaticEmbedding")])

    @classmethod
    def load(cls, folder: str | Path, fold_case: bool = False, fold_stems: bool = False) -> StaticEmbedder:
        """Read back a folder written by `save` (`fold_case`, `fold_stems` to train it further with folding)."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        try:
            modules = json.loads((folder / MODULES).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{folder}: not a sentence-transformers folder (no {MODULES})") from None
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds != ["StaticEmbedding", "Normalize"]:
            raise ValueError(f"{folder}: expected StaticEmbedding, Normalize modules, found {kinds}")
        tokenizer = Tokenizer.from_file(str(folder / STATIC_DIR / "tokenizer.json"))
        truncation = tokenizer.truncation
        if not truncation:
            raise ValueError(f"{folder}: its tokenizer.json sets no truncation, so the model has no max_seq_len")
        weights = load_file(str(folder / STATIC_DIR / "model.safetensors"))["embedding.weight"]
        return cls(tokenizer, weights.shape[1], int(truncation["max_length"]), weights.float(), fold_case, fold_stems)


def is_static_folder(folder: str | Path) -> bool:
    """True for a sentence-transformers folder whose first module is a StaticEmbedding."""
    try:
        modules = json.loads((Path(folder) / MODULES).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return bool(modules) and modules[0]["type"].rsplit(".", 1)[-1] == "StaticEmbedding"
