"""Outputs of a study, regenerated from its storage at any time (also while it runs).

``results/<study>/``: ``trials.csv`` and ``trials.md`` (parameters, cost, objectives, state),
``pareto.csv``/``pareto.md`` and ``pareto.png`` (the best feasible trials: the Pareto front of a
multi-objective study, the top trials of a single-objective one), ``best/*.yaml``: each of
those architectures as a spec file that ``archbench profile`` and ``compare`` accept, and
``importance.csv``/``importance.md``/``importance.png``: how much each space parameter matters
for each objective (:func:`param_importances`).

The spec files are the networks the trials evaluated, read from the study (each trial stores
its canonical spec), never re-derived from the search-space file: that file may have changed
since, or be somewhere else. Studies written before the specs were stored fall back to the
space, and the files say so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..files import FileError, check_output, check_output_dir, ensure_dir, remove, write_text
from ..spec import dump_yaml, loads
from .space import load_space

REPORT_FILES = ("trials.csv", "trials.md", "pareto.csv", "pareto.md", "pareto.png", "importance.csv",
                "importance.md", "importance.png")  # and best/*.yaml


def check_report_folder(folder: str | Path, option: str = "--out") -> Path:
    """Before a search or report starts: the study's folder and every table, plot and ``best/``
    in it can be written (a trials.csv that is a folder, or a read-only folder, would otherwise
    end the run after its work is done)."""
    folder = check_output_dir(folder, option)
    if folder.is_dir():
        for name in REPORT_FILES:
            check_output(folder / name, None, option)
        if (folder / "best").exists() and not (folder / "best").is_dir():
            raise FileError(f"{option} {folder / 'best'}: exists and is not a folder (the best specs go there)")
    return folder


# The cost column that holds an objective's value: an infeasible trial's objectives are not run,
# but these were measured, so its row shows them (its ``feasible`` and ``over_budget`` say why).
COST_OF_OBJECTIVE = {"flops": "flops", "params": "params", "latency": "latency_ms"}


def objective_names(study: Any) -> list[str]:
    """The study's objective names, as its columns are headed (``objective0``... for a study that
    did not record them)."""
    return study.user_attrs.get("objectives") or [f"objective{i}" for i in range(len(study.directions))]


def budget_kinds(study: Any) -> set[str]:
    """The kinds of the study's budgets (flops, params, latency, memory)."""
    from ..units import parse_budget

    return {parse_budget(text).kind for text in study.user_attrs.get("budgets", [])}


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial: its parameters, every cost a budget limits (``latency_ms`` and
    ``memory`` in bytes under such budgets), budget usage, feasibility, objectives, state."""
    names = objective_names(study)
    kinds = budget_kinds(study)
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name == "WAITING":  # enqueued, not yet run (a retry after Ctrl-C or a killed worker)
            continue
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        row.update({f"param_{k}": v for k, v in t.params.items()})
        row.update(_costs(t.user_attrs, kinds))
        row["feasible"] = None if t.user_attrs.get("budget_usage") is None else not t.user_attrs.get("infeasible", False)
        row["over_budget"] = t.user_attrs.get("over_budget")
        _objective_columns(row, t, names)
        row["cached_from"] = t.user_attrs.get("cached_from")
        row["failure"] = t.user_attrs.get("failure") or ("interrupted" if t.user_attrs.get("interrupted") else
                                                         "worker killed" if t.user_attrs.get("killed") else None)
        # The train objective's accuracy after each epoch: how far a pruned trial got, and why it stopped.
        epochs = sorted((k for k in t.user_attrs if k.startswith("val_top1_epoch")), key=lambda k: int(k[14:]))
        row.update({k: t.user_attrs[k] for k in epochs})
        rows.append(row)
    return rows


def _costs(attrs: dict[str, Any], kinds: set[str]) -> dict[str, Any]:
    """A trial's cost columns: FLOPs and params always, latency and memory under such a budget
    (the same columns for every trial, measured or not)."""
    costs: dict[str, Any] = {"width_multiplier": attrs.get("width_multiplier")}
    for key in ("flops", "params"):
        costs[key] = None if attrs.get(key) is None else int(attrs[key])
    if "memory" in kinds:
        costs["memory"] = attrs.get("memory")
    if "latency" in kinds:
        costs["latency_ms"] = attrs.get("latency_ms", attrs.get("latency_measured"))  # the older name
    costs["budget_usage"] = attrs.get("budget_usage")
    if "flops_trained" in attrs:  # the train objective's network, adapted to the data
        costs["flops_trained"] = int(attrs["flops_trained"])
        costs["params_trained"] = int(attrs["params_trained"])
    return costs


def _objective_columns(row: dict[str, Any], trial: Any, names: list[str]) -> None:
    """The objective values: a feasible trial's as evaluated; an infeasible one's (never evaluated)
    where a cost column measured them. An objective named as a cost column (``params``,
    ``flops``) is that column."""
    for i, name in enumerate(names):
        if name in row:
            continue
        if row["feasible"] and trial.values is not None:
            row[name] = trial.values[i]
        else:
            row[name] = row.get(COST_OF_OBJECTIVE.get(name, ""))


def best_trials(study: Any, top: int = 5) -> list[Any]:
    from optuna.trial import TrialState

    feasible = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get("infeasible") and "cached_from" not in t.user_attrs]
    sign = 1 if study.directions[0].name == "MAXIMIZE" else -1
    if len(study.directions) > 1:  # the Pareto front, by the first objective
        front = [t for t in study.best_trials if t in feasible or t.number in {f.number for f in feasible}]
        return sorted(front, key=lambda t: (-sign * t.values[0], t.number))
    return sorted(feasible, key=lambda t: (-sign * t.value, t.number))[:top]


def best_caption(study: Any, count: int) -> str:
    """The title of ``pareto.md``: which trials, ranked by what, in which order."""
    names = objective_names(study)
    ways = [f"{n} {'maximised' if d.name == 'MAXIMIZE' else 'minimised'}" for n, d in zip(names, study.directions)]
    if not count:
        return f"study {study.study_name}: no feasible trial ({', '.join(ways)})"
    if len(names) > 1:
        return (f"study {study.study_name}: Pareto front of the feasible trials ({', '.join(ways)}), "
                f"by {names[0]}, best first")
    return f"study {study.study_name}: the {count} best feasible trials by {ways[0]}, best first"


def write_report(study: Any, folder: str | Path, top: int = 5) -> dict[str, Path]:
    """Write every output of ``study`` into ``folder``; returns the paths written."""
    import pandas as pd

    from ..report import export_table

    folder = ensure_dir(folder)
    written: dict[str, Path] = {}
    trials = pd.DataFrame(trial_rows(study))
    written["trials_csv"] = export_table(trials, folder / "trials.csv")
    written["trials_md"] = export_table(trials, folder / "trials.md", caption=f"study {study.study_name}: trials")
    best = best_trials(study, top)
    numbers = {t.number for t in best}
    rank = {t.number: i for i, t in enumerate(best)}
    pareto = (trials[trials["number"].isin(numbers)].sort_values("number", key=lambda n: n.map(rank))
              if len(trials) else trials)
    written["pareto_csv"] = export_table(pareto, folder / "pareto.csv")
    written["pareto_md"] = export_table(pareto, folder / "pareto.md", caption=best_caption(study, len(best)))
    plot = _plot(study, trials, numbers, folder / "pareto.png")
    if plot is not None:
        written["pareto_png"] = plot
    for stale in (folder / "best").glob("[0-9][0-9]_trial*.yaml"):  # an earlier report's best, maybe not now
        remove(stale)
    written.update(write_importance(study, folder))
    if best:
        ensure_dir(folder / "best")
        for rank, t in enumerate(best, 1):
            spec = evaluated_spec(study, t)
            if spec is None:
                continue
            path = write_text(folder / "best" / f"{rank:02d}_trial{t.number}.yaml", dump_yaml(spec))
            written[f"best_{rank}"] = path
    return written


def evaluated_spec(study: Any, trial: Any) -> Any:
    """The spec ``trial`` evaluated, named and described for export (None when unknown).

    A candidate is derived from the space's base network, so the base's expected numbers
    (``meta``: its params, layer counts) and its ``reference`` (the paper or library it
    reproduces) do not hold for it: they are dropped, and the description names the base."""
    spec, note = _stored_or_rebuilt(study, trial)
    if spec is None:
        return None
    base = f", derived from {spec.reference}" if spec.reference else ""
    description = (f"archbench search: study {study.study_name}, trial {trial.number}, values {trial.values}, "
                   f"{trial.user_attrs.get('flops')} FLOPs, {trial.user_attrs.get('params')} params{base}{note}")
    return dataclasses.replace(spec, name=f"{study.study_name}_trial{trial.number}", description=description,
                               meta=(), reference="")


def _stored_or_rebuilt(study: Any, trial: Any) -> tuple[Any, str]:
    """``(spec, note for its description)``: the spec the trial stored, or for a study from
    before specs were stored, rebuilt from the space file (the note says so); ``(None, "")``
    when neither is possible."""
    stored = trial.user_attrs.get("spec")
    if stored:
        return loads(stored, source=f"study {study.study_name}, trial {trial.number}"), ""
    space_name = study.user_attrs.get("space")
    if not space_name or "width_multiplier" not in trial.user_attrs:
        return None, ""
    spec = load_space(space_name).spec(trial.params)
    return (dataclasses.replace(spec, width_multiplier=trial.user_attrs["width_multiplier"]),
            f" (rebuilt from the space file {space_name}; the study did not store its specs)")


def _plot(study: Any, trials: Any, best: set[int], path: Path) -> Path | None:
    """The study plot (see :func:`archbench.report.plots.plot_study`); None when no trial is feasible."""
    from ..report.plots import STUDY_AXES, plot_study
    from ..units import parse_budget

    names = study.user_attrs.get("objectives") or ["objective"]
    if len(names) > 1:  # a cost on the x axis, when one of the objectives is one
        x, y = (names[1], names[0]) if names[0] in STUDY_AXES and names[1] in ("flops", "params", "latency") \
            else (names[0], names[1])
    else:
        x, y = "flops", names[0]
    base = next((t.number for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
                 if t.system_attrs.get("fixed_params") is not None), None)  # the enqueued base network
    remove(path)  # never leave a stale plot beside fresh tables
    return plot_study(trials, x, y, best, path, f"study {study.study_name}",
                      budgets=[parse_budget(b) for b in study.user_attrs.get("budgets", [])], base=base,
                      front_label="Pareto front" if len(names) > 1 else "best trials")


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

    names = objective_names(study)
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
