import numpy as np

from codesift.runtime import Encoder
from codesift.runtime.fake import HashEncoder


def test_hash_encoder_is_an_encoder_with_unit_vectors_and_truncation():
    enc = HashEncoder(dim=32, max_seq_len=5)
    out = enc.encode(["parse json file", "parse json", "one two three four five six", ""])
    assert isinstance(enc, Encoder)
    assert out.vectors.shape == (4, 32) and out.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0)
    assert out.vectors[0] @ out.vectors[1] > 0.5  # shared words -> similar
    assert out.truncated == [False, False, True, False]
    assert out.token_counts == [5, 4, 8, 2]
