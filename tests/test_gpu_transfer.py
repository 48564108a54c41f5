"""bench/gpu/int8_weights.py: the starting model of continued training travels to the GPU machine as int8 rows."""

import sys

import numpy as np
import torch
from safetensors.torch import load_file

from codesift.model.embedder import Embedder

from conftest import REPO
from tiny_encoder import one_thread, tiny_encoder  # noqa: F401  (fixtures)

sys.path.insert(0, str(REPO / "bench" / "gpu"))
import int8_weights  # noqa: E402


def test_int8_rows_restore_the_model_within_half_a_step(tmp_path, tiny_encoder):  # noqa: F811
    model = Embedder.from_encoder(tiny_encoder, 64).save(tmp_path / "model")
    int8_weights.pack(model, tmp_path / "packed")
    packed = load_file(str(tmp_path / "packed" / "model.safetensors"))
    original = load_file(str(model / "model.safetensors"))
    matrices = [n for n, t in original.items() if t.ndim == 2]
    assert matrices and all(packed[n].dtype == torch.int8 for n in matrices)
    size = lambda f: f.stat().st_size  # noqa: E731
    assert size(tmp_path / "packed" / "model.safetensors") < 0.3 * size(model / "model.safetensors")

    int8_weights.unpack(tmp_path / "packed", tmp_path / "restored")
    restored = load_file(str(tmp_path / "restored" / "model.safetensors"))
    assert restored.keys() == original.keys()
    for name, t in original.items():
        step = t.abs().amax(dim=1, keepdim=True) / 127 if t.ndim == 2 else t.abs() * 2**-10
        assert restored[name].dtype == torch.float32
        assert ((restored[name] - t).abs() <= step / 2 + 1e-7).all(), name
    texts = ["def read_config(path):", "open a file and return its lines", "class Cache: pass"]
    cosine = int8_weights.embedding_cosine(model, tmp_path / "restored", texts)
    assert 0.999 < cosine <= 1.0001
    again = Embedder.load(tmp_path / "restored").encode(texts)
    assert np.allclose(np.linalg.norm(again, axis=1), 1, atol=1e-5)
