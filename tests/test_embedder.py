"""The embedder's sentence-transformers folder: SentenceTransformer(folder) gives our vectors; save/load round trip."""

import numpy as np
import pytest
import torch

from codesift.model.embedder import Embedder, mean_pool

from tiny_encoder import one_thread, tiny_encoder  # noqa: F401  (fixtures)

TEXTS = ["parse a json file", "def add(a, b):\n    return a + b", "x" * 500, "sort the list in place"]


@pytest.mark.parametrize("embedding_dim", [None, 16])
def test_sentence_transformers_loads_the_same_vectors(tiny_encoder, tmp_path, embedding_dim):  # noqa: F811
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = Embedder.from_encoder(tiny_encoder, 64, embedding_dim)
    ours = model.encode(TEXTS, batch_size=3)
    folder = model.save(tmp_path / "st")
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    theirs = st.encode(TEXTS, batch_size=3, convert_to_numpy=True)
    assert st.max_seq_length == 64 and theirs.shape == (4, model.dim)
    np.testing.assert_allclose(theirs, ours, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    again = Embedder.load(folder).encode(TEXTS)
    np.testing.assert_allclose(again, ours, atol=1e-6)


def test_padding_does_not_change_a_vector(tiny_encoder):  # noqa: F811
    model = Embedder.from_encoder(tiny_encoder, 64)
    alone = model.encode(TEXTS[:1])
    batched = model.encode(TEXTS, batch_size=4)  # padded to the 64-token text
    np.testing.assert_allclose(batched[:1], alone, atol=1e-5)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_random_init_keeps_architecture_not_weights(tiny_encoder):  # noqa: F811
    pretrained = Embedder.from_encoder(tiny_encoder, 64)
    fresh = Embedder.from_encoder(tiny_encoder, 64, random_init=True)
    assert fresh.dim == pretrained.dim
    a, b = pretrained.encoder.embeddings.tok_embeddings.weight, fresh.encoder.embeddings.tok_embeddings.weight
    assert a.shape == b.shape and not torch.equal(a, b)


def test_bad_folders_are_named(tmp_path, tiny_encoder):  # noqa: F811
    with pytest.raises(FileNotFoundError, match="no config.json"):
        Embedder.from_encoder(tmp_path, 64)
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers folder"):
        Embedder.load(tmp_path)
    with pytest.raises(ValueError, match="exceeds the encoder's 64 positions"):
        Embedder.from_encoder(tiny_encoder, 128)
