"""Calibration: how well does each cheap objective rank architectures on *your* data?

Training-free proxies are cheap and unreliable: on public NAS benchmarks, plain parameter or FLOP
counts rank architectures about as well as most proxies. ``calibrate`` samples K architectures of a
search space (uniformly at random, with the search's budget repair when budgets are given),
computes every proxy and the analytic params/FLOPs of each, trains each for a short while on the
user's data, and reports the Spearman and Kendall rank correlations (with their p-values: with 20
samples a correlation of 0.3 is well within noise) between each cheap objective and the measured
validation accuracy. A user then knows which objective to trust for ``archbench search``.

Every candidate is adapted to the data (classes, input size) before it is measured, so proxies,
params and FLOPs describe the network that was trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchbenchError
from .objectives import OBJECTIVES, PROXIES
from .space import load_space
from .train_objective import TrainObjective, TrainSettings

CHEAP = (*PROXIES, "params", "flops")  # the objectives whose ranking is checked against accuracy
NASWOT_BATCH = 16


@dataclass(frozen=True)
class CalibrationConfig:
    space: str = "inception_v1"
    samples: int = 20
    budgets: tuple[str, ...] = ()
    train: TrainSettings = field(default_factory=lambda: TrainSettings(data="synthetic", epochs=2))
    seed: int = 0


@dataclass
class Calibration:
    """One row per sampled architecture, and one row of correlations per cheap objective."""

    samples: Any  # pandas DataFrame
    correlations: Any  # pandas DataFrame: objective, spearman, spearman_p, kendall, kendall_p, n


def sample_specs(space: Any, config: CalibrationConfig) -> list[tuple[dict[str, Any], Any]]:
    """K (parameter values, spec) pairs drawn uniformly from ``space``, repaired into the budgets."""
    import optuna

    from ..units import parse_budget
    from .budget import repair

    budgets = [parse_budget(b) for b in config.budgets]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.seed))
    out = []
    for i in range(config.samples):
        trial = study.ask()
        values = space.sample(trial)
        spec = space.spec(values, name=f"{space.name}_sample{i}")
        if budgets:
            spec = repair(spec, budgets, space.min_width).spec
        study.tell(trial, 0.0)
        out.append((values, spec))
    return out


def measure_cheap(spec: Any, data: Any, seed: int = 0) -> dict[str, float]:
    """Every cheap objective of ``spec`` (already adapted to ``data``), each on fresh weights
    drawn from ``seed`` (synflow rewrites the weights it is given)."""
    import torch

    from ..cost import analyze
    from ..nn import build

    report = analyze(spec)
    values = {"params": float(report.params()), "flops": float(report.flops)}
    images = torch.stack([data.train[i][0] for i in range(min(NASWOT_BATCH, len(data.train)))])
    extra = {"naswot": {"inputs": images}}  # NASWOT on a real batch of the data
    for name in PROXIES:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            values[name] = _safe(lambda: OBJECTIVES[name].fn(build(spec), spec.input, **extra.get(name, {})))
    return values


def _safe(fn: Callable[[], float]) -> float:
    try:
        return float(fn())
    except ArchbenchError:
        return math.nan


def correlations(frame: Any, target: str = "accuracy") -> Any:
    """Spearman and Kendall (tau-b) correlation of each cheap objective with ``target``."""
    import pandas as pd
    from scipy import stats

    rows = []
    for name in CHEAP:
        pair = frame[[name, target]].replace([math.inf, -math.inf], math.nan).dropna()
        n = len(pair)
        if n < 3 or pair[name].nunique() < 2 or pair[target].nunique() < 2:
            rows.append({"objective": name, "spearman": math.nan, "spearman_p": math.nan,
                         "kendall": math.nan, "kendall_p": math.nan, "n": n})
            continue
        rho, rho_p = stats.spearmanr(pair[name], pair[target])
        tau, tau_p = stats.kendalltau(pair[name], pair[target])
        rows.append({"objective": name, "spearman": float(rho), "spearman_p": float(rho_p),
                     "kendall": float(tau), "kendall_p": float(tau_p), "n": n})
    return pd.DataFrame(rows)


def calibrate(config: CalibrationConfig, on_sample: Callable[[int, dict[str, Any]], None] | None = None) -> Calibration:
    """Sample, measure every cheap objective and a short-training accuracy, correlate."""
    import pandas as pd

    from ..spec.canonical import architecture_hash

    if config.samples < 3:
        raise ArchbenchError("--samples must be at least 3 (a rank correlation needs three points)")
    space = load_space(config.space)
    objective = TrainObjective(config.train)
    objective.check(space.spec(space.defaults))  # bad data, options or image size: before any sampling
    rows = []
    for i, (values, spec) in enumerate(sample_specs(space, config)):
        model, adapted = objective.model(spec)
        row: dict[str, Any] = {"sample": i, **{f"param_{k}": v for k, v in values.items()},
                               "width_multiplier": spec.width_multiplier, "arch_hash": architecture_hash(spec)}
        row.update(measure_cheap(adapted, objective.data, config.seed))
        row["accuracy"] = objective.accuracy(spec, model=model)
        rows.append(row)
        if on_sample is not None:
            on_sample(i, row)
    samples = pd.DataFrame(rows)
    return Calibration(samples=samples, correlations=correlations(samples))
