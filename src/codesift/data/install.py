"""Install the default corpus (data/corpus.yaml) and return the sources to read.

The corpus is pinned in the repository so every machine builds the same one: pip packages go into a
corpus venv of their own (never the project's), npm packages into a node_modules under the cache folder,
apt packages system-wide, and `apt-get source` trees unpacked under the cache folder. Each step checks
what is already there first, so a second run installs nothing.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from codesift.config import Section, SourceConfig
from codesift.log import get_logger

log = get_logger(__name__)
DEB_SRC_HEADER = "# Added by codesift: `apt-get source` fetches the corpus's Java sources.\n"


class CorpusSpec(Section):
    """data/corpus.yaml: what to install and which sources to read ('{cache}' in a path = the cache folder)."""

    pip: list[str] = Field(default_factory=list, description="name==version, into {cache}/python-venv")
    apt: list[str] = Field(default_factory=list, description="Debian packages installed with apt-get")
    apt_source: list[str] = Field(default_factory=list, description="Debian source packages, into {cache}/debian-src")
    npm: list[str] = Field(default_factory=list, description="name@version, into {cache}/npm/node_modules")
    sources: list[SourceConfig] = Field(default_factory=list)


class InstallError(RuntimeError):
    """An install command failed; the message names the command and ends with its output."""


def load_spec(spec_path: str | Path) -> CorpusSpec:
    path = Path(spec_path)
    try:
        return CorpusSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise InstallError(f"{path}: not a usable corpus spec: {e}") from None


def install_default_corpus(spec_path: str | Path, cache_dir: str | Path) -> list[SourceConfig]:
    """Install everything the spec pins (skipping what is installed) and return its sources, paths filled in."""
    spec = load_spec(spec_path)
    cache = Path(cache_dir).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    if spec.pip:
        install_pip(spec.pip, cache / "python-venv")
    if spec.apt:
        install_apt(spec.apt)
    if spec.apt_source:
        install_apt_source(spec.apt_source, cache / "debian-src")
    if spec.npm:
        install_npm(spec.npm, cache / "npm")
    return [s.model_copy(update={"path": s.path.replace("{cache}", str(cache))}) if s.path else s
            for s in spec.sources]


def install_pip(requirements: Sequence[str], venv: Path) -> None:
    """pip packages into their own venv, so the corpus never changes the project's environment."""
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    site = sorted(venv.glob("lib/python3*/site-packages"))
    installed = {
        (d.metadata["Name"] or "").lower().replace("_", "-"): d.version
        for d in importlib.metadata.distributions(path=[str(p) for p in site])
    }
    missing = [r for r in requirements if not _pip_satisfied(r, installed)]
    if missing:
        run([str(python), "-m", "pip", "install", "--no-input", *missing])
    else:
        log.info("pip: all %d corpus packages already installed in %s", len(requirements), venv)


def _pip_satisfied(requirement: str, installed: dict[str, str]) -> bool:
    name, _, version = requirement.partition("==")
    have = installed.get(name.strip().lower().replace("_", "-"))
    return have is not None and (not version or have.split("+")[0] == version.strip())


def install_apt(packages: Sequence[str]) -> None:
    """Debian packages; `apt-get update` runs only when something is missing."""
    missing = [p for p in packages if not _dpkg_installed(p.partition("=")[0])]
    if not missing:
        log.info("apt: all %d corpus packages already installed", len(packages))
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)


def _dpkg_installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip().endswith(" installed")


def install_apt_source(packages: Sequence[str], dest: Path) -> None:
    """`apt-get source` trees (unpacked, patches applied) under `dest`; adds a deb-src entry when none exists."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {_changelog_source(tree) for tree in dest.iterdir() if tree.is_dir()}
    missing = [p for p in packages if p.partition("=")[0] not in have]
    if not missing:
        log.info("apt-get source: all %d corpus source packages already unpacked in %s", len(packages), dest)
        return
    if _ensure_deb_src():
        run(["apt-get", "update"])
    for package in missing:
        run(["apt-get", "source", "--only-source", package], cwd=dest)


def _changelog_source(tree: Path) -> str | None:
    try:
        with (tree / "debian" / "changelog").open(encoding="utf-8", errors="replace") as f:
            return f.readline().partition(" ")[0] or None
    except OSError:
        return None


def _ensure_deb_src(apt_dir: Path = Path("/etc/apt")) -> bool:
    """Mirror the deb entries as deb-src ones unless some deb-src entry exists; True when one was added."""
    stanzas, lines = [], []
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            types = re.search(r"^Types:(.*)$", stanza, re.M)
            if types and "deb-src" in types.group(1).split():
                return False
            if types and "deb" in types.group(1).split():
                stanzas.append(re.sub(r"^Types:.*$", "Types: deb-src", stanza.strip(), flags=re.M))
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("deb-src "):
                    return False
                if line.startswith("deb "):
                    lines.append("deb-src " + line[4:])
    if not stanzas and not lines:
        raise InstallError("apt-get source needs a Debian archive entry, and /etc/apt lists none")
    if stanzas:
        (apt_dir / "sources.list.d" / "codesift-deb-src.sources").write_text(
            DEB_SRC_HEADER + "\n\n".join(stanzas) + "\n", encoding="utf-8")
    if lines:
        (apt_dir / "sources.list.d" / "codesift-deb-src.list").write_text(
            DEB_SRC_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return True


def install_npm(packages: Sequence[str], prefix: Path) -> None:
    """npm packages into {prefix}/node_modules; install scripts are not run (they may fetch binaries)."""
    missing = [p for p in packages if not _npm_installed(p, prefix / "node_modules")]
    if not missing:
        log.info("npm: all %d corpus packages already installed in %s", len(packages), prefix)
        return
    prefix.mkdir(parents=True, exist_ok=True)
    run(["npm", "install", "--prefix", str(prefix), "--ignore-scripts", "--no-audit", "--no-fund", *missing])


def _npm_installed(spec: str, node_modules: Path) -> bool:
    name, _, version = spec.rpartition("@") if spec.rfind("@") > 0 else (spec, "", "")
    try:
        manifest = json.loads((node_modules / name / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return not version or manifest.get("version") == version


def run(cmd: Sequence[str], **kwargs) -> None:
    """Run an install command; on failure raise InstallError naming it, with the end of its output."""
    log.info("running: %s", " ".join(cmd))
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    except OSError as e:
        raise InstallError(f"could not run `{' '.join(cmd)}`: {e}") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise InstallError(f"`{' '.join(cmd)}` failed with exit code {done.returncode}:\n{tail}")
