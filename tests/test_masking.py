import numpy as np
import pytest

from codesift.config import TokenizerConfig
from codesift.tokenizer import train_tokenizer
from codesift.train.masking import IGNORE, corrupt, dobf_mask, identifier_owners, mask_batch, mlm_mask

CODE = '''def load_config(path):
    """Read the config file."""
    with open(path) as handle:
        config = parse(handle.read())
    return config if config else default_config(path)
'''


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer([CODE * 3, "x = y + 1\nfor i in range(10): print(i)\n"], TokenizerConfig(vocab_size=512))


def owners_of(tokenizer, text):
    enc = tokenizer.encode(text, add_special_tokens=False)
    owners, _ = identifier_owners(text, np.asarray(enc.offsets).reshape(-1, 2))
    return enc, owners


def test_identifier_owners_group_every_occurrence_and_skip_keywords(tokenizer):
    enc, owners = owners_of(tokenizer, CODE)
    by_owner: dict[int, set[str]] = {}
    for (start, end), owner in zip(enc.offsets, owners, strict=True):
        if owner >= 0:
            by_owner.setdefault(owner, set()).add(CODE[start:end].strip())
    names = {"".join(sorted(v)) for v in by_owner.values()}
    pieces = set().union(*by_owner.values())
    assert not pieces & {"def", "with", "as", "return", "if", "else"}  # keywords are syntax, never masked
    path_owner = {o for (s, e), o in zip(enc.offsets, owners, strict=True) if CODE[s:e].strip() == "path"}
    assert len(path_owner) == 1  # the three occurrences of `path` share one id
    assert len(names) >= 5


def test_dobf_masks_every_occurrence_of_one_identifier_and_nothing_else(tokenizer):
    enc, owners = owners_of(tokenizer, CODE)
    maskable = np.ones(len(owners), dtype=bool)
    for seed in range(20):
        chosen = dobf_mask(owners, maskable, np.random.default_rng(seed))
        picked = set(owners[chosen])
        assert len(picked) == 1 and -1 not in picked
        assert chosen.sum() == (owners == picked.pop()).sum()  # all its tokens, every occurrence
    text = "".join(CODE[s:e] for (s, e), c in zip(enc.offsets, dobf_mask(owners, maskable, np.random.default_rng(3)),
                                                  strict=True) if c)
    assert text.strip()  # masked tokens carry the name


def test_dobf_without_identifiers_returns_none():
    owners = np.full(10, -1)
    assert dobf_mask(owners, np.ones(10, dtype=bool), np.random.default_rng(0)) is None


def test_mlm_rate_and_bert_corruption_statistics():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, size=200_000)
    maskable = np.ones(len(ids), dtype=bool)
    maskable[::50] = False  # specials
    chosen = mlm_mask(maskable, 0.3, rng)
    assert not (chosen & ~maskable).any()
    assert chosen.sum() == round(0.3 * maskable.sum())
    inputs, labels = corrupt(ids, chosen, rng, mask_id=4, vocab_size=1000, first_regular_id=5)
    assert (labels[~chosen] == IGNORE).all() and (labels[chosen] == ids[chosen]).all()
    masked = (inputs[chosen] == 4).mean()
    kept = (inputs[chosen] == ids[chosen]).mean()
    assert abs(masked - 0.8) < 0.01 and 0.09 < kept < 0.115  # 10% kept + random draws of the same id
    assert (inputs[~chosen] == ids[~chosen]).all() and inputs.min() >= 4


def test_mask_batch_mixes_dobf_and_mlm_and_never_touches_specials():
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 500, size=(400, 32))
    ids[:, 0] = 2
    owners = np.where(rng.random(ids.shape) < 0.3, rng.integers(0, 4, ids.shape), -1)
    owners[:, 0] = -1
    special = ids == 2
    inputs, labels, is_dobf = mask_batch(ids, owners, special, rate=0.2, dobf_fraction=0.5, rng=rng, mask_id=4,
                                         vocab_size=500, first_regular_id=5)
    assert 0.4 < is_dobf.mean() < 0.6
    assert (labels[:, 0] == IGNORE).all() and (inputs[:, 0] == 2).all()
    for row in np.flatnonzero(is_dobf):
        hidden = labels[row] != IGNORE
        assert len(set(owners[row][hidden])) == 1 and (inputs[row][hidden] == 4).all()
    mlm_rows = ~is_dobf
    assert abs((labels[mlm_rows] != IGNORE).mean() - 0.2 * 31 / 32) < 0.01
