import gzip
import json
import os
import shutil
import threading
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesift.config import SourceConfig
from codesift.data.sources import EVALUATION_MARKER, SourceError, read_source

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


def read(kind: str, path: Path | str | None = None, name: str | None = None, max_file_bytes: int = 1_000_000):
    stats: Counter[str] = Counter()
    cfg = SourceConfig(kind=kind, path=str(path) if path is not None else None, name=name)
    files = list(read_source(cfg, max_file_bytes=max_file_bytes, stats=stats))
    return {(f.repo, f.path): f for f in files}, stats


@pytest.fixture
def local_repo(tmp_path: Path) -> Path:
    """The committed local fixture plus what git cannot hold: ignored files, a huge file, symlinks, a FIFO."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "local", repo, symlinks=True)
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("x = 1\n")
    (repo / "src" / "generated_x.py").write_text("x = 2\n")
    (repo / "debug.log").write_text("log\n")
    (repo / "huge.py").write_text("x = 1\n" * 200_000)  # 1.2 MB, over the 1 MB default
    (repo / ".git" / "hooks").mkdir(parents=True)
    (repo / ".git" / "hooks" / "pre-commit.py").write_text("print('hook')\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.py").write_text("TOKEN = 'outside the root'\n")
    os.symlink(tmp_path / "elsewhere" / "secret.py", repo / "outside.py")
    os.symlink(tmp_path / "elsewhere", repo / "outside_dir")
    os.symlink("loop_b.py", repo / "loop_a.py")
    os.symlink("loop_a.py", repo / "loop_b.py")
    os.symlink(".", repo / "src" / "self")
    os.symlink("src/app.py", repo / "inside.py")
    os.symlink("missing.py", repo / "dangling.py")
    os.mkfifo(repo / "pipe.py")
    return repo


def test_local_reads_code_and_markdown_and_counts_every_skip(local_repo):
    files, stats = read("local", local_repo, name="demo")
    assert {path for _, path in files} == {
        "README.md", "src/app.py", "src/util.ts", "src/sub/generated_ok.py", "run-me", "inside.py",
    }
    assert {f.repo for f in files.values()} == {"demo"}
    assert {f.license for f in files.values()} == {"MIT"}
    assert {f.source for f in files.values()} == {"local"}
    langs = {path: f.language for (_, path), f in files.items()}
    assert langs["src/util.ts"] == "typescript" and langs["run-me"] == "python" and langs["README.md"] == "markdown"
    assert "greet" in files["demo", "inside.py"].text
    assert stats["skip:binary"] == 1
    assert stats["skip:invalid-utf8"] == 1
    assert stats["skip:too-large"] == 1
    assert stats["skip:symlink-loop"] == 3  # loop_a, loop_b and the folder link to its own parent
    assert stats["skip:symlink-outside-root"] == 2
    assert stats["skip:broken-symlink"] == 1
    assert stats["skip:special-file"] == 1
    assert stats["skip:gitignored"] == 2  # src/generated_x.py, debug.log; build/ is pruned whole
    assert stats["skip:not-code"] >= 3  # notes.txt, LICENSE, .gitignore files


def test_local_max_file_bytes_is_configurable(local_repo):
    files, stats = read("local", local_repo, max_file_bytes=80)
    assert ("repo", "src/app.py") not in files  # 105 bytes
    assert ("repo", "src/sub/generated_ok.py") in files
    assert stats["skip:too-large"] >= 2


def test_local_unreadable_file_is_skipped(local_repo, monkeypatch):
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self.name == "app.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    files, stats = read("local", local_repo)
    assert ("repo", "src/app.py") not in files
    assert stats["skip:unreadable"] == 1


def test_local_skips_special_gitignores_and_walks_deep_folders(tmp_path):
    """A FIFO .gitignore blocked the walk forever, one linking to /dev/zero read until memory ran out, and 1,200
    nested folders passed Python 3.11's os.walk recursion limit."""
    repo = tmp_path / "repo"
    folders = [repo / ("d/" * n) for n in range(1, 1201)]
    repo.mkdir()
    for folder in folders:  # one level at a time: os.makedirs and shutil.rmtree recurse
        folder.mkdir()
    (folders[-1] / "deep.py").write_text("x = 1\n")
    os.mkfifo(repo / ".gitignore")
    (folders[0] / ".gitignore").symlink_to("/dev/zero")
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(read("local", repo, name="deep")), daemon=True)
    thread.start()
    thread.join(60)
    try:
        files, stats = outcome[0]
        assert set(files) == {("deep", "d/" * 1200 + "deep.py")}
        assert stats["skip:special-file"] == 3  # both as .gitignore rules, the FIFO again as a file of the walk
    finally:
        for path in (folders[-1] / "deep.py", folders[0] / ".gitignore", repo / ".gitignore"):
            path.unlink()
        for folder in reversed(folders):
            folder.rmdir()


@pytest.mark.parametrize("cfg, message", [
    (SourceConfig(kind="local", path="/no/such/folder"), "does not exist"),
    (SourceConfig(kind="local", path=str(FIXTURES / "local" / "README.md")), "not a folder"),
    (SourceConfig(kind="npm"), "needs `path`"),
    (SourceConfig(kind="python"), "stdlib"),
    (SourceConfig(kind="hf"), "needs `name`"),
])
def test_misconfigured_sources_raise(cfg, message):
    with pytest.raises(SourceError, match=message):
        list(read_source(cfg, max_file_bytes=1000, stats=Counter()))


def test_python_distributions_from_record_and_metadata():
    files, stats = read("python", FIXTURES / "site-packages")
    assert set(files) == {
        ("fakepkg", "fakepkg/__init__.py"), ("fakepkg", "fakepkg/core.py"), ("fakepkg", "README.md"),
        ("plainlib", "plainlib/__init__.py"),
    }
    fake = files["fakepkg", "fakepkg/core.py"]
    assert fake.license == "MIT" and fake.language == "python" and fake.meta == {"version": "1.2.3"}
    assert files["fakepkg", "README.md"].text.startswith("# fakepkg")
    assert files["plainlib", "plainlib/__init__.py"].license == "MIT"  # from its LICENSE file: no metadata
    assert stats["skip:unreadable"] == 1  # fakepkg/missing.py is in RECORD but not on disk


def test_python_reads_a_venv_folder(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    shutil.copytree(FIXTURES / "site-packages", site)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    files, _ = read("python", tmp_path / "venv")
    assert ("plainlib", "plainlib/__init__.py") in files


def test_python_stdlib():
    files, _ = read("python", name="stdlib")
    paths = {path for _, path in files}
    assert "json/decoder.py" in paths
    assert not any(p.startswith(("test/", "idlelib/", "site-packages/")) or "/tests/" in p for p in paths)
    assert {f.license for f in files.values()} == {"PSF-2.0"}
    assert files["cpython/json", "json/decoder.py"].repo == "cpython/json"  # one repository per top-level package
    assert all(f.repo == "cpython/" + p.split("/")[0].removesuffix(".py") for (_, p), f in files.items())


def test_python_docs_reads_sphinx_sources_as_rst(tmp_path):
    sources = tmp_path / "_sources"
    for rel in ("library/os.path.rst.txt", "tutorial/index.rst.txt", "glossary.rst.txt", "c-api/list.rst.txt",
                "whatsnew/3.11.rst.txt", "_static/x.js"):
        (sources / rel).parent.mkdir(parents=True, exist_ok=True)
        (sources / rel).write_text(".. function:: getsize(path)\n\n   Return the size.\n")
    files, stats = read("python", sources, name="docs")
    assert set(files) == {("python-docs/library", "library/os.path.rst"), ("python-docs/tutorial", "tutorial/index.rst"),
                          ("python-docs/glossary", "glossary.rst")}  # C API and what's new left out
    assert {(f.language, f.license) for f in files.values()} == {("markdown", "PSF-2.0")}
    assert stats["skip:not-code"] == 1  # _static/x.js is Sphinx's, not a page source
    with pytest.raises(SourceError, match="python source: path .* does not exist"):
        read("python", tmp_path / "missing", name="docs")


def test_npm_prefers_shipped_sources_over_compiled_output():
    files, stats = read("npm", FIXTURES)  # a folder holding node_modules works like node_modules itself
    assert set(files) == {
        ("@demo/widget", "src/index.ts"), ("@demo/widget", "README.md"), ("inner", "index.js"),
        ("tsonly", "lib/flag.ts"), ("plainjs", "index.js"),
    }
    assert files["@demo/widget", "src/index.ts"].license == "MIT"
    assert files["@demo/widget", "src/index.ts"].meta == {"version": "2.0.0"}
    assert files["tsonly", "lib/flag.ts"].license == "MIT OR Apache-2.0"
    assert files["plainjs", "index.js"].license == "ISC"
    assert stats["skip:compiled"] == 2  # widget's dist/index.js, tsonly's lib/flag.js
    assert stats["skip:type-declaration"] == 1
    assert stats["skip:corrupt-manifest"] == 1  # broken/package.json


def test_debian_go_modules():
    files, stats = read("debian-go", FIXTURES / "gocode" / "src")
    assert set(files) == {
        ("github.com/acme/kit", "kit.go"), ("github.com/acme/kit/v2", "kit.go"), ("example.org/legacy", "legacy.go"),
    }  # testdata/ and vendor/ are not read
    assert files["github.com/acme/kit", "kit.go"].license == "MIT"
    assert files["github.com/acme/kit/v2", "kit.go"].license == "MIT"  # LICENSE one folder up
    assert files["example.org/legacy", "legacy.go"].license == "Apache-2.0"
    assert {f.language for f in files.values()} == {"go"}
    assert stats["skip:generated-tree"] == 1  # github.com/aws/aws-sdk-go is never read


def test_debian_go_root_finds_license_beside_src():
    files, _ = read("debian-go", FIXTURES / "goroot" / "src")
    assert list(files) == [("std", "strings/strings.go")]
    assert files["std", "strings/strings.go"].license == "MIT"


def test_debian_rust_crates():
    files, stats = read("debian-rust", FIXTURES / "cargo" / "registry")
    crate = {k: f for k, f in files.items() if k[0] == "demo-crate-0.1.0"}
    assert set(crate) == {("demo-crate-0.1.0", "src/lib.rs"), ("demo-crate-0.1.0", "README.md")}  # target/ skipped
    lib = crate["demo-crate-0.1.0", "src/lib.rs"]
    assert lib.license == "MIT OR Apache-2.0" and lib.language == "rust"
    assert lib.meta == {"crate": "demo-crate", "version": "0.1.0"}
    assert stats["skip:corrupt-manifest"] >= 1
    assert files["registry", "broken-0.0.1/src/lib.rs"].license is None


def test_debian_rust_workspace_inheritance():
    files, _ = read("debian-rust", FIXTURES / "cargo" / "workspace")
    assert files["member-2.0.0", "src/lib.rs"].license == "MIT OR Apache-2.0"


def test_debian_java_source_trees():
    files, _ = read("debian-java", FIXTURES / "java")
    assert set(files) == {("libdemo-java", "src/main/java/org/demo/Demo.java"), ("other", "src/Other.java")}
    assert files["libdemo-java", "src/main/java/org/demo/Demo.java"].license == "Apache-2.0"  # DEP-5 Files: *
    assert files["other", "src/Other.java"].license is None  # not machine-readable: unknown


STACK_ROWS = [
    {"content": "def f():\n    return 1\n", "max_stars_repo_path": "f.py", "max_stars_repo_name": "acme/py",
     "max_stars_repo_licenses": ["MIT"], "lang": "Python"},
    {"content": "package main\n", "max_stars_repo_path": "main.go", "max_stars_repo_name": "acme/go",
     "max_stars_repo_licenses": ["Apache-2.0", "BSD-3-Clause"], "lang": "Go"},
    {"content": "x" * 2000, "max_stars_repo_path": "big.js", "max_stars_repo_name": "acme/js",
     "max_stars_repo_licenses": ["MIT"], "lang": "JavaScript"},
]


def test_stack_jsonl_maps_the_schema_and_counts_bad_rows():
    files, stats = read("stack", FIXTURES / "stack" / "sample.jsonl")
    assert set(files) == {("acme/py", "pkg/f.py"), ("acme/ts", "src/x.ts"), ("acme/rs", "src/main.rs")}
    assert files["acme/ts", "src/x.ts"].language == "typescript"
    assert files["acme/ts", "src/x.ts"].license == "MIT AND Apache-2.0"
    assert files["acme/rs", "src/main.rs"].language == "rust"  # no lang field: detected from the path
    assert files["acme/rs", "src/main.rs"].license == "GPL-3.0-only"
    assert {f.source for f in files.values()} == {"stack"}
    assert stats["skip:not-code"] == 1 and stats["skip:binary"] == 1 and stats["skip:corrupt-row"] == 3


def test_stack_folder_of_parquet_and_gzipped_jsonl(tmp_path):
    pq.write_table(pa.Table.from_pylist(STACK_ROWS), tmp_path / "part-0.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with gzip.open(tmp_path / "more.jsonl.gz", "wt") as f:
        f.write(json.dumps({"content": "fn a() {}\n", "path": "a.rs", "repo": "acme/rs", "license": "MIT"}) + "\n")
    files, stats = read("stack", tmp_path, max_file_bytes=1000)
    assert set(files) == {("acme/py", "f.py"), ("acme/go", "main.go"), ("acme/rs", "a.rs")}
    assert files["acme/go", "main.go"].license == "Apache-2.0 AND BSD-3-Clause"
    assert stats["skip:corrupt-file"] == 1 and stats["skip:too-large"] == 1


def test_hf_loads_a_local_file_through_datasets(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    parquet = tmp_path / "stack.parquet"
    pq.write_table(pa.Table.from_pylist(STACK_ROWS), parquet)
    files, stats = read("hf", parquet, name="parquet", max_file_bytes=1000)
    assert set(files) == {("acme/py", "f.py"), ("acme/go", "main.go")}
    assert {f.source for f in files.values()} == {"hf"}
    assert stats["skip:too-large"] == 1
    jsonl = tmp_path / "stack.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in STACK_ROWS))
    files, _ = read("hf", jsonl, name="json", max_file_bytes=1000)
    assert set(files) == {("acme/py", "f.py"), ("acme/go", "main.go")}


def test_local_source_at_the_repository_root_never_reads_the_benchmarks():
    repo = Path(__file__).resolve().parents[1]
    assert (repo / "data" / "benchmarks" / EVALUATION_MARKER).is_file()
    files, stats = read("local", repo)
    assert "src/codesift/data/sources.py" in {path for _, path in files}
    assert not [path for _, path in files if path.startswith("data/benchmarks/")]
    assert stats["skip:evaluation-data"] == 1


def test_sources_inside_evaluation_data_are_refused(tmp_path):
    bench = tmp_path / "bench"
    (bench / "corpus").mkdir(parents=True)
    (bench / EVALUATION_MARKER).write_text("evaluation only\n")
    (bench / "corpus" / "lib.py").write_text("def answer():\n    return 42\n")
    (bench / "rows.jsonl").write_text(json.dumps(STACK_ROWS[0]) + "\n")
    for kind, path, name in [("local", bench / "corpus", None), ("stack", bench / "rows.jsonl", None),
                             ("hf", bench / "rows.jsonl", "json")]:
        with pytest.raises(SourceError, match=f"inside {bench}, which holds evaluation data"):
            read(kind, path, name=name)


def test_stack_folder_skips_evaluation_data_below_it(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / EVALUATION_MARKER).write_text("evaluation only\n")
    (tmp_path / "bench" / "rows.jsonl").write_text(json.dumps(STACK_ROWS[0]) + "\n")
    (tmp_path / "train.jsonl").write_text(json.dumps(STACK_ROWS[0] | {"repo": "acme/train"}) + "\n")
    files, _ = read("stack", tmp_path, max_file_bytes=1000)
    assert {repo for repo, _ in files} == {"acme/train"}
