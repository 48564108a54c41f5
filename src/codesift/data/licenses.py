"""License strings -> SPDX expressions, and the allow-list check.

Packages declare licenses in a dozen dialects (trove classifiers, "Apache 2.0", Cargo's "MIT/Apache-2.0",
DEP-5 short names like "Expat" or "GPL-2+"). Everything is normalized to SPDX so one allow-list applies to
every source. Declared metadata is read first; identifying a LICENSE file's text is only the fallback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from email.message import Message
from pathlib import Path
from typing import Any

SPDX_IDS = (
    "0BSD", "AFL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0", "Artistic-1.0",
    "Artistic-2.0", "BlueOak-1.0.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear",
    "BSD-4-Clause", "BSL-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "CDDL-1.1",
    "ECL-2.0", "EPL-1.0", "EPL-2.0", "EUPL-1.2", "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later",
    "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ISC", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only",
    "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "MIT", "MIT-0", "MIT-CMU", "MPL-1.1", "MPL-2.0",
    "MS-PL", "NCSA", "OFL-1.1", "PostgreSQL", "PSF-2.0", "Python-2.0", "Python-2.0.1", "Ruby", "Unicode-3.0",
    "Unicode-DFS-2016", "Unlicense", "UPL-1.0", "W3C", "WTFPL", "X11", "Zlib",
    # exceptions (after WITH)
    "Classpath-exception-2.0", "LLVM-exception", "GCC-exception-3.1",
)
_CANONICAL = {i.lower(): i for i in SPDX_IDS}

# Free-text names seen in classifiers, License fields, package.json and DEP-5, keyed by _key(name).
_ALIASES = {
    **{k: "MIT" for k in ("mit", "expat", "mit/expat", "mit style", "mit-style", "x11 mit")},
    **{k: "MIT-0" for k in ("mit-0", "mit no attribution")},
    **{k: "Apache-2.0" for k in (
        "apache", "apache 2", "apache 2.0", "apache-2", "apache2", "apache v2", "apache v2.0", "asl 2.0", "asl-2.0",
        "apache2.0", "apache-2.0", "apl2", "al-2.0")},
    **{k: "BSD-3-Clause" for k in (
        "bsd", "bsd-3", "bsd 3", "bsd 3-clause", "bsd 3 clause", "3-clause bsd", "new bsd", "bsd new", "bsd-new",
        "modified bsd", "revised bsd", "bsd-3-clause", "3-clause")},
    **{k: "BSD-2-Clause" for k in (
        "bsd-2", "bsd 2", "bsd 2-clause", "bsd 2 clause", "2-clause bsd", "simplified bsd", "freebsd",
        "bsd simplified", "2-clause")},
    **{k: "0BSD" for k in ("0bsd", "zero-clause bsd", "bsd zero clause")},
    **{k: "PSF-2.0" for k in (
        "psf", "psfl", "psf-2.0", "psf 2.0", "psf-2", "python foundation", "python foundation 2",
        "python foundation 2.0")},
    **{k: "Python-2.0" for k in ("python", "python-2.0", "cnri-python")},
    **{k: "ISC" for k in ("isc", "iscl")},
    **{k: "Unlicense" for k in ("unlicense", "unlicensed public domain")},
    **{k: "CC0-1.0" for k in (
        "cc0", "cc0-1.0", "cc0 1.0", "cc0 1.0 universal", "cc0 1.0 universal public domain dedication")},
    **{k: "Zlib" for k in ("zlib", "zlib/libpng", "zlib libpng")},
    **{k: "BSL-1.0" for k in ("boost", "boost 1.0", "bsl-1.0", "bsl 1.0")},
    **{k: "MPL-2.0" for k in ("mpl2", "mpl 2.0", "mpl-2", "mozilla public 2.0", "mozilla public 2")},
    **{k: "MPL-1.1" for k in ("mpl 1.1", "mozilla public 1.1")},
    **{k: "EPL-2.0" for k in ("epl 2.0", "eclipse public 2.0", "eclipse public 2")},
    **{k: "EPL-1.0" for k in ("epl 1.0", "eclipse public 1.0", "epl")},
    **{k: "GPL-2.0-or-later" for k in ("gnu general public", "gpl", "gnu gpl")},
    "gnu general public v2": "GPL-2.0-only",
    "gnu general public v2 or later": "GPL-2.0-or-later",
    "gnu general public v3": "GPL-3.0-only",
    "gnu general public v3 or later": "GPL-3.0-or-later",
    "gnu lesser general public v2": "LGPL-2.0-only",
    "gnu lesser general public v2 or later": "LGPL-2.0-or-later",
    "gnu lesser general public v3": "LGPL-3.0-only",
    "gnu lesser general public v3 or later": "LGPL-3.0-or-later",
    "gnu library or lesser general public": "LGPL-2.0-or-later",
    "lgpl": "LGPL-2.0-or-later",
    "gnu affero general public v3": "AGPL-3.0-only",
    "gnu affero general public v3 or later": "AGPL-3.0-or-later",
    "artistic": "Artistic-2.0",
    "eclipse public": "EPL-2.0",
    "historical permission notice and disclaimer": "HPND",
    "universal permissive": "UPL-1.0",
    "boost software": "BSL-1.0",
    "academic free": "AFL-3.0",
}
# GPL family short forms: GPL-2, GPLv3+, LGPL-2.1+, gpl2, AGPL-3.0 (SPDX's deprecated forms and DEP-5's names).
_GNU_SHORT = re.compile(r"^(a|l)?gpl-?v?(\d)(?:\.(\d))?(\+|-or-later|-only)?$")
_FILLER = {"the", "license", "licence", "licensed", "version", "ver", "v", "software", "under", "terms", "of"}
_OPERATORS = {"and": "AND", "or": "OR", "with": "WITH"}
_LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|unlicense)([-._].*)?$", re.IGNORECASE)
ASKALONO_MIN_SCORE = 0.9  # below this, LICENSE files bundling several texts get misread (numpy's as GPL-3.0)
DEP5_MIN_SCORE = 0.7  # a DEP-5 License paragraph holds one text; Go's BSD-3-Clause variant scores 0.73


def normalize_license(declared: str | None) -> str | None:
    """An SPDX id or expression for a declared license string; None when empty, unknown or not a name."""
    if not declared:
        return None
    text = declared.strip()
    if not text or len(text) > 200 or "\n" in text or text.upper() in {"UNKNOWN", "UNLICENSED", "NONE", "NOASSERTION"}:
        return None
    if whole := _lookup(text):
        return whole
    return _normalize_expression(text)


def license_from_classifiers(classifiers: Iterable[str]) -> str | None:
    """`License :: OSI Approved :: MIT License` -> MIT; several license classifiers mean a choice (OR)."""
    found: list[str] = []
    for c in classifiers:
        parts = [p.strip() for p in c.split("::")]
        if parts[0] != "License" or parts[-1] in {"License", "OSI Approved"}:
            continue
        if (spdx := normalize_license(parts[-1])) and spdx not in found:
            found.append(spdx)
    return _join(found, "OR")


def license_from_metadata(metadata: Message) -> str | None:
    """A Python distribution's license from METADATA: License-Expression (PEP 639), License, then classifiers."""
    if spdx := normalize_license(metadata.get("License-Expression")):
        return spdx
    if spdx := normalize_license(metadata.get("License")):
        return spdx
    return license_from_classifiers(metadata.get_all("Classifier") or [])


def license_from_package_json(data: Mapping[str, Any]) -> str | None:
    """npm: `license` as a string or legacy {type}; or the older `licenses` list (a choice, so OR)."""
    declared = data.get("license")
    if isinstance(declared, Mapping):
        declared = declared.get("type")
    if isinstance(declared, str):
        return normalize_license(declared)
    legacy = data.get("licenses")
    if isinstance(legacy, list):
        names = [x.get("type") if isinstance(x, Mapping) else x for x in legacy]
        return _join([s for n in names if isinstance(n, str) and (s := normalize_license(n))], "OR")
    return None


def license_from_cargo(manifest: Mapping[str, Any], workspace: Mapping[str, Any] | None = None) -> str | None:
    """Cargo.toml's package.license ('MIT OR Apache-2.0', legacy 'MIT/Apache-2.0'), following
    `license.workspace = true` to the workspace manifest when given."""
    declared = manifest.get("package", {}).get("license")
    if isinstance(declared, Mapping) and declared.get("workspace") and workspace is not None:
        declared = workspace.get("workspace", {}).get("package", {}).get("license")
    return normalize_license(declared) if isinstance(declared, str) else None


def license_from_dep5(text: str) -> str | None:
    """The license of the `Files: *` paragraph of a machine-readable debian/copyright (DEP-5). A name that
    is not SPDX ('License: Go') is identified from the text of its stand-alone License paragraph."""
    paragraphs = [_dep5_fields(p) for p in re.split(r"\n\s*\n", text)]
    for fields in paragraphs:
        if "*" in fields.get("files", "").split() and fields.get("license"):
            name = fields["license"].splitlines()[0]
            return normalize_license(name) or _dep5_license_text(paragraphs, name)
    return None


def _dep5_license_text(paragraphs: list[dict[str, str]], name: str) -> str | None:
    for fields in paragraphs:
        short, _, body = fields.get("license", "").partition("\n")
        if "files" not in fields and short.strip() == name.strip() and body:
            text = "\n".join("" if line == "." else line for line in body.splitlines())
            return identify_license_text(text, DEP5_MIN_SCORE)
    return None


def identify_license_text(text: str, min_score: float = ASKALONO_MIN_SCORE) -> str | None:
    """The license a LICENSE file's text matches (askalono), when the match is confident.

    askalono scores some lightly edited Apache-2.0 texts as 'Pixar' (Apache-2.0 with a changed trademark
    clause); that verdict is kept only when the text names Pixar, and otherwise read as Apache-2.0 when the
    text says it is the Apache License 2.0.
    """
    try:
        import askalono
    except ImportError:
        return None
    try:
        match = askalono.identify(text)
    except Exception:  # askalono raises on texts it cannot tokenize; that is "unknown", not a crash
        return None
    if match.score < min_score:
        return None
    if match.name == "Pixar" and "pixar" not in text.lower():
        return "Apache-2.0" if re.search(r"Apache License,?\s+Version 2\.0", text) else None
    return normalize_license(match.name) or match.name


def is_license_file(name: str) -> bool:
    """LICENSE, LICENSE-MIT, LICENCE.txt, COPYING, UNLICENSE..."""
    return bool(_LICENSE_FILE.match(name))


@functools.lru_cache(maxsize=4096)
def license_from_files(root: Path) -> str | None:
    """Identify the license files directly in a package root, once per root."""
    try:
        return license_from_paths(sorted(p for p in root.iterdir() if is_license_file(p.name) and p.is_file()))
    except OSError:
        return None


def license_from_paths(paths: Iterable[Path]) -> str | None:
    """Identify license files' texts. Several (LICENSE-MIT + LICENSE-APACHE) combine with AND: every one
    must be allowed, which also keeps a permissive LICENSE beside a GPL COPYING from passing."""
    texts = []
    for path in paths:
        try:
            texts.append(path.read_bytes()[:200_000])
        except OSError:
            continue
    return license_from_texts(texts)


def license_from_texts(texts: Iterable[bytes]) -> str | None:
    """Identify license files' contents (see license_from_paths); also what a git revision's LICENSE blobs are."""
    found: list[str] = []
    for data in texts:
        if (spdx := identify_license_text(data[:200_000].decode("utf-8", errors="replace"))) and spdx not in found:
            found.append(spdx)
    return _join(found, "AND")


def is_permissive(expr: str | None, allowed: Iterable[str]) -> bool:
    """Whether an SPDX expression is usable: an OR is allowed if any branch is, an AND only if all are.
    `X WITH exception` counts as X. Unparseable expressions are not allowed."""
    if not expr:
        return False
    ok = {_canonical_id(a).lower() for a in allowed}
    try:
        tokens = _tokens(expr)
        value, rest = _parse_or(tokens, ok)
    except (IndexError, ValueError):
        return False
    return value and not rest


# --- expression parsing -------------------------------------------------------------------------------------


def _key(name: str) -> str:
    words = re.sub(r"\([^)]*\)|[,;:\"']", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _FILLER)


def _lookup(name: str) -> str | None:
    """A single license name (not an expression) -> SPDX id."""
    name = name.strip()
    if name.lower() in _CANONICAL:
        return _CANONICAL[name.lower()]
    if name.startswith("LicenseRef-"):
        return name
    key = _key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _CANONICAL:
        return _CANONICAL[key]
    if m := _GNU_SHORT.match(key.replace(" ", "")):
        return _gnu_id(*m.groups())
    return None


def _gnu_id(prefix: str | None, major: str, minor: str | None, suffix: str | None) -> str:
    version = f"{major}.{minor or 0}"
    family = {"a": "AGPL", "l": "LGPL", None: "GPL"}[prefix]
    return f"{family}-{version}-{'or-later' if suffix in {'+', '-or-later'} else 'only'}"


def _canonical_id(token: str) -> str:
    return _lookup(token) or token


def _normalize_expression(text: str) -> str | None:
    """'MIT OR Apache 2.0', 'MIT/Apache-2.0', '(MIT or BSD) and Zlib': operands may be multi-word names."""
    text = re.sub(r"(?<=[\w.+-])\s*/\s*(?=[A-Za-z])", " OR ", text)
    out: list[str] = []
    phrase: list[str] = []

    def flush() -> bool:
        if phrase:
            spdx = _lookup(" ".join(phrase))
            if spdx is None:
                return False
            out.append(spdx)
            phrase.clear()
        return True

    for token in re.findall(r"\(|\)|[^\s()]+", text):
        if token in "()" or token.lower() in _OPERATORS:
            if not flush():
                return None
            out.append(_OPERATORS.get(token.lower(), token))
        else:
            phrase.append(token)
    if not flush() or not out:
        return None
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def _tokens(expr: str) -> list[str]:
    return [_OPERATORS.get(t.lower(), t) for t in re.findall(r"\(|\)|[^\s()]+", expr)]


def _parse_or(tokens: list[str], ok: set[str]) -> tuple[bool, list[str]]:
    value, tokens = _parse_and(tokens, ok)
    while tokens and tokens[0] == "OR":
        right, tokens = _parse_and(tokens[1:], ok)
        value = value or right
    return value, tokens


def _parse_and(tokens: list[str], ok: set[str]) -> tuple[bool, list[str]]:
    value, tokens = _parse_atom(tokens, ok)
    while tokens and tokens[0] == "AND":
        right, tokens = _parse_atom(tokens[1:], ok)
        value = value and right
    return value, tokens


def _parse_atom(tokens: list[str], ok: set[str]) -> tuple[bool, list[str]]:
    head, tokens = tokens[0], tokens[1:]
    if head == "(":
        value, tokens = _parse_or(tokens, ok)
        if not tokens or tokens[0] != ")":
            raise ValueError("unbalanced parentheses")
        return value, tokens[1:]
    if head in {"AND", "OR", "WITH", ")"}:
        raise ValueError(f"unexpected {head}")
    if tokens and tokens[0] == "WITH":
        tokens = tokens[2:] if len(tokens) > 1 else []
    return _canonical_id(head.rstrip("+")).lower() in ok, tokens


def _join(ids: list[str], op: str) -> str | None:
    if not ids:
        return None
    wrapped = [f"({i})" if " " in i else i for i in ids]
    return f" {op} ".join(wrapped)


def _dep5_fields(paragraph: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    current = None
    for line in paragraph.splitlines():
        if line[:1] in {" ", "\t"} and current:
            fields[current] += "\n" + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            current = name.strip().lower()
            fields[current] = value.strip()
    return fields
