"""Carry an embedding model folder to the GPU machine at a quarter of its fp32 size, and restore it there.

Training that continues from a model (`train.init_from`) needs that model on the GPU machine, which takes 64 MiB
in all: every weight matrix travels as int8 with one fp32 scale per row (absmax), vectors as fp16, and the folder's
other files as they are. Restored weights differ from the originals by at most half a quantization step per
weight; `pack` prints the cosine between the two models' embeddings of a few code lines, so the loss is measured.
    python bench/gpu/int8_weights.py pack runs/small-gpu/train/model .carry/init
    python bench/gpu/int8_weights.py unpack .carry/init runs/small-gpu/train/model
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"
SCALE = ".int8_scale"


def pack(model: Path, out: Path) -> None:
    shutil.copytree(model, out, ignore=shutil.ignore_patterns(WEIGHTS))
    packed = {}
    for name, t in load_file(str(model / WEIGHTS)).items():
        if t.is_floating_point() and t.ndim == 2:
            scale = t.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
            packed[name] = torch.round(t / scale).to(torch.int8)
            packed[name + SCALE] = scale.float()
        else:
            packed[name] = t.half() if t.is_floating_point() else t
    save_file(packed, str(out / WEIGHTS), metadata={"format": "int8-rows"})


def unpack(packed_dir: Path, model: Path) -> None:
    shutil.copytree(packed_dir, model, ignore=shutil.ignore_patterns(WEIGHTS), dirs_exist_ok=True)
    packed = load_file(str(packed_dir / WEIGHTS))
    weights = {name: (t.float() * packed[name + SCALE]) if name + SCALE in packed else t.float()
               for name, t in packed.items() if not name.endswith(SCALE)}
    save_file(weights, str(model / WEIGHTS), metadata={"format": "pt"})


def embedding_cosine(a: Path, b: Path, texts: list[str]) -> float:
    from codesift.model.embedder import Embedder

    va, vb = (Embedder.load(m).encode(texts) for m in (a, b))
    return float((va * vb).sum(1).min())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["pack", "unpack"])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    args = p.parse_args()
    if args.action == "unpack":
        unpack(args.src, args.dst)
        return
    pack(args.src, args.dst)
    texts = [line for line in Path(__file__).read_text().splitlines() if len(line) > 20][:64]
    with tempfile.TemporaryDirectory() as tmp:
        unpack(args.dst, Path(tmp) / "model")
        cosine = embedding_cosine(args.src, Path(tmp) / "model", texts)
    size = (args.dst / WEIGHTS).stat().st_size / 2**20
    print(f"{args.dst / WEIGHTS}: {size:.1f} MiB; lowest embedding cosine to the original over {len(texts)} lines: "
          f"{cosine:.5f}")


if __name__ == "__main__":
    main()
