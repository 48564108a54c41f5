"""Reading a git repository (a clone or a bare git dir) through the `git` command: the files of a revision, blob
contents and the history with each commit's changed files. Plumbing only; what makes a training pair is in
`codesift.data.commits`.

No hooks, external diff drivers or textconv filters ever run: only `ls-tree`, `cat-file` and `log --raw`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
_RECORD, _FIELD = "\x1e", "\x1f"  # separators of `git log --format` records and fields
_ZERO = "0" * 40


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


@dataclass(frozen=True)
class TreeFile:
    path: str
    blob: str
    size: int
    mode: str  # 100644, 100755; links (120000) and submodules are left out


@dataclass(frozen=True)
class Change:
    """One file a commit changed, as `git log --raw -M` reports it against the first parent."""

    status: str  # A (added), M, D, R (renamed), C (copied), T (type changed)
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: str
    message: str  # the raw message, as written
    changes: tuple[Change, ...]


class GitRepo:
    """A repository `git` can read: a work tree's root, its .git folder, or a bare repository."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cat: subprocess.Popen[bytes] | None = None
        bare, git_dir = self._run("rev-parse", "--is-bare-repository", "--absolute-git-dir").decode().split()
        self.git_dir = Path(git_dir)
        # the work tree's root; a bare repository is its own root
        self.root = self.git_dir if bare == "true" else Path(self._run("rev-parse", "--show-toplevel").decode().strip())
        if path.resolve() not in (self.root.resolve(), self.git_dir.resolve()):
            raise GitError(f"{path} is inside the repository {self.root}, not the repository itself")

    def _run(self, *args: str) -> bytes:
        try:
            done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                                  env={**os.environ, **_ENV}, check=False)
        except FileNotFoundError:
            raise GitError("the `git` command is not installed") from None
        if done.returncode:
            raise GitError(f"git {args[0]} in {self.path}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    @property
    def name(self) -> str:
        """The repository's folder name: `x` for x/, x/.git and x.git."""
        return self.root.name.removesuffix(".git") or self.root.name

    def head(self) -> str | None:
        """The commit HEAD points at; None in a repository without commits."""
        try:
            return self._run("rev-parse", "--verify", "--quiet", "HEAD^{commit}").decode().strip() or None
        except GitError:
            return None

    def tree(self, rev: str) -> list[TreeFile]:
        """Every regular file of revision `rev`, in git's (sorted) order."""
        files = []
        for entry in self._run("ls-tree", "-r", "-l", "-z", "--full-tree", rev).decode(errors="surrogateescape")\
                .split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob, size = meta.split()
            if kind == "blob" and mode in ("100644", "100755"):
                files.append(TreeFile(path, blob, int(size), mode))
        return files

    def blob(self, sha: str, max_bytes: int) -> bytes | None:
        """A blob's bytes, or None when it is larger than `max_bytes` or missing (a shallow or partial clone)."""
        if self._cat is None:
            self._cat = subprocess.Popen(["git", "-C", str(self.path), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, env={**os.environ, **_ENV})
        stdin, stdout = self._cat.stdin, self._cat.stdout
        assert stdin is not None and stdout is not None
        stdin.write(sha.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:  # "<sha> missing"
            return None
        size = int(header[2])
        data = _read_exactly(stdout, size + 1)[:size]  # the content and its closing newline
        return data if size <= max_bytes else None

    def commits(self, max_count: int, rev: str = "HEAD") -> list[Commit]:
        """The newest `max_count` commits reachable from `rev` that are not merges, newest first, with their
        changed files against the first parent (renames detected)."""
        raw = self._run("log", "--no-merges", f"--max-count={max_count}", "--no-abbrev", "--raw", "-r", "-M", "-z",
                        "--no-ext-diff", "--no-textconv", f"--format={_RECORD}%H{_FIELD}%P{_FIELD}%an{_FIELD}%B{_FIELD}",
                        rev, "--")
        return [_parse_commit(record) for record in raw.decode(errors="surrogateescape").split(_RECORD)[1:]]

    def close(self) -> None:
        if self._cat is not None:
            assert self._cat.stdin is not None
            self._cat.stdin.close()
            self._cat.wait()
            self._cat = None

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            raise GitError("git cat-file ended early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse_commit(record: str) -> Commit:
    """One `--format` record followed by its NUL-separated `--raw -z` entries:
    ':old_mode new_mode old_blob new_blob STATUS\\0path\\0' (two paths for renames and copies)."""
    sha, parents, author, message, rest = record.split(_FIELD, 4)
    fields = rest.lstrip("\0\n").split("\0")
    changes, i = [], 0
    while i < len(fields) and fields[i].startswith(":"):
        _, _, old_blob, new_blob, status = fields[i][1:].split()
        letter = status[0]
        if letter in "RC":
            old_path, new_path, i = fields[i + 1], fields[i + 2], i + 3
        else:
            old_path = new_path = fields[i + 1]
            i += 2
        changes.append(Change(letter, None if letter == "A" else old_path, None if letter == "D" else new_path,
                              None if old_blob == _ZERO else old_blob, None if new_blob == _ZERO else new_blob))
    return Commit(sha, tuple(parents.split()), author, message, tuple(changes))
