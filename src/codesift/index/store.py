"""The index folder on disk: generations committed by an atomic pointer, checksummed, written under a lock.

```
INDEX_DIR/
  CURRENT        the name of the committed generation, e.g. 'g000012' (replaced atomically: codesift.runs)
  .lock          held by writers (filelock), so concurrent updates queue instead of interleaving
  g000012/
    manifest.json   generation, encoder, config, roots, counts, and the sha256 + size of every file below
    chunks.parquet  one row per live chunk (the metadata store)
    files.parquet   one row per indexed file: root, path, size, mtime_ns, ctime_ns, sha256 (what updates compare)
    vectors/        the vector backend's files
    bm25/           BM25 over the chunks' terms (postings as .npy, vocabulary.json; saved when hybrid search is on)
```

A save writes a complete new generation folder (fsynced), renames it into place and only then points CURRENT at
it, so a crash at any moment leaves the previous generation committed and usable. The previous generation is
kept (a reader that read CURRENT just before a commit can still load it); older ones are deleted. Loading checks
every file's size and sha256 against the manifest: a damaged index is an `IndexCorruptError`, never a silently
wrong answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codesift.runs import atomic_write

FORMAT = 1
CURRENT = "CURRENT"
LOCK = ".lock"
_GENERATION = re.compile(r"^g(\d{6,})$")


class CodeIndexError(Exception):
    """Base of the index's errors."""


class IndexNotFoundError(CodeIndexError, FileNotFoundError):
    """No committed index in the folder."""


class IndexCorruptError(CodeIndexError, ValueError):
    """The committed index is damaged (checksum mismatch, unreadable file); it must be rebuilt."""


class IndexMismatchError(CodeIndexError, ValueError):
    """The index was built with another encoder (revision or dim) or an incompatible format."""


class IndexLockedError(CodeIndexError, TimeoutError):
    """Another process held the index's write lock for longer than the timeout."""


def is_generation(name: str) -> bool:
    return bool(_GENERATION.match(name))


def generation_name(generation: int) -> str:
    return f"g{generation:06d}"


def current_generation(directory: Path) -> str | None:
    """The committed generation's folder name, or None when there is no index here."""
    try:
        name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):  # no such folder (or a file where it would be)
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"{directory / CURRENT}: unreadable ({e}); rebuild the index") from None
    if not _GENERATION.match(name):
        raise IndexCorruptError(f"{directory / CURRENT}: does not name a generation (got {name[:40]!r}); "
                                "rebuild the index")
    return name


def recorded_roots(directory: Path) -> dict[str, str]:
    """The folders (repo name -> absolute path) recorded by the newest generation whose manifest still parses,
    without checking its files: what a damaged index is rebuilt from. {} when no manifest records any."""
    names = [p.name for p in directory.iterdir() if p.is_dir() and is_generation(p.name)] if directory.is_dir() else []
    for name in sorted(names, key=lambda n: int(n[1:]), reverse=True):
        try:
            roots = json.loads((directory / name / "manifest.json").read_text(encoding="utf-8")).get("roots")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(roots, dict) and roots and all(isinstance(v, str) for v in roots.values()):
            return roots
    return {}


@contextlib.contextmanager
def write_lock(directory: Path, timeout: float) -> Iterator[None]:
    """Hold the index folder's writer lock; raises IndexLockedError after `timeout` seconds of waiting."""
    from filelock import FileLock, Timeout

    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCK))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexLockedError(f"{directory}: another process is updating this index (lock {directory / LOCK} "
                               f"held for over {timeout:g}s)") from None
    try:
        yield
    finally:
        lock.release()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def begin(directory: Path, generation: int) -> Path:
    """A fresh temporary folder for a generation's files (removed by `abort` or by the next writer)."""
    tmp = directory / f".{generation_name(generation)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit(directory: Path, tmp: Path, generation: int, manifest: dict[str, Any]) -> Path:
    """Checksum every file in `tmp`, write the manifest, fsync, move it into place, then switch CURRENT to it."""
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        _fsync(path)
        files[path.relative_to(tmp).as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {**manifest, "format": FORMAT, "generation": generation, "files": files}
    with atomic_write(tmp / "manifest.json") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    for folder in sorted({p.parent for p in tmp.rglob("*")} | {tmp}):
        _fsync_dir(folder)
    final = directory / generation_name(generation)
    try:
        previous = current_generation(directory)
    except IndexCorruptError:
        previous = None
    if final.name == previous:
        raise ValueError(f"{final}: generation {generation} is already committed")
    if final.exists():  # left by a writer that crashed after the rename but before CURRENT moved: never committed
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(directory)
    with atomic_write(directory / CURRENT) as fh:  # the commit point
        fh.write(final.name + "\n")
    _fsync_dir(directory)
    _clean(directory, keep={final.name, previous})  # the previous one stays for readers that just opened it
    return final


def abort(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(gen_dir: Path, verify: bool = True) -> dict[str, Any]:
    """The generation's manifest after checking that every file it lists is there, whole and unchanged."""
    try:
        manifest = json.loads((gen_dir / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{gen_dir}: manifest.json is missing; rebuild the index") from None
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{gen_dir / 'manifest.json'}: unreadable ({e}); rebuild the index") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexCorruptError(f"{gen_dir / 'manifest.json'}: not an index manifest; rebuild the index")
    if manifest.get("format") != FORMAT:
        raise IndexMismatchError(f"{gen_dir}: index format {manifest.get('format')!r}, this codesift reads "
                                 f"{FORMAT}; rebuild the index")
    for rel, expect in manifest["files"].items():
        path = gen_dir / rel
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexCorruptError(f"{path}: missing; rebuild the index") from None
        if size != expect["bytes"]:
            raise IndexCorruptError(f"{path}: {size} bytes, the manifest says {expect['bytes']} (truncated or "
                                    "overwritten); rebuild the index")
        if verify and sha256_file(path) != expect["sha256"]:
            raise IndexCorruptError(f"{path}: checksum mismatch (the file was damaged); rebuild the index")
    return manifest


def _clean(directory: Path, keep: set[str | None]) -> None:
    """Remove generations other than `keep` and temporary folders of writers that are gone."""
    for path in directory.iterdir():
        if path.is_dir() and _GENERATION.match(path.name) and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir() and path.name.startswith(".g") and ".tmp-" in path.name:
            pid = path.name.rpartition("-")[2]
            if not pid.isdigit() or not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers from an aborted save
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on folders
        _fsync(path)
