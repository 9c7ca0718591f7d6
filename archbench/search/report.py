"""Outputs of a study, regenerated from its storage at any time (also while it runs).

``results/<study>/``: ``trials.csv`` and ``trials.md`` (parameters, cost, objectives, state),
``pareto.csv``/``pareto.md`` and ``pareto.png`` (the best feasible trials: the Pareto front of a
multi-objective study, the top trials of a single-objective one), ``best/*.yaml``: each of
those architectures as a spec file that ``archbench profile`` and ``compare`` accept, and
``importance.csv``/``importance.md``/``importance.png``: how much each space parameter matters
for each objective (:func:`param_importances`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..spec import dump_yaml
from .space import load_space


def trial_rows(study: Any) -> list[dict[str, Any]]:
    names = study.user_attrs.get("objectives") or [f"objective{i}" for i in range(len(study.directions))]
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        row.update({f"param_{k}": v for k, v in t.params.items()})
        for key in ("width_multiplier", "flops", "params", "budget_usage"):
            row[key] = t.user_attrs.get(key)
        for key in ("flops", "params"):
            row[key] = None if row[key] is None else int(row[key])
        row["feasible"] = None if t.user_attrs.get("budget_usage") is None else not t.user_attrs.get("infeasible", False)
        for i, name in enumerate(names):
            row[name] = t.values[i] if t.values is not None and row["feasible"] else None
        row["cached_from"] = t.user_attrs.get("cached_from")
        # The train objective's accuracy after each epoch: how far a pruned trial got, and why it stopped.
        epochs = sorted((k for k in t.user_attrs if k.startswith("val_top1_epoch")), key=lambda k: int(k[14:]))
        row.update({k: t.user_attrs[k] for k in epochs})
        rows.append(row)
    return rows


def best_trials(study: Any, top: int = 5) -> list[Any]:
    from optuna.trial import TrialState

    feasible = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get("infeasible") and "cached_from" not in t.user_attrs]
    if len(study.directions) > 1:
        return [t for t in study.best_trials if t in feasible or t.number in {f.number for f in feasible}]
    sign = 1 if study.direction.name == "MAXIMIZE" else -1
    return sorted(feasible, key=lambda t: -sign * t.value)[:top]


def write_report(study: Any, folder: str | Path, top: int = 5) -> dict[str, Path]:
    """Write every output of ``study`` into ``folder``; returns the paths written."""
    import pandas as pd

    from ..report import export_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    trials = pd.DataFrame(trial_rows(study))
    written["trials_csv"] = export_table(trials, folder / "trials.csv")
    written["trials_md"] = export_table(trials, folder / "trials.md", caption=f"study {study.study_name}: trials")
    best = best_trials(study, top)
    numbers = {t.number for t in best}
    pareto = trials[trials["number"].isin(numbers)] if len(trials) else trials
    written["pareto_csv"] = export_table(pareto, folder / "pareto.csv")
    written["pareto_md"] = export_table(pareto, folder / "pareto.md", caption=f"study {study.study_name}: best feasible trials")
    written["pareto_png"] = _plot(study, trials, numbers, folder / "pareto.png")
    written.update(write_importance(study, folder))
    space_name = study.user_attrs.get("space")
    if space_name and best:
        space = load_space(space_name)
        (folder / "best").mkdir(exist_ok=True)
        for rank, t in enumerate(best, 1):
            spec = space.spec(t.params, name=f"{study.study_name}_trial{t.number}")
            spec = dataclasses.replace(spec, width_multiplier=t.user_attrs["width_multiplier"],
                                       description=f"archbench search: study {study.study_name}, trial {t.number}, "
                                                   f"values {t.values}, {t.user_attrs.get('flops')} FLOPs, "
                                                   f"{t.user_attrs.get('params')} params")
            path = folder / "best" / f"{rank:02d}_trial{t.number}.yaml"
            path.write_text(dump_yaml(spec))
            written[f"best_{rank}"] = path
    return written


def _plot(study: Any, trials: Any, best: set[int], path: Path) -> Path:
    from ..report.plots import _pyplot

    plt = _pyplot()
    names = study.user_attrs.get("objectives") or ["objective"]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    done = trials[trials["feasible"] == True] if len(trials) else trials  # noqa: E712
    if len(names) > 1:
        x, y = names[0], names[1]
    else:
        x, y = "flops", names[0]
    if len(done):
        ax.scatter(done[x], done[y], s=18, color="tab:gray", alpha=0.6, label="feasible trials")
        front = done[done["number"].isin(best)]
        ax.scatter(front[x], front[y], s=40, color="tab:red", label="best" if len(names) == 1 else "Pareto front")
        for _, row in front.iterrows():
            ax.annotate(str(int(row["number"])), (row[x], row[y]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel(x if x != "flops" else "FLOPs (multiply-adds)")
    ax.set_ylabel(y)
    ax.set_title(f"study {study.study_name}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


IMPORTANCE_MIN_TRIALS = 4  # fewer feasible finished trials than this say nothing about importance
TOP_TRIALS = 5  # PED-ANOVA's advice: at least five trials in the top quantile


def importance_quantile(n_trials: int) -> float:
    """The top quantile PED-ANOVA contrasts with the whole study: 10% in a large study, enough for
    ``TOP_TRIALS`` trials in a small one, at most half."""
    return min(0.5, max(0.1, TOP_TRIALS / max(n_trials, 1)))


def param_importances(study: Any) -> Any:
    """One row per space parameter, one column per objective: Optuna's PED-ANOVA importance
    (``PedAnovaImportanceEvaluator``, Optuna 5's default; deterministic, no scikit-learn, and it
    rates conditional parameters too): how much each parameter's distribution among the best
    :func:`importance_quantile` of the trials for that objective differs from its distribution over
    all of them. Normalized to sum to 1 per objective. Computed over the feasible completed trials
    (infeasible ones carry -inf or +inf; cached repeats add no information). NaN where there are
    too few trials, the objective did not vary, or the parameter never varied."""
    import math
    import warnings

    import optuna
    import pandas as pd
    from optuna.trial import TrialState

    names = study.user_attrs.get("objectives") or [f"objective{i}" for i in range(len(study.directions))]
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if not t.user_attrs.get("infeasible") and "cached_from" not in t.user_attrs
              and all(math.isfinite(v) for v in t.values)]
    space_name = study.user_attrs.get("space")
    params = [p.name for p in load_space(space_name).params] if space_name else sorted({k for t in trials for k in t.params})
    varied = [p for p in params if len({repr(t.params[p]) for t in trials if p in t.params}) > 1]
    table = pd.DataFrame({"parameter": params})
    quantile = importance_quantile(len(trials))
    for i, (name, direction) in enumerate(zip(names, study.directions)):
        sign = -1.0 if direction.name == "MAXIMIZE" else 1.0  # PED-ANOVA takes lower target values as better
        scores: dict[str, float] = {}
        if len(trials) >= IMPORTANCE_MIN_TRIALS and len({t.values[i] for t in trials}) > 1 and varied:
            usable = optuna.create_study(directions=[d.name.lower() for d in study.directions])  # in memory
            usable.add_trials(trials)
            with warnings.catch_warnings():  # "lower target is better": handled by the sign above
                warnings.simplefilter("ignore")
                scores = optuna.importance.get_param_importances(
                    usable, evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile),
                    params=varied, target=lambda t, i=i, sign=sign: sign * t.values[i])
        table[name] = [scores.get(p, math.nan) for p in params]
    table["trials"] = len(trials)
    table["top_quantile"] = quantile
    return table


def write_importance(study: Any, folder: str | Path) -> dict[str, Path]:
    """``importance.csv``, ``importance.md`` and ``importance.png`` of :func:`param_importances`."""
    from ..report import export_table
    from ..report.plots import plot_importance

    folder = Path(folder)
    table = param_importances(study)
    caption = (f"study {study.study_name}: parameter importance per objective (Optuna PED-ANOVA: the best "
               f"{table['top_quantile'].iloc[0]:.0%} of {table['trials'].iloc[0]} feasible completed trials against "
               f"all of them; normalized per objective)")
    return {"importance_csv": export_table(table, folder / "importance.csv"),
            "importance_md": export_table(table, folder / "importance.md", caption=caption),
            "importance_png": plot_importance(table, folder / "importance.png", title=f"study {study.study_name}")}
