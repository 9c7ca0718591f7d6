"""Side-by-side rows for several networks: the seed papers' comparison tables, measured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..targets import Target
from .profiler import profile

COLUMNS = ["network", "input", "params", "flops", "activations", "depth", "inference_peak_bytes",
           "training_peak_bytes", "latency_ms", "latency_iqr_ms", "throughput", "batch", "device"]


def compare_row(target: Target, batch: int = 1, device: str = "auto", dtype: str = "fp32",
                latency: bool = True, memory: bool = True, threads: int | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    result = profile(target, device=device, batches=(batch,), dtype=dtype, latency=latency, memory=memory,
                     threads=threads, depth=True, progress=progress)
    lat = result.latency[0] if result.latency else {}
    mem = result.memory or {}
    return {
        "network": target.label,
        "input": "x".join(map(str, target.input)),
        "params": result.params["total"],
        "flops": result.flops["total"],
        "activations": result.activations["total"],
        "depth": result.depth,
        "inference_peak_bytes": mem.get("inference_peak_bytes"),
        "training_peak_bytes": mem.get("training_peak_bytes"),
        "latency_ms": lat.get("median_ms"),
        "latency_iqr_ms": lat.get("iqr_ms"),
        "throughput": lat.get("throughput"),
        "batch": batch,
        "device": result.env["device"],
    }


def compare(targets: list[Target], sort: str | None = None, descending: bool = False,
            progress: Callable[..., None] | None = None, **options: Any) -> Any:
    """A DataFrame with one row per target (see :data:`COLUMNS`), optionally sorted.

    ``progress(description, completed=i)`` is told each network and step as it starts."""
    import pandas as pd

    rows = []
    for i, target in enumerate(targets):
        step = (lambda what, i=i, label=target.label: progress(f"{label}: {what}", completed=i)) if progress else None
        rows.append(compare_row(target, progress=step, **options))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if sort:
        frame = frame.sort_values(sort, ascending=not descending, kind="stable").reset_index(drop=True)
    return frame
