from collections import Counter

from codesift.config import PairsConfig
from codesift.data.doc_pairs import doc_pairs, main_languages, markdown_examples, prose, rst_examples
from codesift.data.markdown import split_markdown
from codesift.data.pairs import build_pairs
from codesift.records import CodeUnit

CFG = PairsConfig(types=["doc-example", "api-doc"])

README = """# mylib

## Reading files

To read a whole file into memory, call `read_all` with its path:

```python
data = read_all("notes.txt")
```

Install it first:

```bash
pip install mylib
```

| a table | row |
```
untagged = read_all(path)
```

The same in Rust, with a longer explanation of what happens
when the file is missing:

```rust
let data = mylib::read_all("notes.txt")?;
```
"""

RST = """\
.. module:: os.path

Path functions
==============

.. function:: getsize(path)

   Return the size, in bytes, of *path*.  Raise :exc:`OSError` if the file does
   not exist or is inaccessible.

.. class:: Walker(root, *, follow=False)
           Walker(root, depth)

   Walk a tree of folders from *root*.

   .. method:: walk()

      Yield each folder under the root, deepest :func:`~os.path.join` last.

   .. attribute:: depth

      :noindex:

   .. attribute:: code

      .. deprecated:: 3.9
         Deprecated in favor of :attr:`status`.

   .. attribute:: status

      .. versionadded:: 3.9

      The HTTP status code of the response.

.. method:: Walker.close()

   Release the open handles of the walker.

Examples
--------

The following example prints the size of every file in a folder::

   for name in os.listdir(folder):
       print(name, getsize(name))

Too short::

   x = 1

To check that a file is empty, compare its size with zero:

>>> getsize("empty.txt") == 0
True
>>> sizes = [getsize(p)
...          for p in paths]

A sorted copy of a list, in the words of the ``sorted`` docs:

.. code-block:: python
   :emphasize-lines: 1

   ordered = sorted(items, key=len)

A configuration file in the same docs:

.. code-block:: ini

   [section]
   key = value
"""


def sections(text, path, repo="lib"):
    return split_markdown(text, repo=repo, path=path, license="MIT")


def unit(repo, language="python", code="def f():\n    return 1\n"):
    return CodeUnit(repo=repo, path="m.py", language=language, license="MIT", symbol="f", kind="function",
                    parent=None, signature="def f()", doc="Return one.", body=code, code=code, start_line=1,
                    end_line=2, start_byte=0, end_byte=len(code), is_test=False)


def test_markdown_examples_pair_the_paragraph_right_above_each_fence():
    found = list(markdown_examples(README))
    assert found[0] == ("To read a whole file into memory, call `read_all` with its path:", "python",
                        'data = read_all("notes.txt")')
    assert found[1] == ("Install it first:", "bash", "pip install mylib")
    assert found[2] == ("", "", "untagged = read_all(path)")  # a table, not prose, comes right before it
    assert found[3][0] == ("The same in Rust, with a longer explanation of what happens when the file is missing:")


def test_doc_example_pairs_from_markdown():
    stats = Counter()
    pairs = list(doc_pairs(sections(README, "README.md"), {"lib": "go"}, CFG, stats))
    assert [(p.query, p.language, p.pair_type) for p in pairs] == [
        ("To read a whole file into memory, call read_all with its path", "python", "doc-example"),
        ("The same in Rust, with a longer explanation of what happens when the file is missing", "rust",
         "doc-example"),
    ]
    assert pairs[0].code == 'data = read_all("notes.txt")'
    assert (pairs[0].repo, pairs[0].path, pairs[0].symbol, pairs[0].split) == ("lib", "README.md", "Reading files",
                                                                               "train")
    # bash is no training language; the untagged block has no prose above it ("Install it first" is too short too)
    assert stats["drop:doc-example-language"] == 1 and stats["drop:doc-example-no-prose"] == 1


def test_untagged_examples_take_the_repository_language_and_rst_defaults_to_python():
    text = "Parse a header line into its name and value:\n\n```\nname, value = parse(line)\n```\n"
    assert [p.language for p in doc_pairs(sections(text, "README.md"), {"lib": "go"}, CFG, Counter())] == ["go"]
    assert list(doc_pairs(sections(text, "README.md"), {}, CFG, Counter())) == []
    rst = "Parse a header line into its name and value::\n\n   name, value = parse(line)\n"
    assert [p.language for p in doc_pairs(sections(rst, "docs/x.rst"), {}, CFG, Counter())] == ["python"]


def test_rst_examples_literal_blocks_directives_and_doctests():
    found = list(rst_examples(RST))
    assert ("The following example prints the size of every file in a folder::", "",
            "for name in os.listdir(folder):\n    print(name, getsize(name))") in found
    doctest = next(code for para, tag, code in found if tag == "pycon")
    assert doctest.startswith('>>> getsize("empty.txt") == 0\nTrue')
    assert ("A sorted copy of a list, in the words of the ``sorted`` docs:", "python",
            "ordered = sorted(items, key=len)") in found  # the directive's option line is not code
    assert ("A configuration file in the same docs:", "ini", "[section]\nkey = value") in found


def test_rst_doc_example_pairs_strip_doctest_prompts_and_output():
    pairs = {p.query: p for p in doc_pairs(sections(RST, "library/os.path.rst"), {}, CFG, Counter())
             if p.pair_type == "doc-example"}
    assert pairs["To check that a file is empty, compare its size with zero"].code == (
        'getsize("empty.txt") == 0\nsizes = [getsize(p)\n         for p in paths]')
    assert "The following example prints the size of every file in a folder" in pairs
    assert pairs["A sorted copy of a list, in the words of the sorted docs"].language == "python"
    assert not any("Too short" in q for q in pairs)  # two words of prose: no query
    assert not any(p.code.startswith("[section]") for p in pairs.values())  # ini is no training language


def test_api_doc_pairs_qualify_signatures_by_module_and_class():
    pairs = [p for p in doc_pairs(sections(RST, "library/os.path.rst"), {}, CFG, Counter()) if p.pair_type == "api-doc"]
    assert [(p.code, p.query) for p in pairs] == [
        ("os.path.getsize(path)", "Return the size, in bytes, of path."),
        ("os.path.Walker(root, *, follow=False)\nos.path.Walker(root, depth)", "Walk a tree of folders from root."),
        ("os.path.Walker.walk()", "Yield each folder under the root, deepest join last."),
        ("os.path.Walker.status", "The HTTP status code of the response."),
        ("os.path.Walker.close()", "Release the open handles of the walker."),
    ]  # depth has no description, code only a deprecation note; status's note comes before its description
    assert pairs[0].symbol == "os.path.getsize" and pairs[0].language == "python"
    # the module directive sits in the section before the entries: it carries over within a file, not across files
    other = sections(".. function:: getsize(path)\n\n   Return the size of the file at path.\n", "library/b.rst")
    assert [p.code for p in doc_pairs(other, {}, CFG, Counter()) if p.pair_type == "api-doc"] == ["getsize(path)"]
    assert list(doc_pairs(sections(RST, "library/os.path.rst"), {}, PairsConfig(types=["doc-body"]), Counter())) == []


def test_prose_reads_markup_as_words():
    assert prose(":func:`~os.path.join` and :meth:`str.split` or :ref:`the guide <guide>`") == (
        "join and str.split or guide")
    assert prose("See `the docs <https://x.io>`_ and [README](README.md), **bold** and *it*") == (
        "See the docs and README, bold and it")


def test_doc_examples_matching_benchmark_code_are_dropped():
    stats = Counter()
    benchmark = {'data = read_all("notes.txt")'}
    pairs = list(doc_pairs(sections(README, "README.md"), {}, CFG, stats, contaminated=benchmark.__contains__))
    assert 'data = read_all("notes.txt")' not in [p.code for p in pairs] and len(pairs) == 1
    assert stats["drop:doc-example-contaminated"] == 1


def test_build_pairs_adds_doc_pairs_after_the_others_and_keeps_splits():
    units = [unit("lib"), unit("other", "rust")]
    docs = sections(README, "README.md") + sections(RST, "library/os.path.rst", repo="python-docs/library")
    base, _ = build_pairs(units, docs, PairsConfig(), seed=0)
    both, stats = build_pairs(units, docs, PairsConfig(types=[*PairsConfig().types, "doc-example", "api-doc"]),
                              seed=0, contaminated=lambda code: "sorted" in code)
    assert both[: len(base)] == base
    added = both[len(base):]
    assert {p.pair_type for p in added} == {"doc-example", "api-doc"}
    assert not any("sorted(" in p.code for p in added) and stats["drop:doc-example-contaminated"] == 1
    assert main_languages(units + [unit("lib", "go"), unit("lib", "go")]) == {"lib": "go", "other": "rust"}
