"""New chunks are embedded on a background thread while files are still being chunked (index/embedding.py)."""

import threading

import numpy as np
import pytest

from codesift.index import embedding
from codesift.index.chunking import Chunk
from codesift.index.code_index import CodeIndex
from codesift.runtime.fake import HashEncoder


class CountingEncoder(HashEncoder):
    """Records every text it embeds and the thread it ran on."""

    def __init__(self):
        super().__init__(32)
        self.texts: list[str] = []
        self.threads: set[str] = set()

    def encode(self, texts, kind="document"):
        self.texts += texts
        self.threads.add(threading.current_thread().name)
        return super().encode(texts, kind)


class FailingEncoder(HashEncoder):
    def encode(self, texts, kind="document"):
        raise RuntimeError("the model broke")


def chunk(name: str, body: str) -> Chunk:
    return Chunk("a.py", "python", name, "function", 1, 2, body)


def test_each_new_text_is_embedded_once_on_the_worker_in_batches(monkeypatch):
    monkeypatch.setattr(embedding, "EMBED_BATCH", 2)
    encoder = CountingEncoder()
    known = chunk("old", "def old(): pass")
    chunks = [chunk(f"f{i}", f"def f{i}(): return {i}") for i in range(5)]
    with embedding.BackgroundEmbedder(encoder, 32, [known.content_hash]) as embedder:
        embedder.add([known, *chunks[:3]])
        embedder.add([chunks[0], *chunks[3:]])  # a text seen before is not embedded again
        vectors = embedder.vectors()
    assert sorted(encoder.texts) == sorted(c.embedding_text for c in chunks)
    assert encoder.threads and all(t.startswith("codesift-embed") for t in encoder.threads)
    assert set(vectors) == {c.content_hash for c in chunks}
    expected = HashEncoder(32).encode([c.embedding_text for c in chunks]).vectors
    np.testing.assert_allclose(np.stack([vectors[c.content_hash] for c in chunks]), expected, atol=1e-6)


def test_the_encoders_error_reaches_the_caller():
    with embedding.BackgroundEmbedder(FailingEncoder(32), 32, []) as embedder:
        embedder.add([chunk("f", "def f(): pass")])
        with pytest.raises(RuntimeError, match="the model broke"):
            embedder.vectors()


def test_vectors_of_the_wrong_size_are_refused():
    with embedding.BackgroundEmbedder(HashEncoder(16), 32, []) as embedder:
        embedder.add([chunk("f", "def f(): pass")])
        with pytest.raises(ValueError, match="the index holds dim 32"):
            embedder.vectors()


def test_an_update_whose_embedding_fails_keeps_the_committed_index(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding, "EMBED_BATCH", 2)
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(6):
        (repo / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    index = CodeIndex.create(tmp_path / "idx", HashEncoder(32))
    first = index.update([repo], HashEncoder(32))
    assert first.chunks_embedded == 6
    (repo / "m0.py").write_text("def changed(y):\n    return y * 2\n")
    with pytest.raises(RuntimeError, match="the model broke"):
        index.update([repo], FailingEncoder(32))
    reopened = CodeIndex.open(tmp_path / "idx")
    assert reopened.generation == first.generation and len(reopened.chunks) == 6
    assert not [t for t in threading.enumerate() if t.name.startswith("codesift-embed")]
