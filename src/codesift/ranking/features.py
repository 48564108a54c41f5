"""Code-aware features of the candidates, each a number per candidate (0 = no evidence)."""

from __future__ import annotations

import numpy as np

from codesift.ranking.candidates import Candidates
from codesift.ranking.paths import path_kind
from codesift.ranking.query import QueryInfo


def definition_match(found: Candidates, query: QueryInfo) -> np.ndarray:
    """1 where the chunk defines the queried identifier as written (`CallInfo`, or `Base.route` for
    `Base::route`), 0.8 when only the case differs; a definition whose file is named after it (CallInfo in
    callinfo.py, call_info.go) gets 0.2 more, since that is where a reader looks first."""
    out = np.zeros(len(found))
    wanted = [(n, n.replace("::", ".").replace("->", ".").replace("#", ".").replace("\\", ".")) for n in query.names]
    for i, (symbol, kind, path) in enumerate(zip(found.symbols, found.kinds, found.paths)):
        if not symbol or kind in ("window", "section"):
            continue
        last = symbol.rsplit(".", 1)[-1]
        best = 0.0
        for name, dotted in wanted:
            if last == name or symbol == dotted or symbol.endswith("." + dotted):
                best = 1.0
            elif last.lower() == name.lower().rsplit(".", 1)[-1]:
                best = max(best, 0.8)
        if best:
            stem = path.rsplit("/", 1)[-1].split(".", 1)[0].replace("_", "").replace("-", "").lower()
            out[i] = best + (0.2 if stem == last.lower() else 0.0)
    return out


def path_penalty(paths: np.ndarray, demote: dict[str, float]) -> np.ndarray:
    """How much each candidate's file kind (tests, examples, vendored, generated, compat) is weighted down."""
    return np.array([demote.get(path_kind(p), 0.0) for p in paths])
