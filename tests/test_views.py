"""Document views: which doc and name each language's definition yields, the weights' parsing and validation, and
how a document's vector is made from its views."""

import numpy as np
import pytest

from codesift.runtime.views import DocumentViews, add_views, definition_parts

DEFINITIONS = {
    "python, docstring after a signature over two lines": (
        ('def read_config(path,\n                encoding="utf-8"):\n    """Read the config file.\n\n    More.\n    """\n'
         "    return load(path)"), ("Read the config file.", "read_config")),  # the doc's summary
    "python method under the index's header line and a decorator": (
        "pkg/files.py Store.size\n    @property\n    def size(self):\n        'Bytes on disk.'\n        return self.n",
        ("Bytes on disk.", "size")),
    "go, a doc comment and a receiver": (
        "// Len reports the number of items.\nfunc (q *Queue) Len() int {\n\treturn len(q.items)\n}",
        ("Len reports the number of items.", "Len")),
    "rust, a doc comment and an attribute": (
        "/// Parses a header line.\n#[inline]\npub fn parse_header<'a>(line: &'a str) -> Header<'a> {\n}",
        ("Parses a header line.", "parse_header")),
    "java, a block doc and a method signature": (
        ("/**\n * Returns the first element.\n * @return the head\n */\npublic static <T> T first(List<T> xs) {\n"
         "    return xs.get(0);\n}"), ("Returns the first element.", "first")),
    "typescript method": ("async fetchUser(id: string): Promise<User> {\n  return get(id);\n}", ("", "fetchUser")),
    "javascript arrow function": ("/** Joins paths. */\nexport const joinPaths = (a, b) => {\n  return a + b\n}",
                                  ("Joins paths.", "joinPaths")),
    "a body without its signature": ("    flags = 0\n    if x:\n        return compile(source)", ("", "")),
    "a Markdown section": ("README.md Install\n# Install\n\npip install codesift", ("", "")),
    "a comment above a line that defines nothing is not the next definition's doc": (
        "# counter\nn = 0\ndef bump():\n    pass", ("", "bump")),
}


@pytest.mark.parametrize("case", DEFINITIONS)
def test_each_language_gives_its_definitions_doc_and_name(case):
    text, expected = DEFINITIONS[case]
    assert definition_parts(text) == expected


def test_the_definition_is_looked_for_in_the_first_code_lines_only():
    late = "a = 1\nb = 2\nc = 3\ndef f():\n    pass"
    assert definition_parts(late) == ("", "")


def test_weights_parse_validate_and_name_their_revision():
    assert DocumentViews.parse("doc=0.35,name=0.3") == DocumentViews(0.35, 0.3)
    assert DocumentViews.parse("name=1") == DocumentViews(0.0, 1.0)
    assert not DocumentViews.parse("off").active
    for bad in ("doc", "doc=0.3,doc=0.4", "title=1", "doc=x"):
        with pytest.raises(ValueError, match="document views"):
            DocumentViews.parse(bad)
    with pytest.raises(ValueError, match="finite number >= 0"):
        DocumentViews(doc=-0.1)
    with pytest.raises(ValueError, match="finite number >= 0"):
        DocumentViews(name=float("nan"))
    assert DocumentViews().revision("abc") == "abc"  # plain pooling: the weights' own revision
    made = {DocumentViews(0.35, 0.3).revision("abc"), DocumentViews(0.3, 0.35).revision("abc"),
            DocumentViews(0.35, 0.3).revision("abd")}
    assert len(made) == 3 and "abc" not in made


def test_a_documents_vector_adds_its_weighted_views_and_is_normalized_again():
    texts = ['def load(path):\n    """Load a file."""\n    return 1', "x = 1", "func Run() {\n}"]
    table = {"load": [0.0, 1.0, 0.0], "Load a file.": [0.0, 0.0, 1.0], "Run": [0.6, 0.8, 0.0]}
    asked: list[list[str]] = []

    def encode(parts: list[str]) -> np.ndarray:
        asked.append(parts)
        return np.array([table[p] for p in parts], dtype=np.float32)

    plain = np.eye(3, dtype=np.float32)[[0, 0, 0]]
    out = add_views(texts, plain, DocumentViews(doc=0.5, name=0.25), encode)
    assert asked == [["Load a file.", "load", "Run"]]  # one call, a view only where a text has it
    expected0 = np.array([1.0, 0.25, 0.5]) / np.linalg.norm([1.0, 0.25, 0.5])
    np.testing.assert_allclose(out[0], expected0, rtol=1e-6)
    np.testing.assert_array_equal(out[1], plain[1])  # no definition: the plain vector
    np.testing.assert_allclose(out[2], np.array([1.15, 0.2, 0.0]) / np.linalg.norm([1.15, 0.2, 0.0]), rtol=1e-6)
    assert add_views(texts, plain, DocumentViews(), encode) is plain and len(asked) == 1  # off: nothing embedded
    twice = add_views(texts[:1] * 2, plain[:2], DocumentViews(doc=0.5, name=0.25), encode)
    assert asked[-1] == ["Load a file.", "load"] and np.array_equal(twice[0], twice[1])  # each distinct text once
