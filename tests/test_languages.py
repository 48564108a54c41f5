import pytest

from codesift.data.languages import FileLanguage, detect_language, grammar_for


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pkg/mod.py", FileLanguage("python")),
        ("src/a.ts", FileLanguage("typescript")),
        ("src/a.mts", FileLanguage("typescript")),
        ("src/a.cts", FileLanguage("typescript")),
        ("src/App.tsx", FileLanguage("typescript")),
        ("types/index.d.ts", FileLanguage("typescript", declaration=True)),
        ("types/index.d.mts", FileLanguage("typescript", declaration=True)),
        ("lib/a.js", FileLanguage("javascript")),
        ("lib/a.mjs", FileLanguage("javascript")),
        ("lib/a.cjs", FileLanguage("javascript")),
        ("lib/A.jsx", FileLanguage("javascript")),
        ("cmd/main.go", FileLanguage("go")),
        ("src/main/java/A.java", FileLanguage("java")),
        ("src/lib.rs", FileLanguage("rust")),
        ("README.md", FileLanguage("markdown")),
        ("docs/Guide.MARKDOWN", FileLanguage("markdown")),
        ("docs/index.rst", FileLanguage("markdown")),
        ("pkg/mod.pyi", None),
        ("a.c", None),
        ("LICENSE", None),
        ("Makefile", None),
        ("data.json", None),
    ],
)
def test_detect_by_extension(path, expected):
    assert detect_language(path) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("#!/usr/bin/env python3", "python"),
        ("#!/usr/bin/python3.11 -u", "python"),
        ("#!/usr/bin/env -S python -X utf8", "python"),
        ("#!/usr/local/bin/node", "javascript"),
        ("#!/usr/bin/env node", "javascript"),
        ("#!/usr/bin/env -S node --no-warnings", "javascript"),
        ("#!/bin/sh", None),
        ("#!/usr/bin/env bash", None),
        ("#!", None),
        ("import os", None),
    ],
)
def test_detect_extensionless_scripts_by_shebang(head, expected):
    found = detect_language("bin/tool", head)
    assert (found.name if found else None) == expected


def test_shebang_does_not_override_an_extension():
    assert detect_language("run.sh", "#!/usr/bin/env python3") is None


def test_grammar_for():
    assert grammar_for("typescript", "ui/App.tsx") == "tsx"
    assert grammar_for("typescript", "ui/app.ts") == "typescript"
    assert grammar_for("javascript", "ui/App.jsx") == "javascript"
