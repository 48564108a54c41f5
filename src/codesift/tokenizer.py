"""Train and check a code-aware BPE/Unigram tokenizer, saved as tokenizer.json that transformers loads.

Pre-tokenization keeps code structure visible to the model: a newline plus its indentation is one
piece (BPE learns tokens for common indents), each digit stands alone (numbers generalize), words
keep one leading space and case (no lowercasing: `Foo` and `foo` differ in code), and everything is
byte-level so any text round-trips exactly with no unknown token.

`split_identifiers` trades the exact round trip for shared words: names are cut at underscores and case changes
and a single space between two non-blank characters is dropped, so `dot` is one token in `graph_from_dot_file`
and in "read dot file" (with whole names, `dot_` and ` dot` are different tokens the model must learn to tie).
An encoder never decodes, so the lost spaces cost nothing but the round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from codesift.config import TokenizerConfig

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))
CODE_SPLIT = Regex(r"\r?\n[ \t]*|[ \t]+(?=[ \t\r\n])| ?[\p{L}_][\p{L}\p{M}_]*|\p{N}| ?[^\s\p{L}\p{N}_]+|\s+")
SPACE_BETWEEN_WORDS = Regex(r"(?<=\S) (?=\S)")
# a newline and its indent; other blank runs; words cut at case changes (HTTP|Server, read|Json); underscores; ...
WORD_SPLIT = Regex(r"\r?\n[ \t]*|[ \t]+"
                   r"|\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?\p{Ll}+\p{M}*|\p{Lu}+\p{M}*|\p{L}[\p{L}\p{M}]*"
                   r"|_+|\p{N}|[^\s\p{L}\p{N}_]+|\s+")


def code_pre_tokenizer(split_identifiers: bool = False) -> pre_tokenizers.PreTokenizer:
    splits = ([pre_tokenizers.Split(SPACE_BETWEEN_WORDS, behavior="removed"),
               pre_tokenizers.Split(WORD_SPLIT, behavior="isolated")] if split_identifiers
              else [pre_tokenizers.Split(CODE_SPLIT, behavior="isolated")])
    return pre_tokenizers.Sequence([*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def build_tokenizer(kind: str, code_aware: bool = True,
                    split_identifiers: bool = False) -> tuple[Tokenizer, trainers.Trainer]:
    """An untrained tokenizer and its trainer; `code_aware=False` gives the library's default byte-level
    setup, the baseline the validation report compares against."""
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
        trainer_cls = trainers.BpeTrainer
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer_cls = trainers.UnigramTrainer
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; use 'bpe' or 'unigram'")
    tok.pre_tokenizer = (code_pre_tokenizer(split_identifiers) if code_aware
                         else pre_tokenizers.ByteLevel(add_prefix_space=False))
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)],
    )
    return tok, trainer_cls


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig, code_aware: bool = True) -> Tokenizer:
    tok, trainer_cls = build_tokenizer(cfg.kind, code_aware, cfg.split_identifiers)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if cfg.kind == "bpe":
        trainer = trainer_cls(vocab_size=cfg.vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet,
                              min_frequency=2, show_progress=True)
    else:
        trainer = trainer_cls(vocab_size=cfg.vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet,
                              unk_token="[UNK]", show_progress=True)
    tok.train_from_iterator(limit_chars(texts, cfg.max_training_chars), trainer=trainer)
    return tok


def limit_chars(texts: Iterable[str], budget: int) -> Iterator[str]:
    used = 0
    for text in texts:
        if used >= budget:
            return
        used += len(text)
        yield text


def save_for_transformers(tok: Tokenizer, out_dir: Path) -> None:
    """tokenizer.json plus the small configs that let AutoTokenizer (and sentence-transformers) load it;
    the length limit is set by the model that uses it, not here."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(str(out_dir))


def validate(tok: Tokenizer, baseline: Tokenizer, samples: dict[str, list[str]]) -> dict:
    """Compression per language against a default-settings tokenizer of the same size, unknown-token rate,
    exact round trip on code, and the longest learned tokens (a quick look for junk merges)."""
    unk = tok.token_to_id("[UNK]")
    per_language = {}
    for language, texts in sorted(samples.items()):
        chars = sum(len(t) for t in texts)
        lines = sum(t.count("\n") + 1 for t in texts)
        ours = tok.encode_batch(texts, add_special_tokens=False)
        base = baseline.encode_batch(texts, add_special_tokens=False)
        n_ours = sum(len(e.ids) for e in ours)
        n_base = sum(len(e.ids) for e in base)
        exact = sum(tok.decode(e.ids, skip_special_tokens=False) == t for e, t in zip(ours, texts))
        per_language[language] = {
            "texts": len(texts),
            "tokens_per_char": n_ours / max(chars, 1),
            "baseline_tokens_per_char": n_base / max(chars, 1),
            "tokens_per_line": n_ours / max(lines, 1),
            "baseline_tokens_per_line": n_base / max(lines, 1),
            "unknown_rate": sum(e.ids.count(unk) for e in ours) / max(n_ours, 1),
            "round_trip_exact": exact / max(len(texts), 1),
        }
    vocab = tok.get_vocab()
    decoder = decoders.ByteLevel()
    longest = sorted(vocab, key=lambda t: -len(decoder.decode([t])))[:20]
    return {"per_language": per_language, "vocab_size": len(vocab),
            "longest_tokens": [decoder.decode([t]) for t in longest]}


def run(ctx) -> dict:
    """The `tokenizer` stage: train on the clean files (every 50th held out), validate, save, report."""
    import json

    import pyarrow.parquet as pq

    from codesift.runs import atomic_write, write_json

    cfg = ctx.recipe.tokenizer
    table = pq.read_table(ctx.inputs["data"] / "files.parquet", columns=["text", "language"]).to_pylist()
    train = [row["text"] for i, row in enumerate(table) if i % 50]
    samples: dict[str, list[str]] = {}
    for i, row in enumerate(table):
        if i % 50 == 0:
            samples.setdefault(row["language"], []).append(row["text"])
    tok = train_tokenizer(train, cfg)
    baseline = train_tokenizer(train, cfg, code_aware=False)
    report = validate(tok, baseline, samples)
    save_for_transformers(tok, ctx.out_dir)
    write_json(ctx.out_dir / "validation.json", report)
    rows = [f"| {lang} | {m['texts']} | {m['tokens_per_char']:.3f} | {m['baseline_tokens_per_char']:.3f} | "
            f"{m['tokens_per_line']:.2f} | {m['baseline_tokens_per_line']:.2f} | {m['unknown_rate']:.4f} | "
            f"{m['round_trip_exact']:.3f} |" for lang, m in report["per_language"].items()]
    with atomic_write(ctx.out_dir / "report.md") as fh:
        fh.write("\n".join([
            f"# Tokenizer report ({cfg.kind}, vocab {report['vocab_size']:,})", "",
            "Held-out files (every 50th); baseline = the library's default byte-level setup, same data and size.", "",
            "| language | files | tokens/char | baseline | tokens/line | baseline | unknown rate | round trip |",
            "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
            "Longest tokens: " + ", ".join(json.dumps(t) for t in report["longest_tokens"]), ""]))
    return {"vocab_size": report["vocab_size"], "train_files": len(train)}
