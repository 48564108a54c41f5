"""The data and pairs stages end to end on small local repositories."""

import json
import shutil

import pyarrow.parquet as pq

from codesift.config import load_recipe
from codesift.runs import RunDir
from codesift.stages import STAGES

from conftest import BENCHMARKS, REPO

FIXTURES = REPO / "tests" / "fixtures" / "extract"
MIT = """MIT License

Copyright (c) 2026 codesift

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def make_repos(root):
    alpha = root / "alpha"
    shutil.copytree(FIXTURES, alpha)
    (alpha / "LICENSE").write_text(MIT)
    cosqa = next(iter(json.loads((BENCHMARKS / "cosqa" / "code_idx_map.txt").read_text())))
    (alpha / "leaked.py").write_text(cosqa + "\n")
    beta = root / "beta"
    shutil.copytree(alpha, beta)  # every file an exact duplicate of alpha's
    (beta / "vendor").mkdir()
    (beta / "vendor" / "dep.py").write_text("def vendored(x):\n    '''Vendored.'''\n    return x * 2\n" * 3)
    return [alpha, beta]


def recipe(tmp_path, executor="local"):
    sources = [{"kind": "local", "path": str(p), "name": p.name} for p in make_repos(tmp_path / "src")]
    overrides = [f"data.sources={json.dumps(sources)}", f"data.executor={executor}",
                 f"data.decontaminate_against={BENCHMARKS}", "pairs.test_fraction=0.3", "pairs.val_fraction=0.0",
                 "tokenizer.vocab_size=1024"]
    return load_recipe(REPO / "recipes" / "tiny.yaml", overrides)


def test_data_and_pairs_stages(tmp_path):
    run = RunDir(recipe(tmp_path), tmp_path / "runs")
    data = run.run_stage(STAGES["data"], log=lambda _: None).manifest
    out = run.stage_dir("data")
    counts = json.loads((out / "stats.json").read_text())["counts"]
    assert counts["drop:exact-dup-file"] >= 8 and counts["drop:vendored"] == 1
    assert counts["drop:benchmark-contaminated"] == 1
    units = pq.read_table(out / "units.parquet").to_pylist()
    assert {u["language"] for u in units} == {"python", "go", "java", "rust", "typescript", "javascript"}
    assert all(u["repo"] == "alpha" and u["license"] == "MIT" for u in units)
    assert data["summary"]["units"] == len(units) and data["summary"]["sections"] > 0
    for name in ("report.md", "drops.png", "units.png", "files.parquet", "sections.parquet"):
        assert (out / name).exists()

    pairs = run.run_stage(STAGES["pairs"], log=lambda _: None).manifest
    rows = pq.read_table(run.stage_dir("pairs") / "pairs.parquet").to_pylist()
    assert pairs["summary"]["pairs"] == len(rows) > 0
    assert {r["pair_type"] for r in rows} >= {"doc-body", "signature-body"}
    assert {r["split"] for r in rows} <= {"train", "test"}
    assert (run.stage_dir("pairs") / "report.md").exists()
    assert run.run_stage(STAGES["data"], log=lambda _: None).skipped

    tok = run.run_stage(STAGES["tokenizer"], log=lambda _: None).manifest
    assert {"tokenizer.json", "tokenizer_config.json", "validation.json", "report.md"} <= set(tok["outputs"])


def test_pairs_stage_builds_doc_pairs_without_benchmark_code(tmp_path):
    cosqa = next(iter(json.loads((BENCHMARKS / "cosqa" / "code_idx_map.txt").read_text())))
    repo = tmp_path / "fileio"
    repo.mkdir()
    (repo / "LICENSE").write_text(MIT)
    (repo / "fileio.py").write_text('def read_all(path):\n    """Read a whole file."""\n    with open(path) as f:\n'
                                    '        return f.read()\n')
    (repo / "README.md").write_text(
        "# fileio\n\nTo read a whole file into memory, call read_all with its path:\n\n```python\n"
        "data = read_all('notes.txt')\nprint(len(data))\n```\n\nA function that the benchmark holds, shown here "
        f"as an example of use:\n\n```python\n{cosqa}\n```\n")
    sources = [{"kind": "local", "path": str(repo), "name": "fileio"}]
    run = RunDir(load_recipe(REPO / "recipes" / "tiny.yaml", [
        f"data.sources={json.dumps(sources)}", f"data.decontaminate_against={BENCHMARKS}",
        "pairs.types=[doc-body, doc-example, api-doc]", "pairs.test_fraction=0.0", "pairs.val_fraction=0.0"]),
        tmp_path / "runs")
    run.run_stage(STAGES["data"], log=lambda _: None)
    run.run_stage(STAGES["pairs"], log=lambda _: None)
    rows = pq.read_table(run.stage_dir("pairs") / "pairs.parquet").to_pylist()
    examples = [(r["query"], r["code"], r["language"]) for r in rows if r["pair_type"] == "doc-example"]
    assert examples == [("To read a whole file into memory, call read_all with its path",
                         "data = read_all('notes.txt')\nprint(len(data))", "python")]
    counts = json.loads((run.stage_dir("pairs") / "stats.json").read_text())["counts"]
    assert counts["drop:doc-example-contaminated"] == 1


def test_ray_executor_gives_identical_units(tmp_path, local_ray):
    local = RunDir(recipe(tmp_path / "a"), tmp_path / "runs-local")
    ray = RunDir(recipe(tmp_path / "b", "ray"), tmp_path / "runs-ray")
    local.run_stage(STAGES["data"], log=lambda _: None)
    ray.run_stage(STAGES["data"], log=lambda _: None)
    rows = [pq.read_table(r.stage_dir("data") / "units.parquet").select(["symbol", "code"]).to_pylist()
            for r in (local, ray)]
    assert rows[0] == rows[1] and rows[0]
