from codesift.eval.chunks import WINDOW, chunk_folder, chunk_text

from conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "repo_search" / "code"


def test_fixture_chunks_functions_and_windows():
    ids = [c.id for c in chunk_folder(FIXTURE)]
    assert ids == [
        "README.md:1-5",
        # module header, two functions (decorator included), the class header, three methods
        "geometry.py:1-5", "geometry.py:8-10", "geometry.py:13-16", "geometry.py:19-20", "geometry.py:22-24",
        "geometry.py:26-28", "geometry.py:30-31",
        "web/slugify.js:1-40", "web/slugify.js:41-47",
    ]  # .hidden/ and node_modules/ are skipped


def test_chunk_text_matches_its_lines():
    chunk = next(c for c in chunk_folder(FIXTURE) if c.id == "geometry.py:8-10")
    assert chunk.text.startswith("def circle_area(radius):") and chunk.text.endswith("radius * radius")
    assert chunk.language == "python"


def test_every_nonblank_line_is_in_exactly_one_chunk():
    text = "\n".join(["x = 1", "", "def f():", "    return 1", "", *[f"y{i} = {i}" for i in range(95)]])
    chunks = chunk_text("m.py", text, "python")
    covered = [n for c in chunks for n in range(c.start_line, c.end_line + 1)]
    assert len(covered) == len(set(covered))
    nonblank = {n for n, line in enumerate(text.split("\n"), 1) if line.strip()}
    assert nonblank <= set(covered)
    assert max(c.end_line - c.start_line + 1 for c in chunks) <= WINDOW


def test_unparsable_python_falls_back_to_windows():
    chunks = chunk_text("bad.py", "def f(:\n    pass\n", "python")
    assert [c.id for c in chunks] == ["bad.py:1-2"]
