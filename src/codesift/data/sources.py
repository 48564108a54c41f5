"""Sources: one interface over every place code comes from, yielding SourceFile records.

Each reader finds packages (a repository, distribution, Go module, crate, npm package, Debian source tree)
and their files. Every file goes through one guarded read, so bad input (binary, too large, invalid UTF-8,
unreadable, special files, symlinks that leave the root or loop) is counted in `stats` as `skip:<reason>`
and skipped. Only a misconfigured source (missing path, unknown dataset library) raises SourceError.
"""

from __future__ import annotations

import email.parser
import errno
import functools
import gzip
import importlib.metadata
import json
import os
import platform
import re
import stat
import sysconfig
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec

from codesift.config import SourceConfig
from codesift.data.debian import package_license
from codesift.data.git import GitError, GitRepo, TreeFile
from codesift.data.languages import detect_language
from codesift.data.licenses import (
    is_license_file, license_from_cargo, license_from_dep5, license_from_files, license_from_metadata,
    license_from_package_json, license_from_paths, license_from_texts, normalize_license,
)
from codesift.log import get_logger
from codesift.records import SourceFile

KEEP_LANGUAGES = {"python", "typescript", "javascript", "go", "java", "rust", "markdown"}
# Never package source: VCS metadata, caches, installed dependencies of the package being read.
PRUNE_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", ".mypy_cache", ".pytest_cache"}
# The stdlib's own test suites, IDLE, the deprecated lib2to3 and bundled wheels/configs teach little.
STDLIB_PRUNE = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip",
                "lib-dynload"}
GO_PRUNE = {"testdata", "vendor"}  # the go tool ignores both; vendor/ copies other modules
# Module trees that are almost all generated code (aws-sdk-go alone once brought 209k generated functions).
GENERATED_GO_TREES = {"github.com/aws/aws-sdk-go", "github.com/aws/aws-sdk-go-v2", "google.golang.org/genproto"}
RUST_PRUNE = {"target"}
JAVA_PRUNE = {"debian", ".pc"}  # packaging, and quilt's copies of the files its patches touch
# CPython's documentation sources as Debian's pythonX.Y-doc installs them, and the parts about C or past releases
PYTHON_DOCS = "/usr/share/doc/python{version}/html/_sources"
PYTHON_DOCS_PRUNE = {"c-api", "extending", "whatsnew", "includes", "distutils"}
GOCODE = "/usr/share/gocode/src"
CARGO_REGISTRY = "/usr/share/cargo/registry"
GITIGNORE_MAX_BYTES = 1 << 20  # far above any real .gitignore
STACK_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json", ".json.gz")
# A folder holding this file is evaluation data (data/benchmarks): never read as training data, wherever a source
# points (a local source at the repository root would otherwise ingest the repo-search libraries).
EVALUATION_MARKER = "EVALUATION-DATA-ONLY"
log = get_logger(__name__)


class SourceError(ValueError):
    """A source that cannot be read at all as configured; the message names the kind and the value."""


@dataclass(frozen=True)
class Package:
    """What files are attributed to: `name` becomes SourceFile.repo, paths are relative to `root`."""

    name: str
    root: Path
    license: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Reader:
    """The guarded file read shared by every source, with the skip counters."""

    max_bytes: int
    stats: Counter[str]

    def skip(self, reason: str) -> None:
        self.stats[f"skip:{reason}"] += 1

    def read(self, path: Path) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else self.decode(data)

    def read_bytes(self, path: Path) -> bytes | None:
        """The bytes of a regular file within the size limit; None (counted) for anything else."""
        try:
            st = path.stat()
        except OSError:
            return self.skip("unreadable")
        if not stat.S_ISREG(st.st_mode):
            return self.skip("special-file")  # a FIFO or device would block or never end
        if st.st_size > self.max_bytes:
            return self.skip("too-large")
        try:
            with path.open("rb") as f:
                data = f.read(self.max_bytes + 1)
        except OSError:
            return self.skip("unreadable")
        return self.skip("too-large") if len(data) > self.max_bytes else data

    def decode(self, data: bytes) -> str | None:
        if len(data) > self.max_bytes:
            return self.skip("too-large")
        if b"\0" in data[:8192]:
            return self.skip("binary")
        try:
            return data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            return self.skip("invalid-utf8")

    def source_file(self, pkg: Package, path: Path, kind: str) -> SourceFile | None:
        """Read `path` as a file of `pkg` when it is in a kept language."""
        return self.file_at(pkg, path.relative_to(pkg.root).as_posix(), kind, lambda: self.read(path))

    def file_at(self, pkg: Package, rel: str, kind: str, read: Callable[[], str | None]) -> SourceFile | None:
        """The file `rel` of `pkg` when it is in a kept language; `read` gives its text (None: skipped, counted)."""
        lang = detect_language(rel)
        text = None
        if lang is None and not PurePosixPath(rel).suffix:  # an extensionless script names itself by shebang
            if (text := read()) is None:
                return None
            lang = detect_language(rel, text.partition("\n")[0])
        if lang is None or lang.name not in KEEP_LANGUAGES:
            return self.skip("not-code")
        if lang.declaration:
            return self.skip("type-declaration")
        if text is None and (text := read()) is None:
            return None
        return SourceFile(pkg.name, rel, lang.name, pkg.license, kind, text, dict(pkg.meta))


def read_source(cfg: SourceConfig, *, max_file_bytes: int, stats: Counter[str]) -> Iterator[SourceFile]:
    """Every kept file of one configured source; skipped files are counted in `stats` as skip:<reason>."""
    return READERS[cfg.kind](cfg, _Reader(max_file_bytes, stats))


# --- local directories and git checkouts ---------------------------------------------------------------------


def read_local(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """A directory or git checkout as one repository, honouring its .gitignore files."""
    root = _root(cfg)
    pkg = Package(cfg.name or root.name, root, license_from_files(root))
    ignore = _GitIgnore(root, reader.stats)
    for path in _walk(reader, root, prune=lambda d: ignore.ignored(d, directory=True)):
        if ignore.ignored(path):
            reader.skip("gitignored")
        elif f := reader.source_file(pkg, path, "local"):
            yield f


class _GitIgnore:
    """.gitignore files at any depth; the deepest file with a matching pattern decides, as in git."""

    def __init__(self, root: Path, stats: Counter[str]) -> None:
        self.root = root
        self.reader = _Reader(GITIGNORE_MAX_BYTES, stats)  # a FIFO or a link to /dev/zero is skipped, counted
        # folder -> the (folder, spec) pairs that apply in it, deepest first: one .gitignore lookup per folder,
        # not one per ancestor (1,200 nested folders took 10 s that way)
        self.chains: dict[Path, tuple[tuple[Path, pathspec.GitIgnoreSpec], ...]] = {}

    def _spec(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        path = folder / ".gitignore"
        data = self.reader.read_bytes(path) if os.path.lexists(path) else None
        return None if data is None else pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", "replace").splitlines())

    def _chain(self, folder: Path) -> tuple[tuple[Path, pathspec.GitIgnoreSpec], ...]:
        pending = []
        while folder not in self.chains:
            pending.append(folder)
            if folder == self.root or folder == folder.parent:
                break
            folder = folder.parent
        chain = self.chains.get(folder, ())
        for here in reversed(pending):
            if spec := self._spec(here):
                chain = ((here, spec), *chain)
            self.chains[here] = chain
        return chain

    def ignored(self, path: Path, directory: bool = False) -> bool:
        for folder, spec in self._chain(path.parent):
            rel = path.relative_to(folder).as_posix() + ("/" if directory else "")
            if (verdict := spec.check_file(rel).include) is not None:
                return verdict
        return False


# --- git repositories: the head revision -------------------------------------------------------------------


@dataclass
class GitSource:
    """A git source opened: the repository, what its files are attributed to (the license read at HEAD), the
    head revision's files and the folders of evaluation data it holds (never read, at any revision)."""

    repo: GitRepo
    package: Package
    files: list[TreeFile]
    evaluation: tuple[str, ...]  # folder prefixes, 'data/benchmarks/'
    reader: _Reader

    def text(self, blob: str) -> str | None:
        """A blob as text; None (counted) when too large, missing, binary or not UTF-8."""
        data = self.repo.blob(blob, self.reader.max_bytes)
        return self.reader.skip("too-large-or-missing") if data is None else self.reader.decode(data)

    def readable(self, path: str) -> bool:
        return _git_path_readable(path, self.evaluation, self.reader)


def _git_path_readable(path: str, evaluation: tuple[str, ...], reader: _Reader) -> bool:
    """Whether `path` may be read: not evaluation data (counted), not in a never-read folder (node_modules, .venv)."""
    if path.startswith(evaluation):
        reader.skip("evaluation-data")
        return False
    return not PRUNE_DIRS.intersection(path.split("/")[:-1])


def open_git(cfg: SourceConfig, max_file_bytes: int, stats: Counter[str]) -> GitSource:
    """The repository at `cfg.path` (a clone or a bare git dir); its name is `cfg.name`, else its folder's."""
    root = _root(cfg)
    try:
        repo = GitRepo(root)
    except GitError as e:
        raise SourceError(f"git source: {root} is not a git repository git can read ({e})") from None
    reader = _Reader(max_file_bytes, stats)
    head = repo.head()
    tree = repo.tree(head) if head else []
    marked = tuple(f.path.removesuffix(EVALUATION_MARKER) for f in tree if PurePosixPath(f.path).name == EVALUATION_MARKER)
    if "" in marked:
        raise SourceError(f"git source: {root} holds evaluation data ({EVALUATION_MARKER} at its root): "
                          "benchmarks are never training data")
    files = [f for f in tree if _git_path_readable(f.path, marked, reader)]
    licenses = [repo.blob(f.blob, max_file_bytes) for f in files if "/" not in f.path and is_license_file(f.path)]
    license = license_from_texts(data for data in licenses if data is not None)
    return GitSource(repo, Package(cfg.name or repo.name, root, license, {"commit": head}), files, marked, reader)


def read_git(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """The files of a git repository's head revision (committed content: uncommitted edits and ignored files
    are not read). Its commits become commit -> definition pairs in `codesift.data.commits`."""
    source = open_git(cfg, reader.max_bytes, reader.stats)
    pkg = source.package
    log.info("git source %s: %d files at %s, license %s", pkg.name, len(source.files),
             (pkg.meta["commit"] or "no commits")[:12], pkg.license or "unknown")
    with source.repo:
        for f in source.files:
            if f.size > reader.max_bytes:
                reader.skip("too-large")
            elif out := reader.file_at(pkg, f.path, "git", lambda blob=f.blob: source.text(blob)):
                yield out


# --- installed Python distributions and the stdlib ----------------------------------------------------------


def read_python(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """name 'stdlib': CPython's stdlib (PSF-2.0); name 'docs': CPython's documentation (its reST sources, from
    Debian's pythonX.Y-doc or `path`); otherwise the distributions in a site-packages folder (`path`, a venv
    folder, or with name 'site-packages' the running interpreter's)."""
    if cfg.path is None and cfg.name == "stdlib":
        return _read_stdlib(reader)
    if cfg.name == "docs":
        major, minor = platform.python_version_tuple()[:2]
        default = PYTHON_DOCS.format(version=f"{major}.{minor}")
        if cfg.path is None and not Path(default).is_dir():
            raise SourceError(f"python source 'docs': {default} does not exist; install Debian's python{major}.{minor}"
                              "-doc, or set `path` to the _sources folder of a Sphinx build of CPython's Doc/")
        return _read_python_docs(_root(cfg, default), reader)
    if cfg.path is None and cfg.name != "site-packages":
        raise SourceError("python source needs name 'stdlib', name 'site-packages' or a path to a site-packages")
    site = _site_packages(_root(cfg)) if cfg.path else Path(sysconfig.get_paths()["purelib"])
    return _read_distributions(site, reader)


def _read_stdlib(reader: _Reader) -> Iterator[SourceFile]:
    """Each top-level stdlib package or module is its own repository (`cpython/json`, `cpython/asyncio`):
    they are separate projects, and repository-held-out splits need more than one."""
    root = Path(sysconfig.get_paths()["stdlib"]).resolve()
    meta = {"version": platform.python_version()}
    for path in _walk(reader, root, prune=lambda d: d.name in STDLIB_PRUNE or d.name.startswith("config-")):
        top = path.relative_to(root).parts[0].removesuffix(".py")
        if f := reader.source_file(Package(f"cpython/{top}", root, "PSF-2.0", meta), path, "python"):
            yield f


def _read_python_docs(root: Path, reader: _Reader) -> Iterator[SourceFile]:
    """Sphinx keeps each page's reST source as `page.rst.txt`; read as `page.rst`. Each top folder (library,
    tutorial, howto, faq, reference) is its own repository, `python-docs/library`; the C API, extending and
    embedding, and the what's-new pages (a changelog) are left out."""
    meta = {"version": platform.python_version()}
    for path in _walk(reader, root, prune=lambda d: d.name in PYTHON_DOCS_PRUNE):
        rel = path.relative_to(root).as_posix()
        if not rel.endswith(".rst.txt"):
            reader.skip("not-code")
            continue
        top = rel.split("/")[0].removesuffix(".rst.txt")
        pkg = Package(f"python-docs/{top}", root, "PSF-2.0", meta)
        if f := reader.file_at(pkg, rel.removesuffix(".txt"), "python", functools.partial(reader.read, path)):
            yield f


def _site_packages(path: Path) -> Path:
    """A venv folder stands for its site-packages."""
    if (path / "pyvenv.cfg").is_file():
        found = sorted(path.glob("lib/python3*/site-packages"))
        if not found:
            raise SourceError(f"python source: venv {path} has no lib/python3*/site-packages")
        return found[0]
    return path


def _read_distributions(site: Path, reader: _Reader) -> Iterator[SourceFile]:
    site = site.resolve()
    found = {}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        metadata = email.parser.Parser().parsestr(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
        if name := metadata.get("Name"):
            found.setdefault(name.lower(), (name, dist, metadata))
    for name, dist, metadata in (found[key] for key in sorted(found)):
        if dist.files is None:
            reader.skip("no-record")
            continue
        files = [PurePosixPath(f.as_posix()) for f in dist.files]
        license_files = [site / f for f in files if ".dist-info" in f.parts[0] and is_license_file(f.name)]
        license = license_from_metadata(metadata) or license_from_paths(license_files)
        pkg = Package(name, site, license, {"version": metadata.get("Version")})
        if readme := _metadata_readme(metadata, pkg, reader):
            yield readme
        for rel in files:
            if rel.parts[0] == ".." or rel.parts[0].endswith((".dist-info", ".egg-info")):
                continue  # scripts installed outside site-packages; the metadata itself
            path = site / rel
            if path.is_symlink() and (reason := _link_problem(path, site)):
                reader.skip(reason)
            elif f := reader.source_file(pkg, path, "python"):
                yield f


def _metadata_readme(metadata: Any, pkg: Package, reader: _Reader) -> SourceFile | None:
    """A wheel carries its README as the METADATA body; keep it when it is Markdown."""
    if not (metadata.get("Description-Content-Type") or "").startswith("text/markdown"):
        return None
    body = metadata.get_payload() or metadata.get("Description") or ""
    if not body.strip() or reader.decode(body.encode("utf-8", errors="replace")) is None:
        return None
    return SourceFile(pkg.name, "README.md", "markdown", pkg.license, "python", body, dict(pkg.meta))


# --- Debian-installed Go, Rust and Java sources -------------------------------------------------------------


def read_debian_go(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """Go modules under /usr/share/gocode/src (golang-*-dev) or a GOROOT src; repo = module path.
    Licenses come from LICENSE files, else from the installing Debian package's copyright file."""
    root = _root(cfg, GOCODE)

    def package_at(folder: Path, parent: Package) -> Package | None:
        if (folder / "go.mod").is_file():
            license = _license_upwards(folder, root) or package_license(folder, root)
            return Package(_go_module_path(folder / "go.mod") or _rel_name(folder, root), folder, license)
        if parent.root == root and folder != root and any(is_license_file(n) for n in _names(folder)):
            return Package(_rel_name(folder, root), folder, license_from_files(folder))  # a GOPATH-era repo
        return None

    def prune(folder: Path) -> bool:
        if folder.relative_to(root).as_posix() in GENERATED_GO_TREES:
            reader.skip("generated-tree")
            return True
        return folder.name in GO_PRUNE or folder.name[0] in "._"  # the go tool skips these too

    top = Package(cfg.name or root.name, root, _license_upwards(root, root) or package_license(root, root))
    return _read_packages(reader, root, "debian-go", top, package_at, prune)


def read_debian_rust(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """Crates under /usr/share/cargo/registry (librust-*-dev) or a rust-src tree; repo = name-version."""
    root = _root(cfg, CARGO_REGISTRY)

    def package_at(folder: Path, parent: Package) -> Package | None:
        manifest = _toml(folder / "Cargo.toml", reader)
        if not manifest or "package" not in manifest:
            return None
        table = manifest["package"]
        inherits = any(isinstance(table.get(key), dict) for key in ("version", "license"))  # key.workspace = true
        workspace = _cargo_workspace(folder, root, reader) if inherits else None
        crate = table.get("name", folder.name)
        version = table.get("version")
        if isinstance(version, dict):
            version = (workspace or {}).get("workspace", {}).get("package", {}).get("version")
        license = (license_from_cargo(manifest, workspace) or _license_upwards(folder, root)
                   or package_license(folder, root))
        name = f"{crate}-{version}" if version else crate
        return Package(name, folder, license, {"crate": crate, "version": version})

    top = Package(cfg.name or root.name, root, license_from_files(root))
    return _read_packages(reader, root, "debian-rust", top, package_at, lambda d: d.name in RUST_PRUNE)


def read_debian_java(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """Trees unpacked by `apt-get source`; repo = Debian source package, license from debian/copyright."""
    root = _root(cfg)

    def package_at(folder: Path, parent: Package) -> Package | None:
        copyright_file = folder / "debian" / "copyright"
        if not copyright_file.is_file():
            return None
        text = reader.read(copyright_file) or ""
        license = license_from_dep5(text) or license_from_files(folder)
        return Package(_debian_source_name(folder), folder, license)

    top = Package(cfg.name or root.name, root, None)
    return _read_packages(reader, root, "debian-java", top, package_at, lambda d: d.name in JAVA_PRUNE)


def _read_packages(reader: _Reader, root: Path, kind: str, top: Package,
                   package_at: Callable[[Path, Package], Package | None],
                   prune: Callable[[Path], bool]) -> Iterator[SourceFile]:
    """Walk a tree of packages: each folder belongs to the nearest enclosing folder that starts a package."""
    owners: dict[Path, Package] = {}

    def owner(folder: Path) -> Package:
        if folder not in owners:
            parent = top if folder == root else owner(folder.parent)
            owners[folder] = package_at(folder, parent) or parent
        return owners[folder]

    for path in _walk(reader, root, prune):
        if f := reader.source_file(owner(path.parent), path, kind):
            yield f


def _go_module_path(go_mod: Path) -> str | None:
    try:
        m = re.search(r"^module\s+\"?([^\s\"]+)", go_mod.read_text(encoding="utf-8", errors="replace"), re.M)
    except OSError:
        return None
    return m.group(1) if m else None


def _cargo_workspace(folder: Path, root: Path, reader: _Reader) -> dict[str, Any] | None:
    """The nearest manifest at or above `folder` (within the source's parent) that declares a [workspace]."""
    for candidate in (folder, *folder.parents):
        manifest = _toml(candidate / "Cargo.toml", reader)
        if manifest and "workspace" in manifest:
            return manifest
        if candidate == root.parent:
            return None
    return None


def _debian_source_name(tree: Path) -> str:
    """The source package from debian/changelog's first line: 'guava-libraries (31.1-1) unstable; ...'."""
    try:
        with (tree / "debian" / "changelog").open(encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
    except OSError:
        first = []
    return first[0] if first else tree.name


# --- npm packages -------------------------------------------------------------------------------------------


def read_npm(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """Packages in a node_modules folder; where a package ships its TypeScript/JS sources, read only those."""
    root = _root(cfg)
    if (root / "node_modules").is_dir():
        root = root / "node_modules"
    for folder in _npm_package_dirs(root):
        manifest = _json(folder / "package.json", reader)
        if manifest is None:
            continue
        name = manifest.get("name") if isinstance(manifest.get("name"), str) else _rel_name(folder, root)
        license = license_from_package_json(manifest) or license_from_files(folder)
        pkg = Package(name, folder, license, {"version": manifest.get("version")})
        paths = list(_walk(reader, folder, prune=lambda d: False))
        wanted = _npm_wanted(pkg, paths)
        for path in paths:
            if not wanted(path.relative_to(folder).as_posix()):
                reader.skip("compiled")
            elif f := reader.source_file(pkg, path, "npm"):
                yield f


def _npm_package_dirs(node_modules: Path) -> Iterator[Path]:
    """node_modules/NAME and node_modules/@SCOPE/NAME, then their own nested node_modules."""
    for entry in sorted(node_modules.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue  # .bin, .package-lock.json; symlinked workspaces point outside the folder
        scoped = entry.name.startswith("@")
        for folder in sorted(entry.iterdir()) if scoped else [entry]:
            if (folder / "package.json").is_file() and not folder.is_symlink():
                yield folder
                if (folder / "node_modules").is_dir():
                    yield from _npm_package_dirs(folder / "node_modules")


def _npm_wanted(pkg: Package, paths: Iterable[Path]) -> Callable[[str], bool]:
    """Prefer what the authors wrote over what a compiler emitted: src/ when it holds TS/JS, else the .ts
    sources, else all JavaScript. Only TS/JS files are ever turned away; README and the rest pass on."""
    sources: dict[str, str] = {}
    for path in paths:
        rel = path.relative_to(pkg.root).as_posix()
        lang = detect_language(rel)
        if lang and lang.name in {"typescript", "javascript"} and not lang.declaration:
            sources[rel] = lang.name
    if any(rel.startswith("src/") for rel in sources):
        return lambda rel: rel not in sources or rel.startswith("src/")
    if "typescript" in sources.values():
        return lambda rel: sources.get(rel, "typescript") == "typescript"
    return lambda rel: True


# --- The Stack schema: Parquet / JSONL files and Hugging Face datasets --------------------------------------


def read_stack(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """Parquet or JSON Lines files (one, or a folder of them) in The Stack's schema."""
    root = _root(cfg, folder=False)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.name.endswith(STACK_SUFFIXES)
                                                 and _evaluation_folder(p, root) is None)
    for path in files:
        rows = _parquet_rows(path, reader) if path.suffix == ".parquet" else _jsonl_rows(path, reader)
        for row in rows:
            if f := _stack_file(row, "stack", reader):
                yield f


def read_hf(cfg: SourceConfig, reader: _Reader) -> Iterator[SourceFile]:
    """A Hugging Face dataset in The Stack's schema, streamed; `path` is passed as data_files (so name
    'parquet' or 'json' with a local path reads local files)."""
    if not cfg.name:
        raise SourceError("hf source needs `name`: a dataset id, or 'parquet'/'json' with `path` as data_files")
    try:
        import datasets
    except ImportError:
        raise SourceError("hf source needs the `datasets` library: pip install 'codesift[hf]'") from None
    if cfg.path and (local := Path(cfg.path).expanduser()).exists():
        _refuse_evaluation_data(local.resolve(), cfg.kind)
    kwargs = {"data_files": cfg.path} if cfg.path else {}
    for row in datasets.load_dataset(cfg.name, split=cfg.split, streaming=True, **kwargs):
        if f := _stack_file(row, "hf", reader):
            yield f


def _parquet_rows(path: Path, reader: _Reader) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=512):
            yield from batch.to_pylist()
    except (OSError, pa.ArrowException):
        reader.skip("corrupt-file")


def _jsonl_rows(path: Path, reader: _Reader) -> Iterator[dict[str, Any]]:
    try:
        with (gzip.open(path) if path.suffix == ".gz" else path.open("rb")) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    reader.skip("corrupt-row")
                    continue
                if isinstance(row, dict):
                    yield row
                else:
                    reader.skip("corrupt-row")
    except (OSError, EOFError):
        reader.skip("corrupt-file")


def _stack_file(row: dict[str, Any], kind: str, reader: _Reader) -> SourceFile | None:
    """A Stack row -> SourceFile: content, path (max_stars_repo_path), repo (max_stars_repo_name),
    license / licenses / max_stars_repo_licenses, lang."""
    content = row.get("content")
    path = row.get("path") or row.get("max_stars_repo_path") or ""
    if not isinstance(content, str) or not isinstance(path, str):
        return reader.skip("corrupt-row")
    lang = str(row.get("lang") or "").lower()
    detected = detect_language(path)
    if lang not in KEEP_LANGUAGES:
        lang = detected.name if detected else ""
    if lang not in KEEP_LANGUAGES:
        return reader.skip("not-code")
    if detected and detected.declaration:
        return reader.skip("type-declaration")
    text = reader.decode(content.encode("utf-8", errors="surrogatepass"))
    if text is None:
        return None
    repo = row.get("repo") or row.get("max_stars_repo_name") or row.get("repo_name") or "unknown"
    return SourceFile(str(repo), path, lang, _stack_license(row), kind, text)


def _stack_license(row: dict[str, Any]) -> str | None:
    """The Stack lists the licenses detected in a repository; all must be allowed, so they join with AND."""
    declared = row.get("license") or row.get("licenses") or row.get("max_stars_repo_licenses")
    names = [declared] if isinstance(declared, str) else list(declared or [])
    spdx = [normalize_license(n) if isinstance(n, str) else None for n in names]
    if not spdx or None in spdx:
        return None
    return " AND ".join(f"({s})" if " " in s else s for s in dict.fromkeys(spdx))


# --- shared helpers -----------------------------------------------------------------------------------------


def _root(cfg: SourceConfig, default: str | None = None, *, folder: bool = True) -> Path:
    """The configured path, which must exist (and be a folder unless `folder` is False); resolved so
    symlink checks compare real locations."""
    raw = cfg.path or default
    if raw is None:
        raise SourceError(f"{cfg.kind} source needs `path`")
    path = Path(raw).expanduser()
    if not path.exists():
        raise SourceError(f"{cfg.kind} source: path {path} does not exist")
    if folder and not path.is_dir():
        raise SourceError(f"{cfg.kind} source: path {path} is not a folder")
    return _refuse_evaluation_data(path.resolve(), cfg.kind)


def _refuse_evaluation_data(path: Path, kind: str) -> Path:
    """`path`, unless it lies in a folder of evaluation data: a source there would train on the benchmarks."""
    if marked := _evaluation_folder(path):
        raise SourceError(f"{kind} source: path {path} is inside {marked}, which holds evaluation data "
                          f"({EVALUATION_MARKER}): benchmarks are never training data")
    return path


def _evaluation_folder(path: Path, stop: Path | None = None) -> Path | None:
    """The nearest folder holding EVALUATION_MARKER at or above `path` (up to `stop`, else the filesystem root)."""
    for folder in (path, *path.parents):
        if (folder / EVALUATION_MARKER).is_file():
            return folder
        if folder == stop:
            return None
    return None


def _walk(reader: _Reader, root: Path, prune: Callable[[Path], bool]) -> Iterator[Path]:
    """Regular files under `root` in sorted order. Folder symlinks are never followed (duplicates, loops);
    file symlinks are read only when they resolve inside `root`."""
    for folder, dirnames, filenames in walk_folders(root, onerror=lambda e: reader.skip("unreadable")):
        here = Path(folder)
        kept = []
        for name in sorted(dirnames):
            sub = here / name
            if name in PRUNE_DIRS or prune(sub):
                continue
            if (sub / EVALUATION_MARKER).is_file():
                reader.skip("evaluation-data")
                continue
            if sub.is_symlink():
                reader.skip(_link_problem(sub, root) or "symlink-dir")
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink() and (reason := _link_problem(path, root)):
                reader.skip(reason)
            else:
                yield path


def walk_folders(root: Path, onerror: Callable[[OSError], object]) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk(root)` (top-down; prune by editing `dirnames` in place; folder symlinks listed, never entered)
    without recursion: Python 3.11's os.walk recurses once per level and fails past ~1,000 nested folders."""
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as entries:
                listed = [(entry.name, _is_dir(entry)) for entry in entries]
        except OSError as e:
            onerror(e)
            continue
        dirnames = [name for name, is_dir in listed if is_dir]
        filenames = [name for name, is_dir in listed if not is_dir]
        yield top, dirnames, filenames
        stack.extend(path for name in reversed(dirnames) if not os.path.islink(path := os.path.join(top, name)))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _link_problem(link: Path, root: Path) -> str | None:
    """Why a symlink must not be read: it loops, dangles, leaves the root, or (a folder) contains itself."""
    try:
        target = link.resolve(strict=True)
    except RuntimeError:
        return "symlink-loop"
    except OSError as e:
        return "symlink-loop" if e.errno == errno.ELOOP else "broken-symlink"
    if not target.is_relative_to(root):
        return "symlink-outside-root"
    if target.is_dir() and link.parent.resolve().is_relative_to(target):
        return "symlink-loop"
    return None


def _license_upwards(folder: Path, root: Path) -> str | None:
    """License files in `folder` or above it, up to the source root's parent (GOROOT keeps LICENSE beside src/)."""
    for candidate in (folder, *folder.parents):
        if license := license_from_files(candidate):
            return license
        if candidate == root.parent:
            return None
    return None


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _rel_name(folder: Path, root: Path) -> str:
    return folder.relative_to(root).as_posix() if folder != root else root.name


def _toml(path: Path, reader: _Reader) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        reader.skip("corrupt-manifest")
        return None


def _json(path: Path, reader: _Reader) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        reader.skip("corrupt-manifest")
        return None
    return data


READERS: dict[str, Callable[[SourceConfig, _Reader], Iterator[SourceFile]]] = {
    "local": read_local,
    "git": read_git,
    "python": read_python,
    "debian-go": read_debian_go,
    "debian-rust": read_debian_rust,
    "debian-java": read_debian_java,
    "npm": read_npm,
    "stack": read_stack,
    "hf": read_hf,
}
