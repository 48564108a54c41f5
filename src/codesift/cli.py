"""`codesift ...`: a thin argparse layer; every command calls into the library."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable

from codesift import __version__
from codesift.config import RecipeError, load_recipe
from codesift.log import get_logger, setup_logging
from codesift.runs import RunDir, StageNotBuilt
from codesift.runtime.views import DocumentViews
from codesift.stages import PIPELINE, STAGES, select

log = get_logger("codesift")

EVAL_BENCHMARKS = "cosqa-test,csn-ruby"
EVAL_OUT = "runs/eval"

# Commands that are tools rather than pipeline stages: name -> (help, module, issue that builds it).
# Each module is light to import and provides `configure(parser)` and `run(args) -> exit code`; heavy
# dependencies load inside `run`. A module that has not landed yet leaves its command saying so.
TOOLS: dict[str, tuple[str, str, int]] = {
    "mine": ("mine hard negatives for a checkpoint with an ANN index", "codesift.train.mine_command", 6),
    "index": ("build, update or inspect a code search index", "codesift.index.commands", 8),
    "search": ("semantic search over code folders (like grep, by meaning)", "codesift.index.search_command", 8),
    "mcp": ("code search as tools for coding agents (Model Context Protocol, stdio)", "codesift.index.mcp_server", 24),
    "serve": ("HTTP embedding and search service", "codesift.serve.command", 9),
    "package": ("a run's gated export as a model folder with a model card", "codesift.export.package", 10),
}
# `codesift bench NAME`: speed and quality benchmarks that write BENCHMARKS.md figures, same module contract.
BENCHES: dict[str, tuple[str, str, int]] = {
    "pretrain": ("matmul peak, pretraining tokens/s, MFU and input wait: synchronous vs prefetching loop",
                 "codesift.train.bench_pretrain", 5),
    "train": ("contrastive pairs/s, tokens/s, MFU and input wait: synchronous vs prefetching loop",
              "codesift.train.bench_train", 25),
    "encode": ("query latency and docs/s: torch vs ONNX fp32/int8", "codesift.export.bench_encode", 7),
    "index": ("HNSW efSearch sweep: recall@10, QPS, build time, memory", "codesift.index.bench_index", 8),
    "serve": ("load test of the service: throughput, tail latency, soak", "codesift.serve.bench_serve", 9),
}


def _add_recipe_args(p: argparse.ArgumentParser, optional: bool = False) -> None:
    p.add_argument("recipe", nargs="?" if optional else None, help="recipe YAML, e.g. recipes/tiny.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set train.lr=3e-4 (repeatable)")
    p.add_argument("--run-dir", help="parent folder of run directories (default: the recipe's run_dir)")
    p.add_argument("--force", action="store_true", help="rerun even when the stage's manifest is up to date")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codesift", description="Train code embedding models and search code.")
    parser.add_argument("--version", action="version", version=f"codesift {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the pipeline stages in order", description="Run the recipe's stages in order.")
    _add_recipe_args(p)
    p.add_argument("--from", dest="start", metavar="STAGE", help="first stage to run")
    p.add_argument("--until", metavar="STAGE", help="last stage to run")
    p.set_defaults(handler=cmd_run)

    for stage in PIPELINE:
        if stage.name in TOOLS:  # `codesift index build PATH` is the tool; the stage runs via `run --from index`
            continue
        p = sub.add_parser(stage.name, help=stage.help, description=f"Stage '{stage.name}': {stage.help}.")
        _add_recipe_args(p, optional=stage.name == "eval")
        p.set_defaults(handler=cmd_stage, stage=stage.name)
        if stage.name == "eval":
            _add_eval_args(p)

    for name, spec in TOOLS.items():
        _add_tool(sub, name, *spec)
    bench = sub.add_parser("bench", help="speed and quality benchmarks that write BENCHMARKS.md figures",
                           description="Speed and quality benchmarks; each writes its figures and the machine.")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name, spec in BENCHES.items():
        _add_tool(bench_sub, name, *spec, label=f"bench {name}")
    return parser


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.description += " Give a recipe to run the stage, or --systems to evaluate without one."
    g = p.add_argument_group("standalone (no recipe)")
    g.add_argument("--systems", help="comma-separated: bm25, minilm, hybrid:A+B (reciprocal rank fusion; weights: "
                   "hybrid:A@0.3+B@0.7), hybrid-zscore:A@0.3+B@0.7 (standardized score sum), "
                   "or a sentence-transformers model folder")
    g.add_argument("--benchmarks", help="comma-separated: cosqa-dev, cosqa-test, csn-ruby, repo:FOLDER:QUERIES.json, "
                   f"heldout:PAIRS.parquet, val:PAIRS.parquet (default: {EVAL_BENCHMARKS}); or repo-search alone: "
                   "the real search stack on repositories, systems search[:MODEL], dense[:MODEL], bm25-blocks, "
                   "semble")
    g.add_argument("--document-views", metavar="off|doc=W,name=W",
                   help="how every dense system embeds documents: a definition's doc and name added at these weights "
                   "(codesift.runtime.views; default: an export's own, none for a model folder)")
    g.add_argument("--repos", help="repo-search: comma-separated repository names (default: all)")
    g.add_argument("--out", help=f"report folder (default: {EVAL_OUT})")
    g.add_argument("--benchmarks-dir", help="folder with cosqa/ and csn-ruby/ (default: $CODESIFT_BENCHMARKS, "
                   "else data/benchmarks in the repository)")
    p.set_defaults(handler=cmd_eval)


def _add_tool(sub, name: str, text: str, module: str, issue: int, label: str | None = None) -> None:
    p = sub.add_parser(name, help=text, description=f"{text}.")
    try:
        tool = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise  # the module exists but one of its imports is missing: a real error
        p.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
        p.set_defaults(handler=_not_built(label or name, issue))
        return
    tool.configure(p)
    p.set_defaults(handler=tool.run)


def _not_built(name: str, issue: int) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        log.error("`codesift %s` is not built yet (tracked in issue #%d); nothing was done", name, issue)
        return 2

    return handler


def _run_stages(args: argparse.Namespace, names: list[str]) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    run = RunDir(recipe, args.run_dir)
    world = _torchrun_world()
    t0 = time.perf_counter()
    for name in names:
        log.info("stage %s: starting (run %s)", name, run.root)
        outcome = run.run_stage(STAGES[name], force=args.force, log=log.info, world=world)
        if not outcome.skipped and outcome.manifest:
            m = outcome.manifest
            facts = ", ".join(f"{k}={v}" for k, v in m["summary"].items())
            log.info("stage %s: done in %.1fs, %d files; %s", name, m["duration_s"], len(m["outputs"]), facts)
    log.info("finished %d stage(s) in %.1fs; artifacts in %s", len(names), time.perf_counter() - t0, run.root)
    if world is None or world.is_main:
        _print_outcome(run, show_examples="index" in names)
    return 0


def _print_outcome(run: RunDir, show_examples: bool) -> None:
    """Where to look next: the run's reports, and the index stage's example searches when it ran."""
    reports = [p for p in (run.stage_dir(s.name) / "report.md" for s in PIPELINE) if p.exists()]
    if reports:
        print("reports:\n" + "\n".join(f"  {p}" for p in reports))
    examples = run.stage_dir("index") / "examples.json"
    if show_examples and examples.exists():
        from codesift.index.demo import print_examples, show_default_search

        print_examples(json.loads(examples.read_text(encoding="utf-8")))
        paths = " ".join(run.recipe.index.paths)
        print(f"\nsearch it yourself: codesift search \"QUERY\" {paths} --model {run.stage_dir('export')} "
              f"--index {run.stage_dir('index')}")
        show_default_search(run.recipe.index.example_queries, run.recipe.index.paths)


def _torchrun_world():
    """This process's place under `torchrun` (None when run alone); only rank 0 logs below WARNING."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from codesift.train.distributed import current_world

    world = current_world()
    if not world.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    return world


def cmd_run(args: argparse.Namespace) -> int:
    return _run_stages(args, [s.name for s in select(args.start, args.until)])


def cmd_stage(args: argparse.Namespace) -> int:
    return _run_stages(args, [args.stage])


def cmd_eval(args: argparse.Namespace) -> int:
    """`codesift eval RECIPE` runs the stage; `codesift eval --systems ...` evaluates without a recipe."""
    standalone = [f"--{k.replace('_', '-')}" for k in ("systems", "benchmarks", "out", "benchmarks_dir", "repos",
                                                       "document_views") if getattr(args, k) is not None]
    if args.recipe is not None:
        if standalone:
            log.error("codesift eval: %s cannot be combined with a RECIPE (they are for runs without one)",
                      ", ".join(standalone))
            return 2
        return _run_stages(args, ["eval"])
    if args.systems is None:
        log.error("codesift eval: give a RECIPE to run the stage, or --systems to evaluate without one")
        return 2
    from codesift.eval.benchmarks import benchmarks_dir

    benchmarks = _csv(args.benchmarks or EVAL_BENCHMARKS)
    views = None if args.document_views is None else DocumentViews.parse(args.document_views)
    if "repo-search" in benchmarks:
        if benchmarks != ["repo-search"]:
            log.error("codesift eval: repo-search runs search systems and cannot be mixed with other benchmarks")
            return 2
        if views is not None:
            log.error("codesift eval: --document-views is for the retrieval benchmarks; repo-search embeds with "
                      "each model folder's own (its encoder.json)")
            return 2
        from codesift.eval.repo_eval import evaluate_repo_search, load_set

        bench = load_set(benchmarks_dir(args.benchmarks_dir), _csv(args.repos) if args.repos else None)
        evaluate_repo_search(_csv(args.systems), bench, args.out or EVAL_OUT)
        return 0
    from codesift.eval.stage import evaluate_specs

    evaluate_specs(_csv(args.systems), benchmarks, args.out or EVAL_OUT,
                   benchmarks_dir(args.benchmarks_dir), document_views=views)
    return 0


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# Errors the user can fix, reported as one line with exit status 2: a bad recipe or value, and any OSError (a
# missing file, a folder given for a file or the reverse, no permission).
USER_ERRORS = (RecipeError, StageNotBuilt, ValueError, OSError)


def user_error_message(e: BaseException) -> str:
    """One of USER_ERRORS as one line; an OSError from the system as 'PATH: reason'."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return args.handler(args)
    except USER_ERRORS as e:
        log.error("%s", user_error_message(e))
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; completed stages keep their artifacts, the current one resumes or reruns next time")
        return 130


if __name__ == "__main__":
    sys.exit(main())
