"""Which device to run on, and autocast on it: shared by the profiler and the training loop.

It lives here, below both, because ``archbench.profile`` imports fvcore, which training does not
need, and ``archbench.train`` imports the data readers, which profiling does not need; one copy
keeps ``--device`` meaning the same thing, with the same messages, in every command.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ..errors import ArchbenchError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for CUDA without one is a user error.

    Checked up front (the CLI calls it before loading any data) so that a typo or a machine
    without a GPU costs one clear message, not a traceback from deep inside torch.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ArchbenchError(f"device: expected auto, cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ArchbenchError(f"device {name}: CUDA is not available on this machine (torch {torch.__version__}); "
                                 "use device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ArchbenchError(f"device {name}: this machine has {count} CUDA device{'s' * (count != 1)} "
                                 f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return device


def half_dtype(device: torch.device) -> str:
    """The half precision autocast should use on ``device``: bf16 where supported (no grad scaler
    needed, same range as fp32), else fp16 (older GPUs)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16"
    return "bf16"


def autocast(device: torch.device, dtype: str = "fp32") -> Any:
    """A context running ops in ``dtype`` on ``device``: ``fp32`` is a no-op, ``fp16``/``bf16``
    autocast, ``auto`` the device's :func:`half_dtype`."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    if dtype == "auto":
        dtype = half_dtype(device)
    if dtype not in DTYPES:
        raise ArchbenchError(f"dtype: expected {', '.join(DTYPES)} or auto, got {dtype!r}")
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


__all__ = ["DTYPES", "resolve_device", "half_dtype", "autocast"]
