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
    """Lay out, write in the format the suffix names (PNG by default; 150 dpi: sharp in a paper,
    small in a repo) and free the figure. Through :mod:`archbench.files`: atomic, and an OS
    error is one :class:`~archbench.files.FileError` naming the path."""
    from ..files import atomic_open

    path = Path(path)
    try:
        fig.tight_layout()
        with atomic_open(path, "wb") as f:  # a file object has no name: the format comes from the suffix
            fig.savefig(f, dpi=150, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)
    return path


# Where a label may sit around its point (offset in points, horizontal alignment), in order of preference.
_LABEL_SPOTS = ((5, 4, "left"), (5, -13, "left"), (-5, 4, "right"), (-5, -13, "right"), (5, 14, "left"),
                (5, -24, "left"), (-5, 14, "right"), (-5, -24, "right"))
MARGIN = 0.08  # of each axis's data range: room for a label beside a point at the edge (matplotlib: 0.05)


def _label_points(fig: Any, ax: Any, xs: list[float], ys: list[float], names: list[str], fontsize: float = 9,
                  color: str = "black") -> None:
    """Label every point, moving a label around its point until it overlaps no earlier label and
    stays inside the axes (networks of similar size, e.g. GoogLeNet and a network found under its
    budget, sit together; the largest network sits in a corner, where a label on its right would
    run over the frame). Without such a spot, the first spot inside the axes, else the first."""
    fig.tight_layout()
    fig.canvas.draw()  # final axis limits and layout, so that label extents are where they will be drawn
    renderer = fig.canvas.get_renderer()
    area = ax.get_window_extent(renderer)
    placed: list[Any] = []
    for x, y, name in zip(xs, ys, names):
        boxes = []
        for dx, dy, ha in _LABEL_SPOTS:
            label = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=fontsize,
                                color=color)
            label.draw(renderer)  # an annotation knows its extent only once drawn
            box = label.get_window_extent(renderer)
            label.remove()
            boxes.append(((dx, dy, ha), box))
        inside = [b for b in boxes if _inside(b[1], area)]
        free = [b for b in inside if not any(b[1].overlaps(other) for other in placed)]
        (dx, dy, ha), box = (free or inside or boxes)[0]
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=fontsize, color=color)
        placed.append(box)


def _inside(box: Any, area: Any) -> bool:
    return area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1


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
        ax.margins(MARGIN)
    device = frame["device"].iloc[0] if "device" in frame else ""
    fig.suptitle(f"archbench compare ({device})")
    for ax, (column, scale, _) in zip(axes[0], panels):  # once every panel is laid out
        _label_points(fig, ax, list(frame[column] / scale), list(frame["flops"] / 1e9), list(frame["network"]))
    return _save(plt, fig, path)


def plot_calibration(samples: Any, correlations: Any, path: str | Path) -> Path:
    """One panel per cheap objective (its value against measured accuracy, with rho and tau), and a
    last panel with every Spearman and its bootstrap 95% interval beside the baselines'."""
    import math

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = correlations.to_dict(orient="records")
    columns = 3
    grid_rows = (len(rows) + 1 + columns - 1) // columns
    fig, axes = plt.subplots(grid_rows, columns, figsize=(3.8 * columns, 3.4 * grid_rows), squeeze=False)
    flat = [ax for line in axes for ax in line]
    for ax, row in zip(flat, rows):
        name = row["objective"]
        ax.scatter(samples[name], samples["accuracy"], s=22, color="tab:blue", zorder=3)
        ax.set_xlabel(name)
        if name in ("params", "flops") and samples[name].max() / max(samples[name].min(), 1e-9) > 30:
            ax.set_xscale("log")
        else:
            ax.xaxis.set_major_locator(MaxNLocator(4))  # long tick labels (jacob_cov) must not collide
        ax.set_title(f"ρ {row['spearman']:+.2f}   τ {row['kendall']:+.2f}", fontsize=10)
        ax.set_ylabel("validation top-1")
        ax.grid(True, alpha=0.3, zorder=0)
    forest = flat[len(rows)]
    for i, row in enumerate(rows):
        color = "tab:gray" if row["objective"] in ("params", "flops") else "tab:blue"
        if math.isfinite(row["spearman"]):
            low, high = row.get("spearman_low", math.nan), row.get("spearman_high", math.nan)
            if math.isfinite(low) and math.isfinite(high):
                forest.plot([low, high], [i, i], color=color, lw=2)
            forest.plot([row["spearman"]], [i], "o", color=color)
    forest.axvline(0, color="black", lw=0.8)
    forest.set_yticks(range(len(rows)), [row["objective"] for row in rows])
    forest.invert_yaxis()
    forest.set_xlim(-1.05, 1.05)
    forest.set_xlabel("Spearman with accuracy (95% bootstrap)")
    forest.grid(True, axis="x", alpha=0.3)
    for ax in flat[len(rows) + 1:]:
        ax.axis("off")
    return _save(plt, fig, path)


def plot_importance(table: Any, path: str | Path, title: str = "") -> Path:
    """Horizontal bars: each space parameter's importance, one group of bars per objective."""
    plt = _pyplot()
    objectives = [c for c in table.columns if c not in ("parameter", "trials", "top_quantile")]
    n = len(table)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * n * max(1, len(objectives)) ** 0.5))
    height = 0.8 / max(1, len(objectives))
    for j, name in enumerate(objectives):
        values = table[name].fillna(0.0)
        ax.barh([i + j * height for i in range(n)], values, height=height, label=name)
    ax.set_yticks([i + height * (len(objectives) - 1) / 2 for i in range(n)], list(table["parameter"]))
    ax.invert_yaxis()
    ax.set_xlabel("importance (PED-ANOVA, sums to 1 per objective)")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if objectives:
        ax.legend()
    return _save(plt, fig, path)


# Axis of a study plot per column: (divide by, label). Costs in the units people read.
STUDY_AXES = {"flops": (1e9, "GFLOPs (multiply-adds, BN folded)"), "params": (1e6, "parameters (M)"),
              "latency": (1.0, "latency, batch 1 (ms)"), "memory": (1e6, "peak inference memory (MB)"),
              "naswot": (1.0, "NASWOT score (higher is better)"), "synflow": (1.0, "log SynFlow (higher is better)"),
              "train": (1.0, "validation top-1 after short training")}
_ANALYTIC = ("flops", "params")  # costs the zoo networks have without building them


def _zoo_costs() -> list[tuple[str, dict[str, float]]]:
    from ..cost import analyze
    from ..spec import load_spec
    from ..zoo import names

    out = []
    for name in names():
        report = analyze(load_spec(name))
        out.append((name, {"flops": float(report.flops), "params": float(report.params())}))
    return out


def plot_study(trials: Any, x: str, y: str, best: set[int], path: str | Path, title: str,
               budgets: Any = (), base: int | None = None, zoo: bool = True,
               front_label: str = "Pareto front") -> Path | None:
    """Feasible trials, the best ones (Pareto front or top trials), the base network the search
    started from, each budget on an axis it limits as a dashed line, and the zoo networks as
    reference points where both axes are costs they have (as marks along the x axis where only
    x is). Returns None, writing nothing, when no trial is feasible: an empty plot says nothing.
    """
    done = trials[trials["feasible"] == True] if len(trials) else trials  # noqa: E712
    done = done[done[x].notna() & done[y].notna()] if len(done) else done
    if not len(done):
        return None
    plt = _pyplot()
    (sx, lx), (sy, ly) = STUDY_AXES.get(x, (1.0, x)), STUDY_AXES.get(y, (1.0, y))
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(done[x] / sx, done[y] / sy, s=18, color="tab:gray", alpha=0.6, label="feasible trials", zorder=2)
    front = done[done["number"].isin(best)].sort_values(x)
    ax.plot(front[x] / sx, front[y] / sy, "o", ms=7, color="tab:red", zorder=4, label=front_label)
    for _, row in front.iterrows():
        ax.annotate(f"#{int(row['number'])}", (row[x] / sx, row[y] / sy), textcoords="offset points",
                    xytext=(4, 3), fontsize=8, color="tab:red")
    if base is not None and (done["number"] == base).any():
        row = done[done["number"] == base].iloc[0]
        ax.plot([row[x] / sx], [row[y] / sy], "*", ms=15, color="tab:blue", mec="black", zorder=5,
                label=f"base network (trial #{base})")
    for budget in budgets:
        if budget.kind == x:
            ax.axvline(budget.limit / sx, color="black", ls="--", lw=1, label=f"budget {budget.text}")
        elif budget.kind == y:
            ax.axhline(budget.limit / sy, color="black", ls="--", lw=1, label=f"budget {budget.text}")
    ax.margins(MARGIN)
    zoo_points = _zoo_references(ax, x, y, sx, sy) if zoo and x in _ANALYTIC else []
    ax.set_xlabel(lx)
    ax.set_ylabel(ly)
    ax.set_title(title)
    ax.grid(True, alpha=0.3, zorder=0)
    if zoo_points:  # once the axes are laid out: the labels are placed where they will be drawn
        _label_points(fig, ax, [p[1] for p in zoo_points], [p[2] for p in zoo_points], [p[0] for p in zoo_points],
                      fontsize=8, color="tab:green")
    ax.legend(fontsize=8, loc="best")
    return _save(plt, fig, path)


def _zoo_references(ax: Any, x: str, y: str, sx: float, sy: float) -> list[tuple[str, float, float]]:
    """Zoo networks inside the current x range: points when y is a cost too (returned as (name,
    x, y), for the caller to label once the axes are laid out), else marks on the x axis.

    The points are drawn above every other marker: the base network of a search is often a zoo
    network itself (GoogLeNet for inception_v1), and its star would hide the diamond."""
    lo, hi = ax.get_xlim()
    ylo, yhi = ax.get_ylim()
    shown = [(n, c) for n, c in _zoo_costs() if lo <= c[x] / sx <= hi
             and (y not in _ANALYTIC or ylo <= c[y] / sy <= yhi)]
    if not shown:
        return []
    points = [(name, c[x] / sx, c[y] / sy) for name, c in shown] if y in _ANALYTIC else []
    if points:
        ax.scatter([p[1] for p in points], [p[2] for p in points], marker="D", s=28, color="tab:green",
                   edgecolors="white", linewidths=0.6, zorder=6, label="zoo networks")
    else:
        transform = ax.get_xaxis_transform()  # x in data, y in axes fraction: marks along the bottom
        ax.scatter([c[x] / sx for _, c in shown], [0.02] * len(shown), marker="^", s=36, color="tab:green",
                   transform=transform, zorder=3, label="zoo networks (x only)")
        for i, (name, c) in enumerate(shown):
            ax.annotate(name, (c[x] / sx, 0.02), xycoords=transform, textcoords="offset points",
                        xytext=(0, 6 + 9 * (i % 2)), ha="center", fontsize=7, color="tab:green")
    ax.set_xlim(lo, hi)
    ax.set_ylim(ylo, yhi)
    return points
