from pathlib import Path

from codesift.data.extract import split_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "extract"


def sections(name: str, text: str | None = None):
    text = (FIXTURES / name).read_text("utf-8") if text is None else text
    found = split_markdown(text, repo="r", path=f"docs/{name}", license="MIT")
    assert all(s.repo == "r" and s.path == f"docs/{name}" and s.license == "MIT" for s in found)
    return [(s.heading, s.text, s.start_line, s.end_line) for s in found]


def test_markdown_atx_setext_fences_and_front_matter():
    assert sections("README.md") == [
        ("", "Intro text with a badge.", 4, 4),  # front matter left out
        ("Codesift", "Search code.", 6, 8),
        ("Codesift > Install", "```sh\n# not a heading\npip install codesift\n```", 10, 14),
        ("Codesift > From source", "Run make.", 16, 19),  # setext, level 2
        # '### Empty' has no text: dropped
        ("Codesift > Usage", "Type a query.", 24, 25),  # closing #s stripped
        ("Title", "Top again.", 27, 29),  # setext level 1 resets the path
    ]


def test_rst_over_and_underlines():
    assert sections("guide.rst") == [
        ("Guide", "Welcome.", 1, 5),
        ("Guide > Install", "Use pip::\n\n    pip install codesift", 7, 12),
        ("Guide > Install > Details", "Some.", 14, 17),
        ("Guide > Usage", "Query.", 19, 22),
    ]


def test_markdown_edge_cases():
    text = (
        "# A\n~~~\n## not a heading\n~~~\n- item\n---\n#hashtag is text\n    # indented code\n"
        "Two-line\nparagraph\n==\nBody.\n"
    )
    assert sections("x.md", text) == [
        # '---' under a list item is a rule, not a setext underline
        ("A", "~~~\n## not a heading\n~~~\n- item\n---\n#hashtag is text\n    # indented code", 1, 8),
        ("Two-line paragraph", "Body.", 9, 12),
    ]


def test_unclosed_fence_and_empty_input():
    assert sections("x.md", "# A\n```\n# inside\n") == [("A", "```\n# inside", 1, 3)]
    assert sections("x.md", "") == [] and sections("x.md", "# Only\n\n") == []
