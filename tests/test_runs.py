import json
import subprocess
import sys

import pytest

from codesift.config import load_recipe
from codesift.runs import MANIFEST, RunDir, Stage, StageNotBuilt, atomic_write

from conftest import REPO

CALLS: list[str] = []


def produce(ctx):
    CALLS.append(ctx.out_dir.name)
    (ctx.out_dir / "out.txt").write_text(f"tokenizer {ctx.recipe.tokenizer.vocab_size}")
    return {"rows": 1, "resumed": ctx.resuming}


def consume(ctx):
    CALLS.append(ctx.out_dir.name)
    text = (ctx.inputs["first"] / "out.txt").read_text()
    (ctx.out_dir / "derived.txt").write_text(text.upper())
    return {}


def crash(ctx):
    (ctx.out_dir / "half.bin").write_bytes(b"partial")
    raise RuntimeError("simulated crash")


FIRST = Stage("first", ("tokenizer",), (), produce)
SECOND = Stage("second", ("train",), ("first",), consume)


@pytest.fixture
def run(tmp_path):
    CALLS.clear()
    return RunDir(load_recipe(REPO / "recipes" / "tiny.yaml"), tmp_path)


def test_stage_runs_then_skips(run):
    first = run.run_stage(FIRST, log=lambda _: None)
    assert not first.skipped and CALLS == ["first"]
    m = json.loads((run.stage_dir("first") / MANIFEST).read_text())
    for key in ("fingerprint", "config", "inputs", "outputs", "versions", "git_commit", "machine",
                "started_at", "finished_at", "duration_s", "summary"):
        assert key in m
    assert m["outputs"]["out.txt"]["bytes"] == len("tokenizer 8192")
    assert m["versions"]["pydantic"]
    again = run.run_stage(FIRST, log=lambda _: None)
    assert again.skipped and CALLS == ["first"]


def test_force_reruns(run):
    run.run_stage(FIRST, log=lambda _: None)
    run.run_stage(FIRST, force=True, log=lambda _: None)
    assert CALLS == ["first", "first"]


def test_config_change_reruns_and_cascades(run, tmp_path):
    run.run_stage(FIRST, log=lambda _: None)
    run.run_stage(SECOND, log=lambda _: None)
    assert run.run_stage(SECOND, log=lambda _: None).skipped
    # A change to a section the stage does not read keeps it up to date...
    other = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", ["index.ef_search=99"]), tmp_path)
    assert other.run_stage(FIRST, log=lambda _: None).skipped
    # ...a change to its own section reruns it, and a changed output reruns its consumers.
    changed = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", ["tokenizer.vocab_size=4096"]), tmp_path)
    assert not changed.run_stage(FIRST, log=lambda _: None).skipped
    assert not changed.run_stage(SECOND, log=lambda _: None).skipped
    assert (run.stage_dir("second") / "derived.txt").read_text() == "TOKENIZER 4096"


def test_edited_file_named_by_the_recipe_reruns_the_stage_a_comment_does_not(tmp_path):
    from codesift.stages import STAGES

    spec, exclusions = tmp_path / "corpus.yaml", tmp_path / "exclusions.txt"
    spec.write_text("pip: [a==1]\n")
    exclusions.write_text("flask\n")
    reads_spec = Stage("first", ("data", "tokenizer"), (), produce, reads=STAGES["data"].reads)
    overrides = [f"data.corpus={spec}", f"data.exclusion_list={exclusions}"]
    run = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", overrides), tmp_path / "run")
    CALLS.clear()
    assert not run.run_stage(reads_spec, log=lambda _: None).skipped
    manifest = json.loads((run.stage_dir("first") / MANIFEST).read_text())
    assert manifest["reads"]["corpus"]["pip"] == ["a==1"] and manifest["reads"]["exclusions"] == ["flask"]
    spec.write_text("# the packages\npip: [a==1]  # pinned\n")
    exclusions.write_text("Flask  # a benchmark's source\n")
    assert run.run_stage(reads_spec, log=lambda _: None).skipped
    spec.write_text("pip: [a==1, b==2]\n")
    assert not run.run_stage(reads_spec, log=lambda _: None).skipped and CALLS == ["first", "first"]


def test_missing_input_is_a_clear_error(run):
    with pytest.raises(FileNotFoundError, match="needs the artifacts of stage 'first'"):
        run.run_stage(SECOND, log=lambda _: None)


def test_crashed_stage_leaves_no_manifest_and_reruns(run):
    broken = Stage("first", ("tokenizer",), (), crash)
    with pytest.raises(RuntimeError):
        run.run_stage(broken, log=lambda _: None)
    assert run.manifest("first") is None and not (run.stage_dir("first") / MANIFEST).exists()
    outcome = run.run_stage(FIRST, log=lambda _: None)
    assert outcome.manifest["summary"]["resumed"] is True  # same fingerprint: the stage may resume
    assert not outcome.skipped


def test_crash_with_other_config_wipes_partial(run, tmp_path):
    with pytest.raises(RuntimeError):
        run.run_stage(Stage("first", ("tokenizer",), (), crash), log=lambda _: None)
    other = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", ["tokenizer.vocab_size=4096"]), tmp_path)
    outcome = other.run_stage(FIRST, log=lambda _: None)
    assert outcome.manifest["summary"]["resumed"] is False
    assert not (other.stage_dir("first") / "half.bin").exists()


def test_not_built_stage_writes_nothing(run):
    with pytest.raises(StageNotBuilt, match=r"not built yet \(tracked in issue #5\)"):
        run.run_stage(Stage("pretrain", ("pretrain",), (), None, 5), log=lambda _: None)
    assert run.manifest("pretrain") is None


def test_atomic_write_keeps_old_content_on_exception(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_write(target) as fh:
        fh.write("new but incomplete")
        raise ValueError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_survives_hard_kill(tmp_path):
    """A process killed mid-write (no cleanup runs) leaves the previous file intact."""
    target = tmp_path / "model.bin"
    target.write_bytes(b"v1")
    code = (
        "import os, sys\n"
        "from codesift.runs import atomic_write\n"
        f"with atomic_write({str(target)!r}, 'wb') as fh:\n"
        "    fh.write(b'v2' * 100000); fh.flush()\n"
        "    os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == 9
    assert target.read_bytes() == b"v1"
