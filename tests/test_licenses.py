from email.parser import Parser
from pathlib import Path

import pytest

from codesift.config import DEFAULT_LICENSES
from codesift.data.licenses import (
    identify_license_text, is_permissive, license_from_cargo, license_from_classifiers, license_from_dep5,
    license_from_files, license_from_metadata, license_from_package_json, normalize_license,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
LICENSES = FIXTURES / "licenses"


@pytest.mark.parametrize("declared, spdx", [
    ("MIT", "MIT"),
    ("MIT License", "MIT"),
    ("mit", "MIT"),
    ("Expat", "MIT"),
    ("BSD", "BSD-3-Clause"),
    ("BSD License", "BSD-3-Clause"),
    ("new BSD License", "BSD-3-Clause"),
    ("BSD 3-Clause License", "BSD-3-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("Simplified BSD", "BSD-2-Clause"),
    ("Apache Software License", "Apache-2.0"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("PSF", "PSF-2.0"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("ISC License (ISCL)", "ISC"),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
    ("zlib/libpng", "Zlib"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
    ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
    ("MIT or Apache 2.0", "MIT OR Apache-2.0"),
    ("(MIT OR Apache-2.0) AND Unicode-DFS-2016", "(MIT OR Apache-2.0) AND Unicode-DFS-2016"),
    ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
    ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("GPLv3", "GPL-3.0-only"),
])
def test_normalize_license(declared, spdx):
    assert normalize_license(declared) == spdx


@pytest.mark.parametrize("declared", [None, "", "UNKNOWN", "UNLICENSED", "Dual License", "Zope Public License",
                                      "MIT\n\nPermission is hereby granted..."])
def test_normalize_license_unknown_is_none(declared):
    assert normalize_license(declared) is None


def test_classifiers():
    assert license_from_classifiers([
        "Programming Language :: Python :: 3",
        "License :: OSI Approved",
        "License :: OSI Approved :: MIT License",
        "License :: OSI Approved :: Apache Software License",
    ]) == "MIT OR Apache-2.0"
    assert license_from_classifiers(["License :: Other/Proprietary License"]) is None


def test_metadata_prefers_expression_then_license_then_classifiers():
    def meta(text: str):
        return Parser().parsestr(text)

    assert license_from_metadata(meta("License-Expression: BSD-3-Clause\nLicense: MIT\n")) == "BSD-3-Clause"
    assert license_from_metadata(meta("License: Apache 2.0\nClassifier: License :: OSI Approved :: MIT License\n")) \
        == "Apache-2.0"
    isc = "License: UNKNOWN\nClassifier: License :: OSI Approved :: ISC License (ISCL)\n"
    assert license_from_metadata(meta(isc)) == "ISC"
    assert license_from_metadata(meta("Name: x\n")) is None


def test_package_json_forms():
    assert license_from_package_json({"license": "MIT"}) == "MIT"
    assert license_from_package_json({"license": {"type": "ISC"}}) == "ISC"
    assert license_from_package_json({"licenses": [{"type": "MIT"}, "Apache-2.0"]}) == "MIT OR Apache-2.0"
    assert license_from_package_json({"license": "SEE LICENSE IN LICENSE.txt"}) is None
    assert license_from_package_json({}) is None


def test_cargo_license_and_workspace_inheritance():
    assert license_from_cargo({"package": {"license": "MIT/Apache-2.0"}}) == "MIT OR Apache-2.0"
    workspace = {"workspace": {"package": {"license": "MIT OR Apache-2.0"}}}
    assert license_from_cargo({"package": {"license": {"workspace": True}}}, workspace) == "MIT OR Apache-2.0"
    assert license_from_cargo({"package": {"license-file": "LICENSE"}}) is None


def test_dep5_files_star_paragraph():
    text = (FIXTURES / "java" / "libdemo-java-1.0" / "debian" / "copyright").read_text()
    assert license_from_dep5(text) == "Apache-2.0"
    assert license_from_dep5("Format: x\n\nFiles: *\nCopyright: me\nLicense: Expat or GPL-2+\n text\n") \
        == "MIT OR GPL-2.0-or-later"
    assert license_from_dep5("This package was debianized by someone. It is GPL.\n") is None


def test_dep5_custom_license_name_is_identified_from_its_text():
    """Debian names Go's license 'Go'; the stand-alone License paragraph holds the text to identify."""
    body = "\n".join(f" {line}" if line else " ." for line in (LICENSES / "MIT.txt").read_text().splitlines())
    text = f"Format: x\n\nFiles: *\nCopyright: 2009 Someone\nLicense: Custom\n\nLicense: Custom\n{body}\n"
    assert license_from_dep5(text) == "MIT"
    assert license_from_dep5("Format: x\n\nFiles: *\nCopyright: me\nLicense: Custom\n") is None


@pytest.mark.parametrize("expr, allowed", [
    ("MIT", True),
    ("mit", True),
    ("MIT OR GPL-3.0-only", True),
    ("GPL-3.0-only OR MIT", True),
    ("MIT AND GPL-3.0-only", False),
    ("(MIT OR GPL-2.0+) AND Apache-2.0", True),
    ("(GPL-2.0-only OR LGPL-3.0-only) AND MIT", False),
    ("Apache-2.0 WITH LLVM-exception", True),
    ("GPL-2.0-only WITH Classpath-exception-2.0", False),
    ("LicenseRef-Proprietary", False),
    ("", False),
    ("MIT AND", False),
    ("(MIT", False),
])
def test_is_permissive(expr, allowed):
    assert is_permissive(expr, DEFAULT_LICENSES) is allowed


def test_is_permissive_uses_the_configured_list():
    assert not is_permissive("MIT", ["Apache-2.0"])
    assert is_permissive("BSD-3-Clause", ["bsd-3-clause"])


def test_identify_license_text():
    assert identify_license_text((LICENSES / "MIT.txt").read_text()) == "MIT"
    assert identify_license_text((LICENSES / "apache-2.0.txt").read_text()) == "Apache-2.0"
    assert identify_license_text("def f():\n    return 1\n") is None


def test_pixar_verdict_is_guarded():
    """askalono calls Apache-2.0 without its appendix 'Pixar'; such a text is Apache-2.0."""
    text = (LICENSES / "apache-2.0-no-appendix.txt").read_text()
    assert identify_license_text(text) == "Apache-2.0"
    renamed = text.replace("Apache License", "Some License")
    assert identify_license_text(renamed) is None


def test_license_files_in_a_root_combine_with_and(tmp_path):
    (tmp_path / "LICENSE-MIT").write_text((LICENSES / "MIT.txt").read_text())
    (tmp_path / "LICENSE-APACHE").write_text((LICENSES / "apache-2.0.txt").read_text())
    (tmp_path / "main.rs").write_text("fn main() {}\n")
    assert license_from_files(tmp_path) == "Apache-2.0 AND MIT"
    assert license_from_files(tmp_path / "missing") is None
