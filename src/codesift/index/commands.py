"""`codesift index build|update|stats PATH...`: build, refresh or inspect the search index of code folders.

Without `--index DIR` the index lives in the same per-folder cache `codesift search` uses, so `codesift index build
.` prepares what `codesift search QUERY .` reads. Heavy imports happen inside the handlers; helpers shared with
`codesift search` (model loading, cache locations, filters) live here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from codesift.log import get_logger

log = get_logger("codesift.index")

# The default search model: the static model, measured best on the repo-search set (span 0.59 / file 0.81 against
# the transformer's 0.51 / 0.74) and on CoSQA test (MRR 36.0 against 24.0), and indexing ~40x faster (BENCHMARKS.md).
DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "static"
LOCK_TIMEOUT_S = 600.0


# --- shared with `codesift search` ------------------------------------------------------------------------------


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR",
                   help=f"ONNX export folder of the encoder (default: $CODESIFT_MODEL, else {DEFAULT_MODEL}); "
                        "'hash:DIM' is a weightless hashing encoder for tests and demos")
    p.add_argument("--index", metavar="DIR", help="index folder (default: a cache folder per set of PATHs under "
                   "--cache-dir)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where cached indexes live (default: $CODESIFT_CACHE, else ~/.cache/codesift)")


def quiet_libraries() -> None:
    """faiss logs which CPU build it loads at INFO on every start; that is noise next to search results."""
    import logging

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def load_model(spec: str | None):
    """The encoder named by --model (or the default model folder), with a clear error when there is none."""
    spec = spec or os.environ.get("CODESIFT_MODEL")
    if spec and spec.startswith("hash:"):
        from codesift.runtime.fake import HashEncoder

        return HashEncoder(int(spec.removeprefix("hash:") or 64))
    folder = Path(spec).expanduser() if spec else DEFAULT_MODEL
    if not folder.is_dir() or not any(folder.glob("*.onnx")):
        where = "the default model folder" if not spec else "--model"
        raise FileNotFoundError(
            f"no ONNX model in {folder} ({where}): pass --model DIR with an export folder (e.g. "
            "runs/<recipe>/export after `codesift run recipes/small.yaml`), or train and export one first"
        )
    from codesift.runtime.onnx import load_encoder

    return load_encoder(folder)


def model_name(spec: str | None) -> str:
    """How reports name the model --model picks: its folder name, or the hash encoder's spec."""
    spec = spec or os.environ.get("CODESIFT_MODEL")
    return spec if spec and spec.startswith("hash:") else (Path(spec).name if spec else DEFAULT_MODEL.name)


def cache_root(cache_dir: str | None) -> Path:
    base = cache_dir or os.environ.get("CODESIFT_CACHE") or Path.home() / ".cache" / "codesift"
    return Path(base).expanduser()


def index_dir(args: argparse.Namespace, roots: list[Path], encoder) -> Path:
    """--index, else the cache folder for this set of roots and this encoder (another model, another index)."""
    if args.index:
        return _folder(Path(args.index).expanduser(), "--index")
    key = json.dumps({"roots": sorted(str(r) for r in roots), "encoder": encoder.revision, "dim": encoder.dim})
    cache = _folder(cache_root(args.cache_dir), "the cache folder (--cache-dir, $CODESIFT_CACHE)")
    return cache / "index" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _folder(path: Path, what: str) -> Path:
    """`path`, unless it is something other than a folder (writing the index there would fail less clearly)."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path}: not a folder")
    return path


def resolve_paths(paths: list[str]) -> list[Path]:
    out = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        out.append(path.resolve())
    return out


def progress_bar(desc: str):
    """An `update(progress=...)` callback drawing a tqdm bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = None

    def callback(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="chunk", disable=None, leave=False, file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return callback


def open_and_update(directory: Path, roots: list[Path], encoder, config=None, *, rebuild: bool = False,
                    refresh: bool = True):
    """Open (or start) the index in `directory` and bring it up to date with `roots`; a damaged index, or one
    from another encoder, is rebuilt with a warning. Returns (index, report or None)."""
    from codesift.index.code_index import CodeIndex

    index = CodeIndex.open_or_create(directory, encoder, None if rebuild else config)
    if not refresh and index.on_disk:
        return index, None
    if rebuild and config is not None:
        index.config = config  # a rebuild takes the new build settings
    report = index.update(roots or None, encoder, rebuild=rebuild, lock_timeout=LOCK_TIMEOUT_S,
                          progress=progress_bar("embed"))
    log.info("index %s: generation %d, %d files seen (%d unchanged, %d added, %d changed, %d removed), "
             "%d chunks embedded, %d reused, %d removed in %.1fs%s", directory, report.generation, report.files_seen,
             report.files_unchanged, report.files_added, report.files_changed, report.files_removed,
             report.chunks_embedded, report.chunks_reused, report.chunks_removed, report.seconds,
             f"; skipped {report.skipped}" if report.skipped else "")
    return index, report


# --- the command ------------------------------------------------------------------------------------------------


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Build, update or inspect the semantic search index of code folders. Files are chunked by "
                     "the corpus extraction (functions, classes, methods; line windows for the rest) and embedded "
                     "with the encoder; updates only re-embed what changed.")
    sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    for name, text in (("build", "build the index from scratch (re-embeds everything)"),
                       ("update", "bring the index up to date with the files (only changes are embedded)"),
                       ("stats", "print the index's counts, settings and size as JSON")):
        q = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument("paths", nargs="*", metavar="PATH",
                       help="code folders or files (default: '.'; with --index, update/stats default to the "
                            "index's own roots)")
        add_model_args(q)
        if name == "build":
            q.add_argument("--m", type=int, help="HNSW graph degree (default 16)")
            q.add_argument("--ef-construction", type=int, help="HNSW build beam (default 200)")
            q.add_argument("--vectors", choices=["float32", "fp16", "int8"],
                           help="the graph's vector codes (default fp16; int8 candidates are rescored in float)")
            q.add_argument("--backend", choices=["hnsw", "qdrant"], help="vector backend (default hnsw)")
            q.add_argument("--qdrant-url", help="Qdrant server or cluster URL (default: local mode in the index)")
            q.add_argument("--window-lines", type=int, help="lines per window chunk (default 40)")
        if name == "stats":
            q.add_argument("--no-verify", action="store_true", help="skip the checksum check of every file")


def run(args: argparse.Namespace) -> int:
    from codesift.config import IndexConfig
    from codesift.index.code_index import CodeIndex

    quiet_libraries()
    if args.index_command == "stats" and args.index and not args.paths:
        print(json.dumps(CodeIndex.open(args.index, verify=not args.no_verify).stats(), indent=2))
        return 0
    roots = resolve_paths(args.paths or ([] if args.index and args.index_command == "update" else ["."]))
    encoder = load_model(args.model)
    directory = index_dir(args, roots, encoder)
    if args.index_command == "stats":
        print(json.dumps(CodeIndex.open(directory, encoder=encoder, verify=not args.no_verify).stats(), indent=2))
        return 0
    config = None
    if args.index_command == "build":
        given = {"m": args.m, "ef_construction": args.ef_construction, "backend": args.backend,
                 "qdrant_url": args.qdrant_url, "window_lines": args.window_lines, "vectors": args.vectors}
        config = IndexConfig(**{k: v for k, v in given.items() if v is not None})
    index, report = open_and_update(directory, roots, encoder, config, rebuild=args.index_command == "build")
    summary = {"index": str(directory), **report.to_json(), "chunks": len(index.chunks), "files": index.indexed_files}
    print(json.dumps(summary))
    return 0
