"""Run directories, manifests and atomic writes.

`runs/<name>/<stage>/` holds one stage's artifacts. Its `manifest.json` is written last and
atomically, so a stage is complete exactly when its manifest exists: a crash at any point leaves
no artifact that looks finished. A stage is skipped when its manifest's fingerprint (the recipe
sections it reads + the hashes of its inputs) matches the current one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from codesift.config import Recipe

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "manifest.json"
PARTIAL = ".partial.json"
TRACKED_PACKAGES = (
    "codesift", "torch", "transformers", "tokenizers", "sentence-transformers", "onnxruntime",
    "numpy", "pyarrow", "bm25s", "faiss-cpu", "tree-sitter", "pydantic",
)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write to a temp file beside `path`, fsync, then rename over it: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_path(path: str | Path) -> Path:
    """Relative paths in recipes mean the working directory first, then the codesift checkout."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


def json_sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count(), "hostname": platform.node()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gib"] = round(kib / 2**20, 1)
    torch = sys.modules.get("torch")  # only when a stage already loaded it: this module stays light
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return info


class StageNotBuilt(RuntimeError):
    """Raised for a stage whose implementation has not landed yet (never fake its output)."""


@dataclass
class StageContext:
    """What a stage function gets: the recipe, its own output folder and its inputs' folders."""

    recipe: Recipe
    out_dir: Path
    inputs: dict[str, Path]
    resuming: bool = False


StageFn = Callable[[StageContext], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    """A pipeline step: the recipe sections it reads and the stages whose artifacts it consumes."""

    name: str
    sections: tuple[str, ...]
    inputs: tuple[str, ...]
    fn: StageFn | None = None
    issue: int | None = None
    help: str = ""
    distributed: bool = False  # its function runs on every rank under torchrun (training stages)
    reads: Callable[[Recipe], Any] | None = None  # parsed contents of files the recipe names (they shape the output)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if self.fn is None:
            where = f" (tracked in issue #{self.issue})" if self.issue else ""
            raise StageNotBuilt(f"stage '{self.name}' is not built yet{where}; nothing was written")
        return self.fn(ctx)


@dataclass
class StageOutcome:
    stage: str
    skipped: bool
    manifest: dict[str, Any] = field(default_factory=dict)


class RunDir:
    """`<run_dir>/<recipe name>/`: one folder per stage, each with its manifest."""

    def __init__(self, recipe: Recipe, root: str | Path | None = None):
        self.recipe = recipe
        self.root = Path(root if root is not None else recipe.run_dir) / recipe.name

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def manifest(self, stage: str) -> dict[str, Any] | None:
        path = self.stage_dir(stage) / MANIFEST
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def fingerprint(self, stage: Stage) -> tuple[str, dict[str, Any]]:
        """Hash of what determines a stage's output: its recipe sections, the seed, its inputs' hashes and the
        parsed contents of the files its sections name (an edited corpus spec reruns the data stage, a comment
        does not)."""
        inputs = {}
        for dep in stage.inputs:
            upstream = self.manifest(dep)
            if upstream is None:
                raise FileNotFoundError(
                    f"stage '{stage.name}' needs the artifacts of stage '{dep}', which has not completed in {self.root}"
                    f"; run `codesift {dep}` (or `codesift run`) first"
                )
            inputs[dep] = upstream["outputs_hash"]
        sections = {name: self.recipe.section(name) for name in stage.sections}  # an unused section is None
        config = {name: s.model_dump(mode="json") if s is not None else None for name, s in sections.items()}
        basis: dict[str, Any] = {"config": config, "inputs": inputs}
        if stage.reads:
            basis["reads"] = stage.reads(self.recipe)
        return json_sha256({**basis, "seed": self.recipe.seed}), basis

    def run_stage(
        self, stage: Stage, force: bool = False, log: Callable[[str], None] = print, world: Any = None,
    ) -> StageOutcome:
        """Run `stage` unless up to date. Under torchrun, pass the `World` (codesift.train.distributed): rank 0
        alone decides, prepares the folder and writes the manifest; a `distributed` stage's function runs on
        every rank, any other stage on rank 0 while the others wait."""
        if world is not None and world.distributed:
            return self._run_distributed(stage, force, log, world)
        fingerprint, basis = self.fingerprint(stage)
        decision = self._prepare(stage, fingerprint, force, log)
        if isinstance(decision, StageOutcome):
            return decision
        return self._execute(stage, fingerprint, basis, *decision)

    def _run_distributed(self, stage: Stage, force: bool, log: Callable[[str], None], world: Any) -> StageOutcome:
        if not stage.distributed:
            outcome = self.run_stage(stage, force, log) if world.is_main else None
            world.barrier()
            return outcome or StageOutcome(stage.name, skipped=True, manifest=self.manifest(stage.name) or {})
        fingerprint, basis = self.fingerprint(stage)
        decision = self._prepare(stage, fingerprint, force, log) if world.is_main else None
        decision = world.broadcast(decision)
        if isinstance(decision, StageOutcome):
            return decision
        if world.is_main:
            return self._execute(stage, fingerprint, basis, *decision)
        stage.run(StageContext(self.recipe, self.stage_dir(stage.name), self._input_dirs(stage), decision[0]))
        return StageOutcome(stage.name, skipped=False)

    def _prepare(
        self, stage: Stage, fingerprint: str, force: bool, log: Callable[[str], None]
    ) -> StageOutcome | tuple[bool, str]:
        """Skip (an outcome), or make the stage folder ready: (resuming, start time)."""
        out = self.stage_dir(stage.name)
        current = self.manifest(stage.name)
        if current and current.get("fingerprint") == fingerprint and not force:
            log(f"{stage.name}: up to date (fingerprint {fingerprint[:12]}), skipped; --force reruns it")
            return StageOutcome(stage.name, skipped=True, manifest=current)

        resuming = False
        partial = out / PARTIAL
        if out.exists():
            previous = _read_json(partial)
            if not force and current is None and previous and previous.get("fingerprint") == fingerprint:
                resuming = True
                log(f"{stage.name}: resuming an interrupted run in {out}")
            else:
                # Remove the manifest first: a crash while deleting must not leave a complete-looking stage.
                (out / MANIFEST).unlink(missing_ok=True)
                shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        started = _now()
        write_json(partial, {"fingerprint": fingerprint, "started_at": started})
        return resuming, started

    def _input_dirs(self, stage: Stage) -> dict[str, Path]:
        return {d: self.stage_dir(d) for d in stage.inputs}

    def _execute(
        self, stage: Stage, fingerprint: str, basis: dict[str, Any], resuming: bool, started: str
    ) -> StageOutcome:
        out = self.stage_dir(stage.name)
        ctx = StageContext(self.recipe, out, self._input_dirs(stage), resuming)
        summary = stage.run(ctx)

        outputs = {
            str(p.relative_to(out)): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST, PARTIAL)
        }
        finished = _now()
        manifest = {
            "stage": stage.name,
            "recipe": self.recipe.name,
            "fingerprint": fingerprint,
            **basis,
            "outputs": outputs,
            "outputs_hash": json_sha256(outputs),
            "summary": summary,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "machine": machine_info(),
            "started_at": started,
            "finished_at": finished,
            "duration_s": round(_seconds_between(started, finished), 3),
        }
        write_json(out / MANIFEST, manifest)
        (out / PARTIAL).unlink(missing_ok=True)
        return StageOutcome(stage.name, skipped=False, manifest=manifest)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _seconds_between(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
