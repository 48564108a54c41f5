import pytest
from transformers import AutoTokenizer

from codesift.config import TokenizerConfig
from codesift.tokenizer import MASK, PAD, save_for_transformers, train_tokenizer, validate

from conftest import REPO

TEXTS = [p.read_text() for p in sorted((REPO / "src" / "codesift").rglob("*.py"))]
CODE = "def parse_header(self, raw):\n        value = raw[12:345]\n\treturn value.strip()  # é ✓\n"


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def tok(request):
    return train_tokenizer(TEXTS, TokenizerConfig(kind=request.param, vocab_size=1024))


def test_round_trip_is_exact_and_has_no_unknowns(tok):
    ids = tok.encode(CODE, add_special_tokens=False).ids
    assert tok.decode(ids, skip_special_tokens=False) == CODE
    assert tok.token_to_id("[UNK]") not in ids


def test_specials_and_code_aware_pieces(tok):
    assert tok.token_to_id("[PAD]") == PAD and tok.token_to_id("[MASK]") == MASK
    enc = tok.encode("x = 2026")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    digits = [t for t in enc.tokens if t.strip("Ġ").isdigit()]
    assert all(len(t.strip("Ġ")) == 1 for t in digits)  # digits split one by one


def test_transformers_loads_saved_tokenizer(tok, tmp_path):
    save_for_transformers(tok, tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert hf.mask_token_id == MASK and hf.pad_token_id == PAD
    assert hf.decode(hf(CODE, add_special_tokens=False)["input_ids"]) == CODE


def test_validation_report(tok):
    baseline = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=1024), code_aware=False)
    report = validate(tok, baseline, {"python": [CODE]})
    m = report["per_language"]["python"]
    assert m["round_trip_exact"] == 1.0 and m["unknown_rate"] == 0.0
    assert 0 < m["tokens_per_char"] < 1 and 0 < m["baseline_tokens_per_char"] < 1
    assert len(report["longest_tokens"]) == 20


def test_split_identifiers_gives_a_word_one_token_in_names_and_prose(tmp_path):
    tok = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=1024, split_identifiers=True))
    name = tok.encode("def read_text_file(path):", add_special_tokens=False).tokens
    camel = [piece for piece, _ in tok.pre_tokenizer.pre_tokenize_str("HTTPServer.readTextFile")]
    prose = tok.encode("read text file", add_special_tokens=False).tokens
    assert prose == ["read", "text", "file"] and camel == ["HTTP", "Server", ".", "read", "Text", "File"]
    assert name[:6] == ["def", "read", "_", "text", "_", "file"]
    assert tok.encode("x = 1\n    y", add_special_tokens=False).tokens == ["x", "=", "1", "ĊĠĠĠĠ", "y"]
    save_for_transformers(tok, tmp_path)  # what the runtime and sentence-transformers load
    assert AutoTokenizer.from_pretrained(str(tmp_path)).tokenize("read text file") == prose


def test_whole_names_stay_the_default():
    tok = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=1024))
    assert "_" not in tok.encode("read_text_file", add_special_tokens=False).tokens
