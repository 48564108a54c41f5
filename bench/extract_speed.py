"""Extraction speed (issue 3): MB/s per core of extract_file / split_markdown on real code found on this machine.

One process, one thread. Files are read before the clock starts; MB/s uses CPU time, so other processes on a
shared machine deflate it less (wall seconds are printed too). `parse_only_MB/s` times tree-sitter's parse alone
on the same files: the ceiling, and a yardstick for how busy the machine was. Prints one JSON object per language.

    python bench/extract_speed.py [--max-mb 40] [--root go=/path/to/src ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

from codesift.data.extract import extract_file, split_markdown
from codesift.data.languages import detect_language, grammar_for
from codesift.data.units.base import parser


def default_roots() -> dict[str, list[str]]:
    """Where each language's code usually lives; missing folders are skipped."""
    home = str(Path.home())
    node = ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/work/main/node_modules"]
    return {
        "python": [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]],
        "javascript": node + [sysconfig.get_paths()["purelib"]],
        "typescript": node,
        "go": glob.glob("/usr/lib/go*/src")
        + glob.glob("/usr/share/go*/src")
        + ["/usr/share/gocode/src", "/usr/share/doc"],
        "rust": ["/usr/share/cargo/registry", "/usr/lib/rustlib/src"]
        + glob.glob(f"{home}/.rustup/toolchains/*/lib/rustlib/src"),
        "java": ["/usr/share/java-src", "/usr/src"],
        "markdown": [sysconfig.get_paths()["purelib"], "/usr/lib/node_modules"],
    }


def files(language: str, roots: list[str], max_bytes: int) -> Iterator[tuple[str, str]]:
    """(path, text) of the language's files under roots, in a stable order, up to max_bytes."""
    seen, total = set(), 0
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "site-packages")  # the stdlib holds one; purelib is its own root
            for name in sorted(names):
                path = os.path.join(folder, name)
                found = detect_language(name)
                if found is None or found.name != language or found.declaration or path in seen:
                    continue
                try:
                    text = Path(path).read_text("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                seen.add(path)
                total += len(text.encode("utf-8", "surrogatepass"))
                yield path, text
                if total >= max_bytes:
                    return


def measure(language: str, corpus: list[tuple[str, str]]) -> dict:
    size = sum(len(t.encode("utf-8", "surrogatepass")) for _, t in corpus)
    units = errors = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for path, text in corpus:
        if language == "markdown":
            units += len(split_markdown(text, repo="bench", path=path, license=None))
            continue
        result = extract_file(text, language, repo="bench", path=path, license=None)
        units += len(result.units)
        errors += result.syntax_errors
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "language": language,
        "files": len(corpus),
        "MB": round(size / 1e6, 2),
        "seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "MB/s": round(size / 1e6 / cpu, 2) if cpu else None,
        "units": units,
        "files_with_errors": errors,
        **_parse_only(language, corpus, size),
    }


def _parse_only(language: str, corpus: list[tuple[str, str]], size: int) -> dict:
    if language == "markdown":
        return {}
    sources = [(grammar_for(language, path), text.encode("utf-8", "surrogatepass")) for path, text in corpus]
    cpu = time.process_time()
    for grammar, src in sources:
        parser(grammar).parse(src)
    return {"parse_only_MB/s": round(size / 1e6 / (time.process_time() - cpu), 2)}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--max-mb", type=float, default=40, help="stop reading a language's files after this much")
    cli.add_argument("--root", action="append", default=[], help="LANGUAGE=PATH, searched before the defaults")
    cli.add_argument("--languages", default="python,javascript,typescript,go,java,rust,markdown")
    args = cli.parse_args()
    roots = default_roots()
    for item in args.root:
        language, _, path = item.partition("=")
        roots[language].insert(0, path)
    for language in args.languages.split(","):
        corpus = list(files(language, [r for r in roots[language] if os.path.isdir(r)], int(args.max_mb * 1e6)))
        if corpus:
            print(json.dumps(measure(language, corpus)), flush=True)
        else:
            print(json.dumps({"language": language, "files": 0, "note": "no files found on this machine"}), flush=True)


if __name__ == "__main__":
    main()
