"""The static model's pretraining: its table starts from how tokens co-occur in the corpus, not from noise.

Contrastive pairs reach a token only when it is in a drawn query or code, so a word that few docstrings use (the
"milliseconds" of a web query) keeps a near-random row. Counting which tokens sit near which in the corpus's own
code and docs gives every token a row that already means something (`timezone` lands by `tz`, `utc`, `tzinfo`):
co-occurrence counts in a window, weighted 1/distance (GloVe), turned into positive PMI with context smoothing
(Levy, Goldberg & Dagan 2015) and factored by a truncated SVD. Rows are scaled to the random init's norm, and
tokens the sample never shows keep a random row. Deterministic for a seed; minutes on two CPU cores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp
import torch

from codesift.model.static import INIT_STD, StaticEmbedder, static_tokenizer

log = logging.getLogger(__name__)

WINDOW = 5  # tokens either side; a name's words and the call around them
CONTEXT_ALPHA = 0.75  # context distribution smoothing: rare contexts get less inflated PMI
TOKENIZE_BATCH = 20_000


def with_doc_above(code: str, doc: str | None) -> str:
    """The unit's doc then its code: a doc comment above a definition (Go, Rust, Java, JS/TS) is not in the unit's
    code, while a Python docstring already is (its first line found there), so docs and names get counted together
    in every language."""
    if not doc or doc.splitlines()[0].strip() in code:
        return code
    return f"{doc}\n{code}"


def sample_texts(units_parquet, max_chars: int, seed: int) -> list[str]:
    """A seeded sample of the non-test units' docs and code, up to `max_chars`."""
    table = pq.read_table(units_parquet, columns=["code", "doc", "is_test"]).to_pydict()
    texts = [with_doc_above(code, doc)
             for code, doc, is_test in zip(table["code"], table["doc"], table["is_test"], strict=True) if not is_test]
    order = np.random.default_rng(seed).permutation(len(texts))
    chosen, total = [], 0
    for i in order:
        if total >= max_chars:
            break
        chosen.append(texts[i])
        total += len(texts[i])
    return chosen


def cooccurrence(id_batches: Iterable[Sequence[np.ndarray]], vocab_size: int, window: int = WINDOW) -> sp.csr_matrix:
    """Symmetric (vocab, vocab) counts of token pairs at most `window` apart within one text, weighted 1/distance."""
    counts = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    gap = np.full(window, vocab_size, dtype=np.int64)  # a run of non-tokens between texts: no pair spans two texts
    for batch in id_batches:
        ids = np.concatenate([part for text in batch for part in (np.asarray(text, dtype=np.int64), gap)])
        rows, cols, weights = [], [], []
        for k in range(1, window + 1):
            a, b = ids[:-k], ids[k:]
            real = (a < vocab_size) & (b < vocab_size)
            rows.append(a[real])
            cols.append(b[real])
            weights.append(np.full(int(real.sum()), 1.0 / k))
        counts = counts + sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=counts.shape)
    return (counts + counts.T).tocsr()


def ppmi(counts: sp.csr_matrix, alpha: float = CONTEXT_ALPHA) -> sp.csr_matrix:
    """Positive pointwise mutual information, the context counts raised to `alpha`."""
    coo = counts.tocoo()
    rows = np.asarray(counts.sum(1)).ravel()
    contexts = rows**alpha
    pmi = np.log(coo.data * contexts.sum() / (rows[coo.row] * contexts[coo.col]))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


def svd_rows(matrix: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """(vocab, dim) rows U sqrt(S) of a truncated SVD, scaled to the random init's mean row norm."""
    from sklearn.utils.extmath import randomized_svd

    u, s, _ = randomized_svd(matrix, dim, n_iter=4, random_state=seed)
    rows = u * np.sqrt(s)
    norms = np.linalg.norm(rows, axis=1)
    return rows * (INIT_STD * np.sqrt(dim) / norms[norms > 0].mean())


def cooccurrence_model(tokenizer, texts: list[str], dim: int, max_seq_len: int, seed: int, fold_case: bool = False,
                       fold_stems: bool = False) -> tuple[StaticEmbedder, dict]:
    """A StaticEmbedder whose rows come from the texts' token co-occurrence (folded to lower case and stems with
    `fold_case` and `fold_stems`, as training reads them), plus a summary for the stage manifest."""
    start = time.perf_counter()
    vocab_size = tokenizer.get_vocab_size()
    model = StaticEmbedder(tokenizer, dim, max_seq_len, weights=torch.zeros(vocab_size, dim), fold_case=fold_case,
                           fold_stems=fold_stems)  # its folding is what the counts read through; rows come below
    fold = None if model.fold is None else model.fold.numpy()
    reader = static_tokenizer(tokenizer, max_seq_len)
    reader.no_truncation()  # a window is local: a long file counts whole

    def batches():
        for at in range(0, len(texts), TOKENIZE_BATCH):
            encoded = reader.encode_batch_fast(texts[at : at + TOKENIZE_BATCH], add_special_tokens=False)
            ids = [np.asarray(e.ids, dtype=np.int64) for e in encoded]
            yield [fold[i] for i in ids] if fold is not None else ids
            log.info("static init: counted %d/%d texts", min(at + TOKENIZE_BATCH, len(texts)), len(texts))

    counts = cooccurrence(batches(), vocab_size)
    seen = np.asarray(counts.sum(1)).ravel() > 0
    rows = svd_rows(ppmi(counts), dim, seed)
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(vocab_size, dim, generator=generator) * INIT_STD
    table[torch.from_numpy(seen)] = torch.from_numpy(rows[seen]).float()
    model.embedding.weight.data.copy_(table)
    summary = {"init": "cooccurrence", "texts": len(texts), "chars": sum(map(len, texts)),
               "tokens_with_rows": int(seen.sum()), "vocab": vocab_size, "pairs_nonzero": int(counts.nnz),
               "seconds": round(time.perf_counter() - start, 1)}
    return model, summary
