"""Pretraining inputs: random token masking (MLM) and identifier deobfuscation (DOBF), as pure functions.

DOBF hides every occurrence of one identifier and asks the model to recover it, which forces it to infer a
name from how the name is used: CodeSage's ablation found a 50/50 mix of DOBF and MLM examples the largest
pretraining gain for small code models. Both work on packed windows of token ids; `owners` says, per token,
which identifier occurrence it belongs to (-1: none), so DOBF needs no text at batch time.
"""

from __future__ import annotations

import keyword
import re

import numpy as np

IGNORE = -100  # label for positions the loss skips (the PyTorch/transformers convention)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Reserved words of the six corpus languages: they are syntax, not names, so DOBF never hides them.
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset("""
    abstract any as assert async await boolean break byte case catch char class const continue crate debugger
    declare default defer delete do double dyn else enum export extends extern false final finally float fn for
    func function go goto if impl implements import in instanceof int interface let long loop map match mod
    module move mut namespace native new null nil package private protected pub public readonly ref return
    select self Self short static struct super switch synchronized this throw throws trait transient true try
    type typeof undefined unsafe use var void volatile where while with yield string number bool str usize
    isize u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 chan fallthrough range keyof satisfies
""".split())


def identifier_owners(text: str, offsets: np.ndarray, first_id: int = 0) -> tuple[np.ndarray, int]:
    """Per token, an id shared by all tokens of the same identifier name in `text` (-1 for other tokens).

    `offsets` is the tokenizer's (start, end) character span per token. A token belongs to the identifier
    covering its last character, so a byte-level token such as " foo" (leading space) maps to `foo`. Ids
    start at `first_id`, so the owners of consecutive files packed into one window never collide.
    Returns the owners and the next free id.
    """
    owner_of_char = np.full(len(text) + 1, -1, dtype=np.int64)
    ids: dict[str, int] = {}
    for m in _IDENTIFIER.finditer(text):
        name = m.group()
        if name in KEYWORDS:
            continue
        ident = ids.setdefault(name, first_id + len(ids))
        owner_of_char[m.start() : m.end()] = ident
    if len(offsets) == 0:
        return np.zeros(0, dtype=np.int64), first_id + len(ids)
    last_char = np.clip(offsets[:, 1] - 1, 0, len(text))
    owners = np.where(offsets[:, 1] > offsets[:, 0], owner_of_char[last_char], -1)
    return owners, first_id + len(ids)


def mlm_mask(maskable: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Choose `rate` of the maskable positions of one sequence (at least one); returns a boolean selection.

    The caller applies BERT's 80/10/10 corruption with `corrupt`."""
    candidates = np.flatnonzero(maskable)
    if len(candidates) == 0:
        return np.zeros(len(maskable), dtype=bool)
    n = max(1, int(round(rate * len(candidates))))
    chosen = np.zeros(len(maskable), dtype=bool)
    chosen[rng.choice(candidates, size=n, replace=False)] = True
    return chosen


def dobf_mask(owners: np.ndarray, maskable: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Select every token of one identifier, drawn uniformly among the names in the sequence; None if none."""
    names = np.unique(owners[(owners >= 0) & maskable])
    if len(names) == 0:
        return None
    return (owners == rng.choice(names)) & maskable


def corrupt(
    ids: np.ndarray, chosen: np.ndarray, rng: np.random.Generator, mask_id: int, vocab_size: int,
    first_regular_id: int, keep_fraction: float = 0.1, random_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's corruption of the chosen positions: 80% [MASK], 10% a random token, 10% unchanged.

    Returns (inputs, labels) with labels = the original id where chosen, IGNORE elsewhere."""
    inputs = ids.copy()
    labels = np.where(chosen, ids, IGNORE)
    draw = rng.random(len(ids))
    to_mask = chosen & (draw >= keep_fraction + random_fraction)
    to_random = chosen & (draw >= keep_fraction) & (draw < keep_fraction + random_fraction)
    inputs[to_mask] = mask_id
    inputs[to_random] = rng.integers(first_regular_id, vocab_size, size=int(to_random.sum()))
    return inputs, labels


def mask_batch(
    ids: np.ndarray, owners: np.ndarray, special: np.ndarray, *, rate: float, dobf_fraction: float,
    rng: np.random.Generator, mask_id: int, vocab_size: int, first_regular_id: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask a (batch, seq) block: each row is a DOBF example with probability `dobf_fraction` (when it holds
    an identifier), else MLM at `rate`. DOBF rows hide their identifier entirely ([MASK] at every
    occurrence, no random/kept tokens: seeing one occurrence would give the name away).

    Returns (inputs, labels, is_dobf per row)."""
    inputs = np.empty_like(ids)
    labels = np.empty_like(ids)
    is_dobf = np.zeros(len(ids), dtype=bool)
    for row in range(len(ids)):
        maskable = ~special[row]
        chosen = dobf_mask(owners[row], maskable, rng) if rng.random() < dobf_fraction else None
        if chosen is not None:
            is_dobf[row] = True
            inputs[row] = np.where(chosen, mask_id, ids[row])
            labels[row] = np.where(chosen, ids[row], IGNORE)
            continue
        chosen = mlm_mask(maskable, rate, rng)
        inputs[row], labels[row] = corrupt(ids[row], chosen, rng, mask_id, vocab_size, first_regular_id)
    return inputs, labels, is_dobf
