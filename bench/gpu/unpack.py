"""Put what bench/gpu/train.sh brought back into the local run folder, so `codesift run RECIPE --from eval` goes on
from the GPU-trained model here.

The run's logs, manifests and reports come as run.tar.gz, the best model's weights as fp16 byte parts (each file
back from the GPU machine is under 16 MiB): they are joined, widened to fp32 and written to `train/model/` with the
tokenizer from the local tokenizer stage. `train/transfer.json` records what was restored and how. Usage:
    python bench/gpu/unpack.py /work/.device/1 runs/small-gpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from safetensors.torch import load, save_file

from codesift.runs import PARTIAL, write_json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("back", type=Path, help="the folder the GPU machine's files came back to")
    p.add_argument("run", type=Path, help="the local run folder (data, pairs and tokenizer stages done)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(args.back / "run.tar.gz") as tar:
        tar.extractall(tmp, filter="data")
        (remote,) = Path(tmp).rglob(args.run.name)
        gpu = gpu_name(args.back / "driver.log")
        for stage in ("pretrain", "train"):
            manifest = remote / stage / "manifest.json"
            if not manifest.exists():
                raise SystemExit(f"the GPU run has no finished {stage} stage")
            record = json.loads(manifest.read_text())
            if gpu and "gpu" not in record["machine"]:  # manifests written before runs.machine_info named GPUs
                record["machine"]["gpu"] = gpu
                write_json(manifest, record)
            (args.run / stage / PARTIAL).unlink(missing_ok=True)
            shutil.copytree(remote / stage, args.run / stage, dirs_exist_ok=True)

    init_from = json.loads((args.run / "train" / "manifest.json").read_text())["config"]["train"].get("init_from")
    parts = sorted(args.back.glob("weights-fp16.part*"), key=lambda f: int(f.suffix.removeprefix(".part")))
    blob = b"".join(f.read_bytes() for f in parts)
    tensors = load(blob)
    header_len = int.from_bytes(blob[:8], "little")
    metadata = json.loads(blob[8 : 8 + header_len]).get("__metadata__", {})
    model = args.run / "train" / "model"
    save_file({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, str(model / "model.safetensors"))
    for name in ("tokenizer.json",):
        shutil.copy2(args.run / "tokenizer" / name, model / name)
    write_json(args.run / "train" / "transfer.json", {
        "restored": ["model/model.safetensors", "model/tokenizer.json"],
        "weights": "the GPU run's fp32 weights sent as fp16 (< 2^-11 relative rounding per weight) and widened back",
        "sha256_fp32_on_gpu": metadata.get("sha256_fp32"),
        "sha256_fp16_sent": hashlib.sha256(blob).hexdigest(),
        "not_restored": "pretrain/encoder weights and round-*/model weights (only the best model travelled back)",
        "gpu_from_driver_log": gpu_name(args.back / "driver.log"),
        **({"init_from": f"{init_from}, sent to the GPU machine as int8 rows with a scale each "
                         "(bench/gpu/int8_weights.py)"} if init_from else {}),
    })
    print(f"{model}: {len(tensors)} tensors from {len(parts)} parts; logs and reports in {args.run}")


def gpu_name(driver_log: Path) -> str | None:
    """'1 x NVIDIA H200' from the nvidia-smi line train.sh prints first."""
    if not driver_log.is_file():
        return None
    names = [line.split(",")[0].strip() for line in driver_log.read_text().splitlines()[:5]
             if line.startswith("NVIDIA") and "," in line]
    return f"{len(names)} x {names[0]}" if names else None


if __name__ == "__main__":
    main()
