"""Pick the training precision by what the hardware runs natively, and measure matmul peaks for MFU.

bf16 autocast helps only where bf16 matmuls are native (CUDA GPUs from Ampere on, CPUs with AMX or
AVX512-BF16). On other CPUs PyTorch emulates bf16 and it is slower than fp32 (measured here on an AVX2-only
AMD EPYC: see BENCHMARKS.md), so "auto" falls back to fp32 there.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch


def native_bf16(device: torch.device) -> bool:
    """bf16 speeds up CUDA GPUs that support it and CPUs with AVX512-BF16/AMX; elsewhere it is emulated (slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(requested: str, device: torch.device) -> str:
    """"bf16" or "fp32": what `requested` ("auto", "bf16" or "fp32") means on `device`."""
    if requested not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {requested!r}")
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return requested


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def matmul_peak(precision: str, device: torch.device, size: int | None = None, seconds: float = 1.0) -> float:
    """Measured FLOP/s of a large square matmul in `precision`: the ceiling MFU is reported against. A GPU needs
    8192-wide products to reach its peak (2048 is launch-bound there); a CPU reaches its own at 2048."""
    size = size or (8192 if device.type == "cuda" else 2048)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm up (kernel selection, page faults)
    runs, start = 0, time.perf_counter()
    while True:
        a @ b
        runs += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2 * size**3 * runs / elapsed
