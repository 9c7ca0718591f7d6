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


# Where a label may sit around its point (offset in points, horizontal alignment), in order of preference.
_LABEL_SPOTS = ((5, 4, "left"), (5, -13, "left"), (-5, 4, "right"), (-5, -13, "right"), (5, 14, "left"),
                (5, -24, "left"), (-5, 14, "right"), (-5, -24, "right"))


def _label_points(fig: Any, ax: Any, xs: list[float], ys: list[float], names: list[str]) -> None:
    """Label every point, moving a label around its point until it overlaps no earlier label
    (networks of similar size, e.g. GoogLeNet and a network found under its budget, sit together)."""
    fig.tight_layout()
    fig.canvas.draw()  # final axis limits and layout, so that label extents are where they will be drawn
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for x, y, name in zip(xs, ys, names):
        for dx, dy, ha in _LABEL_SPOTS:
            label = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=9)
            label.draw(renderer)  # an annotation knows its extent only once drawn
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            label.remove()
        else:  # every spot taken: keep the first, overlapping
            label = ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
            label.draw(renderer)
            box = label.get_window_extent(renderer)
        placed.append(box)


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
        ax.set_xlabel(label)
        ax.set_ylabel("GFLOPs (multiply-adds, BN folded)")
        ax.grid(True, alpha=0.3, zorder=0)
        if x.max() / max(x.min(), 1e-9) > 30:
            ax.set_xscale("log")
        if y.max() / max(y.min(), 1e-9) > 30:
            ax.set_yscale("log")
    device = frame["device"].iloc[0] if "device" in frame else ""
    fig.suptitle(f"archbench compare ({device})")
    for ax, (column, scale, _) in zip(axes[0], panels):  # once every panel is laid out
        _label_points(fig, ax, list(frame[column] / scale), list(frame["flops"] / 1e9), list(frame["network"]))
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
