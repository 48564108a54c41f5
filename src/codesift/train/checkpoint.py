"""Training checkpoints: model and optimizer tensors in safetensors, the rest in JSON; never pickle.

A checkpoint is a folder `step-<N>/` written under a temporary name and renamed when complete, so a kill
mid-write leaves the previous checkpoint as the latest one. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file, save_model

from codesift.runs import atomic_write, write_json

_STEP_DIR = re.compile(r"^step-(\d+)$")


def save_checkpoint(
    folder: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
    keep: int = 2,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f".step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))  # handles tied weights (embeddings = MLM decoder)
    tensors, groups = _flatten_optimizer(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    write_json(tmp / "state.json", {"step": step, "param_groups": groups, **state})
    _fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(folder)
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found) if (p / "state.json").is_file()]


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model and optimizer in place; returns the saved state (step, param_groups, extras)."""
    from safetensors.torch import load_model

    load_model(model, str(path / "model.safetensors"))
    state = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "optimizer.safetensors"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = tensor
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    return state


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {
        f"{index}.{name}": value.detach().contiguous().cpu()
        for index, values in sd["state"].items()
        for name, value in values.items()
        if torch.is_tensor(value)
    }
    return tensors, sd["param_groups"]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def trim_metrics(path: Path, step: int) -> list[dict[str, Any]]:
    """Keep the JSON-lines records up to `step` and return them: a run killed after its last checkpoint redoes the
    later steps (and may have left a torn last line). Called once when a run starts or resumes, so logging itself
    only appends."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # a line torn by the kill: nothing after it was written whole
        if row["step"] <= step:
            rows.append(row)
    with atomic_write(path) as fh:
        fh.write("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
