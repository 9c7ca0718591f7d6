"""Side-by-side rows for several networks: the seed papers' comparison tables, measured."""

from __future__ import annotations

from typing import Any

from ..targets import Target
from .depth import depth_with_params
from .profiler import profile

COLUMNS = ["network", "input", "params", "flops", "activations", "depth", "inference_peak_bytes",
           "training_peak_bytes", "latency_ms", "latency_iqr_ms", "throughput", "batch", "device"]


def compare_row(target: Target, batch: int = 1, device: str = "auto", dtype: str = "fp32",
                latency: bool = True, memory: bool = True, threads: int | None = None) -> dict[str, Any]:
    result = profile(target, device=device, batches=(batch,), dtype=dtype, latency=latency, memory=memory,
                     threads=threads)
    lat = result.latency[0] if result.latency else {}
    mem = result.memory or {}
    return {
        "network": target.label,
        "input": "x".join(map(str, target.input)),
        "params": result.params["total"],
        "flops": result.flops["total"],
        "activations": result.activations["total"],
        "depth": depth_with_params(target.build()),
        "inference_peak_bytes": mem.get("inference_peak_bytes"),
        "training_peak_bytes": mem.get("training_peak_bytes"),
        "latency_ms": lat.get("median_ms"),
        "latency_iqr_ms": lat.get("iqr_ms"),
        "throughput": lat.get("throughput"),
        "batch": batch,
        "device": result.env["device"],
    }


def compare(targets: list[Target], sort: str | None = None, descending: bool = False, **options: Any) -> Any:
    """A DataFrame with one row per target (see :data:`COLUMNS`), optionally sorted."""
    import pandas as pd

    frame = pd.DataFrame([compare_row(t, **options) for t in targets], columns=COLUMNS)
    if sort:
        frame = frame.sort_values(sort, ascending=not descending, kind="stable").reset_index(drop=True)
    return frame
