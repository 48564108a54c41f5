"""InfoNCE against hand-computed values, false-negative masking, Matryoshka, temperature, and GradCache giving the
full-batch gradient (one process and two gloo processes)."""

import math
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codesift.model.embedder import Embedder
from codesift.train.gradcache import cached_backward, chunks
from codesift.train.losses import Temperature, info_nce, matryoshka_info_nce

from gradcache_ranks import Toy, rank_main, toy_batch, toy_loss
from tiny_encoder import one_thread, tiny_encoder  # noqa: F401  (fixtures)


def softplus(x: float) -> float:  # log(1 + e^x)
    return math.log1p(math.exp(x))


Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
D = torch.tensor([[1.0, 0.0], [0.6, 0.8]])


def test_info_nce_matches_hand_computation():
    # scale 20 (t = 0.05). query->code logits: row 0 [20, 12] (target 0), row 1 [0, 16] (target 1)
    forward = (softplus(12 - 20) + softplus(0 - 16)) / 2
    # code->query logits: code 0 [20, 0] (target 0), code 1 [12, 16] (target 1)
    backward = (softplus(0 - 20) + softplus(12 - 16)) / 2
    assert info_nce(Q, D, scale=20.0, symmetric=False).item() == pytest.approx(forward, rel=1e-5)
    assert info_nce(Q, D, scale=20.0).item() == pytest.approx((forward + backward) / 2, rel=1e-5)


def test_hard_negatives_join_every_querys_candidates():
    n = torch.tensor([[0.0, 1.0]])  # scores 0 with query 0, 20 with query 1
    row0 = -math.log(math.exp(20) / (math.exp(20) + math.exp(12) + math.exp(0)))
    row1 = -math.log(math.exp(16) / (math.exp(0) + math.exp(16) + math.exp(20)))
    got = info_nce(Q, D, n, scale=20.0, symmetric=False).item()
    assert got == pytest.approx((row0 + row1) / 2, rel=1e-5)


def test_copies_of_the_positive_are_masked_not_negatives():
    torch.manual_seed(0)
    q, d, n = (F.normalize(torch.randn(s, 8), dim=-1) for s in (4, 4, 3))
    copy = torch.cat([n[:2], d[1:2]])  # the third hard negative is query 1's positive again
    ids = torch.tensor([10, 11, 12, 13, 20, 21, 11])
    masked = info_nce(q, d, copy, 20.0, symmetric=False, doc_ids=ids)
    cand = torch.cat([d, copy])
    rows = [-F.log_softmax(20.0 * q[i] @ (cand if i != 1 else cand[:6]).T, dim=-1)[i] for i in range(4)]
    assert masked.item() == pytest.approx((sum(rows) / 4).item(), rel=1e-5)  # only query 1 loses the copy
    # identical queries 0 and 1: each one's positive is not a negative for the other (query -> code rows)
    got = info_nce(q, d, None, 20.0, symmetric=False, query_ids=torch.tensor([1, 1, 2, 3]))
    rows = [-F.log_softmax(20.0 * q[0] @ d[[0, 2, 3]].T, dim=-1)[0],
            -F.log_softmax(20.0 * q[1] @ d[[1, 2, 3]].T, dim=-1)[0],
            *(-F.log_softmax(20.0 * q[i] @ d.T, dim=-1)[i] for i in (2, 3))]
    assert got.item() == pytest.approx((sum(rows) / 4).item(), rel=1e-5)


def test_matryoshka_averages_normalized_prefixes():
    torch.manual_seed(1)
    q, d, n = torch.randn(5, 16), torch.randn(5, 16), torch.randn(5, 16)
    got = matryoshka_info_nce(q, d, n, 20.0, dims=[8, 4])
    parts = [info_nce(F.normalize(q[:, :k], dim=-1), F.normalize(d[:, :k], dim=-1), F.normalize(n[:, :k], dim=-1),
                      20.0) for k in (16, 8, 4)]
    assert got.item() == pytest.approx(sum(p.item() for p in parts) / 3, rel=1e-6)
    assert matryoshka_info_nce(q, d, None, 20.0).item() == pytest.approx(
        info_nce(F.normalize(q, dim=-1), F.normalize(d, dim=-1), None, 20.0).item(), rel=1e-6)
    with pytest.raises(ValueError, match="matryoshka dims"):
        matryoshka_info_nce(q, d, None, 20.0, dims=[32])


def test_temperature_fixed_or_learned():
    fixed = Temperature(0.05)
    assert fixed.value == pytest.approx(0.05) and not list(fixed.parameters())
    learned = Temperature(0.05, learned=True)
    loss = info_nce(Q, D, scale=learned())
    loss.backward()
    assert learned.log_scale.grad is not None and learned.log_scale.grad.item() != 0
    with torch.no_grad():
        learned.log_scale.fill_(10.0)
    assert learned.value == pytest.approx(0.01)  # clamped at CLIP's limit
    with pytest.raises(ValueError):
        Temperature(0.001)


def test_chunks_trim_padding():
    features = {"input_ids": torch.tensor([[5, 6, 0], [5, 0, 0], [5, 6, 7]]),
                "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]])}
    parts = chunks(features, 2)
    assert [p["input_ids"].shape for p in parts] == [(2, 2), (1, 3)]


def _loss_fn(temperature, ids):
    def fn(reps):
        return matryoshka_info_nce(reps[0], reps[1], reps[2], temperature(), [8], doc_ids=ids)
    return fn


def test_gradcache_gives_the_full_batch_gradient(tiny_encoder):  # noqa: F811
    torch.manual_seed(0)
    model = Embedder.from_encoder(tiny_encoder, 64, embedding_dim=16)
    temperature = Temperature(0.05, learned=True)
    queries = [f"return the {w} of a list" for w in ("sum", "max", "min", "mean", "sorted copy", "length", "head")]
    codes = [f"def f(xs):\n    return {w}(xs)" for w in ("sum", "max", "min", "mean", "sorted", "len", "next")]
    negatives = [f"class C{i}:\n    pass" for i in range(7)]
    groups = [model.tokenize(t) for t in (queries, codes, negatives)]
    ids = torch.arange(14)

    def grads():
        return [p.grad.clone() for p in [*model.parameters(), temperature.log_scale]]

    reps = [model(**g) for g in groups]
    full = _loss_fn(temperature, ids)(reps)
    full.backward()
    expected = grads()
    for chunk_size in (3, 7):  # GradCache, and the one-chunk path (plain backprop)
        model.zero_grad(set_to_none=True)
        temperature.zero_grad(set_to_none=True)
        cached = cached_backward(model, groups, _loss_fn(temperature, ids), chunk_size=chunk_size)
        assert cached.item() == pytest.approx(full.item(), rel=1e-5)
        for want, got in zip(expected, grads(), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max()))  # fp32 sums


# --- two processes: gathered negatives + summed gradients equal the single-process full batch ----------------------


def test_gradcache_across_two_processes_matches_one(tmp_path):
    model = Toy()
    loss = toy_loss([model(**g) for g in toy_batch()])
    loss.backward()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "rank0.pt"
    torch.multiprocessing.spawn(rank_main, args=(port, str(out)), nprocs=2)
    got = torch.load(out)
    assert got["loss"].item() == pytest.approx(loss.item(), rel=1e-5)
    for p, g in zip(model.parameters(), got["grads"], strict=True):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6)
