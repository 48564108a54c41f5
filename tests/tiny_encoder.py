"""Shared fixtures for the contrastive-training tests: a tiny tokenizer + ModernBERT encoder folder (as the pretrain
stage writes it) and a small pairs.parquet made from codesift's own Python source."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesift.config import ModelConfig, TokenizerConfig
from codesift.model.encoder import build_mlm
from codesift.tokenizer import save_for_transformers, train_tokenizer

SRC = Path(__file__).resolve().parents[1] / "src" / "codesift"
TINY = ModelConfig(layers=2, hidden=32, heads=2, intermediate=64, max_seq_len=64)


def source_pairs() -> list[dict]:
    """doc -> body and signature -> body pairs from every function in src/codesift; split by file."""
    rows = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        bucket = int(hashlib.md5(path.name.encode()).hexdigest(), 16) % 10
        split = "val" if bucket < 2 else "test" if bucket < 3 else "train"
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            code = ast.get_source_segment(text, node) or ""
            header, _, body = code.partition("\n")
            doc = ast.get_docstring(node)
            base = {"language": "python", "repo": "codesift", "path": str(path.relative_to(SRC)),
                    "symbol": node.name, "split": split}
            if doc and len(body.splitlines()) > 1:
                rows.append(base | {"query": " ".join(doc.split("\n\n")[0].split()), "code": code,
                                    "pair_type": "doc-body"})
            if len(body.strip().splitlines()) >= 2:
                rows.append(base | {"query": header.strip(), "code": body, "pair_type": "signature-body"})
    return rows


def write_pairs(path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(source_pairs()), path)
    return path


def word_tokenizer(words: list[str]):
    """A tokenizer whose vocabulary is `words` (plus [UNK]), one token per whitespace-separated word."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def write_encoder(folder: Path, cfg: ModelConfig = TINY, seed: int = 0) -> Path:
    import torch

    texts = [p.read_text() for p in sorted(SRC.rglob("*.py"))]
    tok = train_tokenizer(texts, TokenizerConfig(vocab_size=512, max_training_chars=2_000_000))
    torch.manual_seed(seed)
    model = build_mlm(cfg, tok.get_vocab_size())
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    save_for_transformers(tok, folder)
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and two threads on a busy 2-core machine spin-wait badly."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return write_encoder(tmp_path_factory.mktemp("encoder") / "encoder")


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("pairs") / "pairs.parquet")
