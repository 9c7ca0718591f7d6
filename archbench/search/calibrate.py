"""Calibration: how well does each cheap objective rank architectures on *your* data?

Training-free proxies are cheap and unreliable: on public NAS benchmarks, plain parameter or FLOP
counts rank architectures about as well as most proxies. ``calibrate`` samples K architectures of a
search space (uniformly at random, with the search's budget repair when budgets are given),
computes every proxy and the analytic params/FLOPs of each, trains each for a short while on the
user's data, and reports the Spearman and Kendall rank correlations (with their p-values: with 20
samples a correlation of 0.3 is well within noise) between each cheap objective and the measured
validation accuracy. A user then knows which objective to trust for ``archbench search``.

With 12-24 samples a correlation is itself uncertain, so each Spearman comes with a bootstrap 95%
interval (architectures resampled with replacement), and each signal's margin over the params and
FLOPs baselines with a *paired* bootstrap interval (the same resample for both correlations, so
what the two share cancels). A signal "beats" a baseline when that interval lies above zero, and
"tracks accuracy" when its own interval does. The ``ensemble`` column is each sample's majority
vote score against all the other samples (:func:`archbench.search.objectives.vote_score`).

Every candidate is adapted to the data (classes, input size) before it is measured, so proxies,
params and FLOPs describe the network that was trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchbenchError
from .defaults import FREE, beats_baselines, choose_default, tracks
from .objectives import ENSEMBLE, OBJECTIVES, PROXIES, vote_score
from .space import load_space
from .train_objective import TrainObjective, TrainSettings

BASELINES = FREE
CHEAP = (*PROXIES, "ensemble", *BASELINES)  # the objectives whose ranking is checked against accuracy
PROXY_BATCH = 16  # the real batch every data-using proxy sees
BOOTSTRAP = 2000  # resamples of the bootstrap intervals


@dataclass(frozen=True)
class CalibrationConfig:
    space: str = "inception_v1"
    samples: int = 20
    budgets: tuple[str, ...] = ()
    train: TrainSettings = field(default_factory=lambda: TrainSettings(data="synthetic", epochs=2))
    seed: int = 0
    price_at: str = "space"  # as ``search --price-at``: "data" repairs the samples as trained on the data

    def __post_init__(self) -> None:
        if self.price_at not in ("space", "data"):
            raise ArchbenchError(f"--price-at: expected space or data, got {self.price_at!r}")


@dataclass
class Calibration:
    """One row per sampled architecture, and one row of correlations per cheap objective."""

    samples: Any  # pandas DataFrame
    correlations: Any  # pandas DataFrame: objective, spearman (with interval), kendall, margins, verdict, n
    seconds: dict[str, float] = field(default_factory=dict)  # mean time of each proxy per network


def sample_specs(space: Any, config: CalibrationConfig) -> list[tuple[dict[str, Any], Any]]:
    """K (parameter values, spec) pairs drawn uniformly from ``space``, repaired into the budgets."""
    import optuna

    from ..units import parse_budget
    from .budget import repair

    budgets = [parse_budget(b) for b in config.budgets]
    if config.price_at == "data" and any(b.kind == "latency" for b in budgets):
        raise ArchbenchError("--price-at data prices FLOPs, params and memory budgets on the network as trained; "
                             "a latency budget is timed on the space's network at its own input")
    adapt = TrainObjective(config.train).adapt if config.price_at == "data" else None
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.seed))
    out = []
    for i in range(config.samples):
        trial = study.ask()
        values = space.sample(trial)
        spec = space.spec(values, name=f"{space.name}_sample{i}")
        if budgets:
            spec = repair(spec, budgets, space.min_width, adapt=adapt).spec
        study.tell(trial, 0.0)
        out.append((values, spec))
    return out


def measure_cheap(spec: Any, data: Any, seed: int = 0) -> dict[str, float]:
    """Every proxy of ``spec`` (already adapted to ``data``), each on fresh weights drawn from
    ``seed``, with params and FLOPs; ``seconds_<proxy>`` is the time each proxy took."""
    import time

    import torch

    from ..cost import analyze
    from ..nn import build

    report = analyze(spec)
    values = {"params": float(report.params()), "flops": float(report.flops)}
    batch = [data.train[i] for i in range(min(PROXY_BATCH, len(data.train)))]
    images = torch.stack([image for image, _ in batch])
    labels = torch.as_tensor([int(label) for _, label in batch])
    real = {"naswot": {"inputs": images}, "jacob_cov": {"inputs": images},  # proxies on a real batch of the data
            "snip": {"inputs": images, "labels": labels}, "grad_norm": {"inputs": images, "labels": labels}}
    for name in PROXIES:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build(spec)
        start = time.perf_counter()
        values[name] = _safe(lambda: OBJECTIVES[name].fn(model, spec.input, **real.get(name, {})))
        values[f"seconds_{name}"] = time.perf_counter() - start
    return values


def add_ensemble(frame: Any) -> Any:
    """The ``ensemble`` column: each sample's vote score against every other sample."""
    rows = frame[list(ENSEMBLE)].to_dict(orient="records")
    frame = frame.copy()
    frame["ensemble"] = [vote_score(row, rows[:i] + rows[i + 1:]) for i, row in enumerate(rows)]
    return frame


def _safe(fn: Callable[[], float]) -> float:
    try:
        return float(fn())
    except ArchbenchError:
        return math.nan


def _spearman_rows(values: Any) -> Any:
    """Spearman of each row pair: ``values`` (resamples, 2, n) -> (resamples,); NaN where a row is constant."""
    import numpy as np
    from scipy import stats

    ranks = stats.rankdata(values, axis=2)
    ranks = ranks - ranks.mean(axis=2, keepdims=True)
    num = (ranks[:, 0] * ranks[:, 1]).sum(axis=1)
    den = np.sqrt((ranks[:, 0] ** 2).sum(axis=1) * (ranks[:, 1] ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _interval(samples: Any) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of the defined resamples (NaN when fewer than half are)."""
    import numpy as np

    ok = samples[np.isfinite(samples)]
    if len(ok) < len(samples) / 2:
        return math.nan, math.nan
    low, high = np.percentile(ok, [2.5, 97.5])
    return float(low), float(high)


def correlations(frame: Any, target: str = "accuracy", resamples: int = BOOTSTRAP, seed: int = 0) -> Any:
    """Spearman and Kendall (tau-b) correlation of each cheap objective with ``target``, the
    Spearman's bootstrap 95% interval, its paired-bootstrap margin over each baseline, and a verdict."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    clean = frame.replace([math.inf, -math.inf], math.nan)
    names = [n for n in CHEAP if n in clean]
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(clean), size=(resamples, len(clean)))  # one set of resamples for every signal
    accuracy = clean[target].to_numpy(dtype=float)
    boot = {}
    for name in names:
        values = clean[name].to_numpy(dtype=float)
        ok = np.isfinite(values[index]).all(axis=1) & np.isfinite(accuracy[index]).all(axis=1)
        rho = _spearman_rows(np.stack([values[index], accuracy[index]], axis=1))
        boot[name] = np.where(ok, rho, np.nan)
    rows = []
    for name in names:
        pair = clean[[name, target]].dropna()
        n = len(pair)
        row: dict[str, Any] = {"objective": name, "spearman": math.nan, "spearman_p": math.nan,
                               "spearman_low": math.nan, "spearman_high": math.nan,
                               "kendall": math.nan, "kendall_p": math.nan, "n": n}
        if n >= 3 and pair[name].nunique() > 1 and pair[target].nunique() > 1:
            rho, rho_p = stats.spearmanr(pair[name], pair[target])
            tau, tau_p = stats.kendalltau(pair[name], pair[target])
            row.update(spearman=float(rho), spearman_p=float(rho_p), kendall=float(tau), kendall_p=float(tau_p))
            row["spearman_low"], row["spearman_high"] = _interval(boot[name])
        rows.append(row)
    point = {row["objective"]: row["spearman"] for row in rows}
    for row in rows:
        name = row["objective"]
        for base in BASELINES:
            defined = base != name and math.isfinite(point[name]) and math.isfinite(point.get(base, math.nan))
            diff = boot[name] - boot[base] if defined else np.full(resamples, np.nan)
            row[f"margin_{base}"] = point[name] - point[base] if defined else math.nan
            row[f"margin_{base}_low"], row[f"margin_{base}_high"] = _interval(diff)
        row["verdict"] = verdict(row, name)
    return pd.DataFrame(rows)


def verdict(row: dict[str, Any], name: str) -> str:
    """A plain reading of one row: does the signal track accuracy, and does it beat the baselines."""
    if not math.isfinite(row["spearman"]):
        return "no ranking (constant or too few values)"
    tracks = math.isfinite(row["spearman_low"]) and row["spearman_low"] > 0
    inverse = math.isfinite(row["spearman_high"]) and row["spearman_high"] < 0
    text = "tracks accuracy" if tracks else "ranks against accuracy" if inverse else "no evidence it tracks accuracy"
    if name in BASELINES:
        return text + " (baseline)"
    beaten = [b for b in BASELINES if math.isfinite(row[f"margin_{b}_low"]) and row[f"margin_{b}_low"] > 0]
    compared = [b for b in BASELINES if math.isfinite(row[f"margin_{b}_low"])]
    if compared and beaten == compared:
        return text + "; beats " + " and ".join(beaten)
    if beaten:
        return text + "; beats " + beaten[0] + " only"
    return text + "; does not beat " + "/".join(BASELINES)


def summary(table: Any) -> str:
    """One plain sentence: which signals beat the params and FLOPs baselines."""
    rows = table.to_dict(orient="records")
    winners = [r["objective"] for r in rows if beats_baselines(r)]
    tracking = [r["objective"] for r in rows if tracks(r)]
    if winners:
        head = f"Beat the params and FLOPs baselines (paired bootstrap, 95%): {', '.join(winners)}."
    else:
        head = "No cheap signal beat the params and FLOPs baselines (paired bootstrap, 95%)."
    tail = (f" Spearman interval above zero: {', '.join(tracking)}." if tracking
            else " No signal's Spearman interval lies above zero.")
    return head + tail


def calibrate(config: CalibrationConfig, on_sample: Callable[[int, dict[str, Any]], None] | None = None,
              shard: tuple[int, int] = (0, 1), skip: frozenset[int] = frozenset()) -> Calibration:
    """Sample, measure every cheap objective and a short-training accuracy, correlate.

    ``shard=(i, n)`` measures only the samples whose index is ``i`` modulo ``n`` (the same
    samples, seeded, in every shard): n processes share a calibration, and
    :func:`from_rows` joins their rows; ``skip`` leaves out samples already measured (a resumed run). ``on_sample(i, row)`` gets each row as it is measured,
    with the proxies' ``seconds_<name>``."""
    if config.samples < 3:
        raise ArchbenchError("--samples must be at least 3 (a rank correlation needs three points)")
    from ..spec.canonical import architecture_hash

    space = load_space(config.space)
    objective = TrainObjective(config.train)
    objective.check(space.spec(space.defaults))  # bad data, options or image size: before any sampling
    rows = []
    for i, (values, spec) in enumerate(sample_specs(space, config)):
        if i % shard[1] != shard[0] or i in skip:
            continue
        model, adapted = objective.model(spec)
        row: dict[str, Any] = {"sample": i, **{f"param_{k}": v for k, v in values.items()},
                               "width_multiplier": spec.width_multiplier, "arch_hash": architecture_hash(spec)}
        row.update(measure_cheap(adapted, objective.data, config.seed))
        row["accuracy"] = objective.accuracy(spec, model=model)
        rows.append(row)
        if on_sample is not None:
            on_sample(i, row)
    return from_rows(rows, config.seed)


def from_rows(rows: list[dict[str, Any]], seed: int = 0) -> Calibration:
    """The calibration of measured rows (one per sample, as :func:`calibrate` measures them):
    the ensemble vote within them, the correlations, the mean time of each proxy."""
    import pandas as pd

    frame = pd.DataFrame(rows).sort_values("sample").reset_index(drop=True)
    timing = [c for c in frame.columns if c.startswith("seconds_")]
    seconds = {c[len("seconds_"):]: float(frame[c].mean()) for c in timing}
    samples = add_ensemble(frame.drop(columns=timing))  # timings vary run to run: kept out of the samples
    return Calibration(samples=samples, correlations=correlations(samples, seed=seed), seconds=seconds)


def document(result: Calibration, config: CalibrationConfig, command: str, wall_s: float | None = None) -> dict[str, Any]:
    """The calibration as one JSON document: what was measured, how, where and when, and the
    default objective it supports. Shipped as ``archbench/search/calibration.json``."""
    import dataclasses
    import datetime

    from ..profile.env import environment

    samples = result.samples
    seconds = {name: float(value) for name, value in result.seconds.items()}
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in result.correlations.to_dict(orient="records")]
    default, why = choose_default(result.correlations.to_dict(orient="records"), seconds)
    accuracy = samples["accuracy"]
    return {
        "command": command,
        "measured": datetime.date.today().isoformat(),
        "machine": environment(), "wall_s": wall_s,
        "space": config.space, "samples": len(samples), "budgets": list(config.budgets), "price_at": config.price_at,
        "seed": config.seed,
        "recipe": dataclasses.asdict(config.train),
        "accuracy": {"min": float(accuracy.min()), "median": float(accuracy.median()), "max": float(accuracy.max())},
        "seconds": seconds,
        "objectives": rows,
        "summary": summary(result.correlations),
        "default": default, "default_because": why,
    }
