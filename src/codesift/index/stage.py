"""The pipeline's `index` stage: the search index over `index.paths`, embedded with the run's exported model.

The index folder is the stage folder (`runs/<name>/index/`), so `codesift search --index runs/<name>/index` and
`codesift serve --index ...` use it directly. An interrupted stage resumes from its last committed generation:
files already indexed are not embedded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codesift.runs import StageContext, write_json

EXAMPLES = "examples.json"
EXAMPLE_HITS = 3


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.recipe.index
    if not cfg.paths:
        raise ValueError("index.paths is empty: list the code folders the index stage embeds, e.g. "
                         "--set 'index.paths=[src]'")
    from codesift.index.code_index import CodeIndex
    from codesift.index.commands import progress_bar
    from codesift.runtime.onnx import load_encoder

    encoder = load_encoder(ctx.inputs["export"])
    index = CodeIndex.open_or_create(ctx.out_dir, encoder, cfg)
    report = index.update([Path(p) for p in cfg.paths], encoder, progress=progress_bar("embed"))
    stats = index.stats()
    from codesift.ranking import search

    hits = search(index, cfg.example_queries, EXAMPLE_HITS, encoder=encoder) if cfg.example_queries else []
    write_json(ctx.out_dir / EXAMPLES, [{"query": q, "results": [h.to_json() for h in found]}
                                        for q, found in zip(cfg.example_queries, hits)])
    return {"files": stats["files"], "chunks": stats["chunks"], "generation": index.generation,
            "embedded": report.chunks_embedded, "skipped": sum(report.skipped.values()),
            "embed_s": report.embed_seconds, "encoder": encoder.revision, "quantization": encoder.quantization}
