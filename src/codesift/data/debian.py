"""Which installed Debian package a folder belongs to, and that package's license.

Debian's -dev packages usually drop upstream LICENSE files and state the license in
/usr/share/doc/PACKAGE/copyright (DEP-5) instead; dpkg's file lists say which package a file came from.
"""

from __future__ import annotations

import functools
from pathlib import Path

from codesift.data.licenses import license_from_dep5

DPKG_INFO = Path("/var/lib/dpkg/info")
DOC = Path("/usr/share/doc")


def package_license(folder: Path, root: Path, dpkg_info: Path = DPKG_INFO, doc: Path = DOC) -> str | None:
    """The DEP-5 license of the package that installed files directly in `folder` (a folder under the
    source `root`, whose file index is built once); None when no package or license is known."""
    package = _owners(str(root), dpkg_info).get(str(folder))
    return _copyright_license(doc / package / "copyright") if package else None


@functools.lru_cache(maxsize=64)
def _owners(prefix: str, dpkg_info: Path) -> dict[str, str]:
    """folder -> package, for the folders under `prefix` that hold a file some package installed."""
    owners: dict[str, str] = {}
    for listing in sorted(dpkg_info.glob("*.list")):
        package = listing.stem.partition(":")[0]  # 'libfoo:amd64.list' -> libfoo
        try:
            lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(prefix):
                owners.setdefault(line.rpartition("/")[0], package)
    return owners


@functools.lru_cache(maxsize=4096)
def _copyright_license(path: Path) -> str | None:
    try:
        return license_from_dep5(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
