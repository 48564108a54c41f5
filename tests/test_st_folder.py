"""The shipped model folders load in sentence-transformers too, with the vectors codesift's runtime gives."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from codesift.export.st_folder import add_sentence_transformers
from codesift.runtime.onnx import load_encoder
from codesift.runtime.views import DocumentViews

from conftest import REPO

TEXTS = ["read a config file", "def parse(path):\n    with open(path) as f:\n        return json.load(f)",
         "exact deduplication of code units by hash", 'func main() { fmt.Println("hi") }',
         "public static int add(int a, int b) { return a + b; }", "x = 1\n" * 400]  # the last one is truncated
CODESIFT_FILES = ("encoder.json", "tokenizer.json", "model.int8.onnx")


@pytest.mark.parametrize("name, min_cosine", [("default", 0.999), ("static", 0.99999)])
def test_shipped_folder_loads_in_sentence_transformers_with_the_runtimes_vectors(name, min_cosine):
    from sentence_transformers import SentenceTransformer

    folder = REPO / "models" / name
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ours = model.encode(TEXTS, convert_to_numpy=True)
    runtime = load_encoder(folder)
    for kind in ("query", "document"):  # the same weights; documents without the views sentence-transformers lacks
        plain = load_encoder(folder, document_views=DocumentViews()) if kind == "document" else runtime
        vectors = plain.encode(TEXTS, kind=kind).vectors
        assert ours.dtype == np.float32 and ours.shape == vectors.shape
        cosine = (ours * vectors).sum(axis=1) / np.linalg.norm(ours, axis=1)
        assert cosine.min() >= min_cosine, (kind, cosine)


@pytest.mark.parametrize("name", ["default", "static"])
def test_the_shipped_weights_are_what_the_writer_makes(tmp_path, name):
    """models/* hold exactly what `codesift package` now writes from their ONNX files."""
    shipped = REPO / "models" / name
    folder = tmp_path / name
    folder.mkdir()
    for file in CODESIFT_FILES:
        shutil.copy(shipped / file, folder / file)
    add_sentence_transformers(folder)
    written = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file() and p.name not in
                             ("README.md", "gate.json"))
    for weights in folder.rglob("model.safetensors"):
        ours, theirs = load_file(weights), load_file(shipped / weights.relative_to(folder))
        assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    for file in CODESIFT_FILES:  # what codesift reads is left as it was
        assert (folder / file).read_bytes() == (shipped / file).read_bytes()


def test_a_folder_without_its_onnx_weights_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        add_sentence_transformers(Path(tmp_path))
