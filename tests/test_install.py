import json
from pathlib import Path

import pytest

from codesift.data import install
from codesift.data.install import InstallError, install_default_corpus, load_spec

REPO = Path(__file__).resolve().parents[1]


def test_the_default_corpus_spec_is_valid():
    spec = load_spec(REPO / "data" / "corpus.yaml")
    assert spec.pip and spec.apt and spec.apt_source and spec.npm
    assert all("==" in r for r in spec.pip)
    assert all(p.rfind("@") > 0 for p in spec.npm)
    assert {s.kind for s in spec.sources} == {"python", "debian-go", "debian-rust", "debian-java", "npm"}
    excluded = {line.strip() for line in (REPO / "data" / "exclusions.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    names = {r.split("==")[0] for r in spec.pip} | {p.rpartition("@")[0].split("/")[-1] for p in spec.npm}
    assert not names & excluded


def test_spec_errors_name_the_file(tmp_path):
    bad = tmp_path / "corpus.yaml"
    bad.write_text("pip: [x==1]\nnpn: [y@1]\n")
    with pytest.raises(InstallError, match="(?s)corpus.yaml.*npn"):
        load_spec(bad)


def test_sources_get_the_cache_folder_and_nothing_is_installed_when_the_spec_asks_nothing(tmp_path):
    spec = tmp_path / "corpus.yaml"
    spec.write_text("sources:\n  - {kind: npm, path: '{cache}/npm/node_modules'}\n  - {kind: python, name: stdlib}\n")
    sources = install_default_corpus(spec, tmp_path / "cache")
    assert sources[0].path == str((tmp_path / "cache").resolve() / "npm" / "node_modules")
    assert sources[1].path is None and sources[1].name == "stdlib"


def test_failed_command_names_itself():
    with pytest.raises(InstallError, match=r"`false --flag` failed with exit code 1"):
        install.run(["false", "--flag"])
    with pytest.raises(InstallError, match="could not run `no-such-tool-xyz`"):
        install.run(["no-such-tool-xyz"])


def test_npm_skips_what_is_installed(tmp_path, monkeypatch):
    pkg = tmp_path / "node_modules" / "@scope" / "lib"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@scope/lib", "version": "1.2.0"}))
    calls = []
    monkeypatch.setattr(install, "run", lambda cmd, **kw: calls.append(cmd))
    install.install_npm(["@scope/lib@1.2.0"], tmp_path)
    assert calls == []
    install.install_npm(["@scope/lib@1.3.0", "other@1.0.0"], tmp_path)
    assert calls and calls[0][-2:] == ["@scope/lib@1.3.0", "other@1.0.0"]


def test_pip_requirement_matching():
    installed = {"scikit-learn": "1.9.1", "torch": "2.13.0+cpu"}
    assert install._pip_satisfied("scikit_learn==1.9.1", installed)
    assert install._pip_satisfied("torch==2.13.0", installed)
    assert not install._pip_satisfied("torch==2.14.0", installed)
    assert not install._pip_satisfied("pandas==3.1.1", installed)


def test_deb_src_entry_mirrors_deb_entries_once(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"
    )
    (tmp_path / "sources.list").write_text("deb http://deb.debian.org/debian-security bookworm-security main\n")
    assert install._ensure_deb_src(tmp_path)
    added = (tmp_path / "sources.list.d" / "codesift-deb-src.sources").read_text()
    assert "Types: deb-src" in added and "Suites: bookworm" in added
    assert "deb-src http://deb.debian.org/debian-security" in (
        tmp_path / "sources.list.d" / "codesift-deb-src.list").read_text()
    assert not install._ensure_deb_src(tmp_path)  # already there: nothing to add, no apt-get update


def test_apt_source_skips_unpacked_trees(tmp_path, monkeypatch):
    tree = tmp_path / "guava-libraries-31.1"
    (tree / "debian").mkdir(parents=True)
    (tree / "debian" / "changelog").write_text("guava-libraries (31.1-1) unstable; urgency=medium\n")
    monkeypatch.setattr(install, "run", lambda cmd, **kw: pytest.fail(f"ran {cmd}"))
    install.install_apt_source(["guava-libraries"], tmp_path)
