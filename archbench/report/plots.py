"""Plots for comparison tables and studies (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path) -> Path:
    """Lay out, write as PNG (150 dpi: sharp in a paper, small in a repo) and free the figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_comparison(frame: Any, path: str | Path) -> Path:
    """FLOPs against params, and against latency when measured; every point labelled."""
    plt = _pyplot()
    has_latency = frame["latency_ms"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_latency else 1, figsize=(12 if has_latency else 6.5, 5), squeeze=False)
    panels = [("params", 1e6, "parameters (M)")]
    if has_latency:
        batch = int(frame["batch"].iloc[0])
        panels.append(("latency_ms", 1.0, f"latency, batch {batch} (ms, median)"))
    for ax, (column, scale, label) in zip(axes[0], panels):
        x = frame[column] / scale
        y = frame["flops"] / 1e9
        ax.scatter(x, y, s=40, color="tab:blue", zorder=3)
        for xi, yi, name in zip(x, y, frame["network"]):
            ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("GFLOPs (multiply-adds, BN folded)")
        ax.grid(True, alpha=0.3, zorder=0)
        if x.max() / max(x.min(), 1e-9) > 30:
            ax.set_xscale("log")
        if y.max() / max(y.min(), 1e-9) > 30:
            ax.set_yscale("log")
    device = frame["device"].iloc[0] if "device" in frame else ""
    fig.suptitle(f"archbench compare ({device})")
    return _save(plt, fig, path)


def plot_calibration(samples: Any, correlations: Any, path: str | Path) -> Path:
    """One panel per cheap objective: its value against measured accuracy, with rho and tau."""
    plt = _pyplot()
    names = list(correlations["objective"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, row in zip(axes[0], correlations.to_dict(orient="records")):
        name = row["objective"]
        ax.scatter(samples[name], samples["accuracy"], s=22, color="tab:blue", zorder=3)
        ax.set_xlabel(name)
        if name in ("params", "flops") and samples[name].max() / max(samples[name].min(), 1e-9) > 30:
            ax.set_xscale("log")
        ax.set_title(f"ρ {row['spearman']:+.2f}   τ {row['kendall']:+.2f}", fontsize=10)
        ax.grid(True, alpha=0.3, zorder=0)
    axes[0][0].set_ylabel("validation top-1")
    return _save(plt, fig, path)
