"""Which files a search indexes beyond the training languages, and the language name each is searched under.

The corpus's `detect_language` (six languages and Markdown) decides first, so those files keep the extraction's
chunks; every other file is named here by its extension, its file name (Makefile, Dockerfile) or its '#!' line.
Languages with a grammar in `definitions` get definition chunks, the rest line windows. A polyglot repository is
searched as one: every file with a name here is indexed, whatever the repository's main language.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from codesift.data.languages import shebang_interpreter
from codesift.eval.chunks import LANGUAGE_BY_SUFFIX

# The benchmark chunker's table (same names: 'shell', 'cpp', 'csharp'), plus what repositories commonly hold.
BY_SUFFIX = LANGUAGE_BY_SUFFIX | {
    ".rake": "ruby", ".gemspec": "ruby", ".podspec": "ruby", ".kts": "kotlin", ".scala": "scala", ".sc": "scala",
    ".cxx": "cpp", ".hh": "cpp", ".hxx": "cpp", ".ipp": "cpp", ".inl": "cpp", ".cu": "cpp", ".cuh": "cpp",
    ".ex": "elixir", ".exs": "elixir", ".hs": "haskell", ".lua": "lua", ".zig": "zig", ".zon": "zig",
    ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".bats": "shell",
    ".sql": "sql", ".proto": "protobuf", ".thrift": "thrift", ".graphql": "graphql", ".gql": "graphql",
    ".prisma": "prisma",
    ".css": "css", ".scss": "scss", ".sass": "sass", ".less": "less", ".html": "html", ".htm": "html",
    ".vue": "vue", ".svelte": "svelte", ".astro": "astro", ".mdx": "markdown", ".erb": "erb", ".eex": "eex",
    ".heex": "eex", ".jinja": "jinja", ".j2": "jinja", ".hbs": "handlebars",
    ".r": "r", ".jl": "julia", ".dart": "dart", ".pl": "perl", ".pm": "perl", ".ps1": "powershell",
    ".psm1": "powershell", ".bat": "batch", ".cmd": "batch", ".fish": "fish", ".awk": "awk", ".tcl": "tcl",
    ".m": "objective-c", ".mm": "objective-c", ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp",
    ".fsx": "fsharp", ".elm": "elm", ".clj": "clojure", ".cljs": "clojure", ".cljc": "clojure",
    ".edn": "clojure", ".erl": "erlang", ".hrl": "erlang", ".nim": "nim", ".cr": "crystal", ".groovy": "groovy",
    ".sol": "solidity", ".f90": "fortran", ".pyx": "cython", ".pxd": "cython", ".el": "elisp", ".lisp": "lisp",
    ".scm": "scheme", ".rkt": "racket", ".vim": "vim", ".nix": "nix",
    ".gradle": "groovy", ".tf": "terraform", ".tfvars": "terraform", ".hcl": "hcl", ".bzl": "starlark",
    ".bazel": "starlark", ".cmake": "cmake", ".mk": "make", ".dockerfile": "dockerfile", ".cabal": "cabal",
    ".xml": "xml", ".csproj": "xml", ".fsproj": "xml", ".props": "xml", ".targets": "xml", ".ini": "ini",
    ".cfg": "ini", ".conf": "ini", ".properties": "properties",
    ".tex": "latex", ".adoc": "asciidoc", ".org": "org",
}  # fmt: skip
BY_NAME = {
    "makefile": "make", "gnumakefile": "make", "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "cmakelists.txt": "cmake", "rakefile": "ruby", "gemfile": "ruby", "podfile": "ruby", "vagrantfile": "ruby",
    "brewfile": "ruby", "fastfile": "ruby", "appfile": "ruby", "jenkinsfile": "groovy", "build": "starlark",
    "workspace": "starlark", "justfile": "just",
}  # fmt: skip
BY_INTERPRETER = {
    "sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "dash": "shell", "ash": "shell",
    "ruby": "ruby", "perl": "perl", "php": "php", "lua": "lua", "luajit": "lua", "elixir": "elixir",
    "runghc": "haskell", "runhaskell": "haskell", "rscript": "r", "julia": "julia", "pwsh": "powershell",
    "tclsh": "tcl", "fish": "fish", "awk": "awk", "gawk": "awk", "make": "make",
}  # fmt: skip
_VERSION = re.compile(r"[\d.]+$")  # 'ruby3.2', 'lua5.4', 'perl5'


def search_language(rel_path: str, head: str = "") -> str | None:
    """The language name of a file the training pipeline does not know, or None when it is not indexed.
    `head`: the file's first line; an extensionless script is named by its '#!' line before its file name."""
    name = PurePosixPath(rel_path).name.lower()
    suffix = PurePosixPath(name).suffix
    if not suffix and (language := BY_INTERPRETER.get(_interpreter(head))):
        return language
    if name in BY_NAME or name.startswith("dockerfile."):  # 'Dockerfile.dev'
        return BY_NAME.get(name, "dockerfile")
    return BY_SUFFIX.get(suffix) if suffix else None


def _interpreter(head: str) -> str:
    interpreter = shebang_interpreter(head)
    return _VERSION.sub("", interpreter.lower()) if interpreter else ""
