"""`archbench search` and `archbench report`: Optuna search under budgets, and its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ArchbenchError
from .common import (AuxOption, LrOption, OptimizerOption, PriceAtOption, StemOption, ValFractionOption,
                     ValStepsOption, check_at_least, check_threads, console, err_console, user_errors)

if TYPE_CHECKING:  # the search modules import torch-side code lazily; --help stays light
    from ..search.objectives import Objective
    from ..search.runner import SearchConfig
    from ..search.space import SearchSpace
    from ..units import Budget

BUDGET_HELP = ("Budget with a unit, repeatable: 1.5GFLOPs or 1.5GMACs (the same: one multiply-add = one FLOP), "
               "6M or 6Mparams, 20ms (latency, batch 1), 512MB (peak inference memory). Default: the space's.")


@user_errors
def search(
    budget: Annotated[list[str] | None, typer.Option("--budget", help=BUDGET_HELP)] = None,
    space: Annotated[str, typer.Option(help="Search space: a shipped name (inception_v1, inception_v3, "
                                            "inception_resnet) or a YAML file.")] = "inception_v1",
    objective: Annotated[list[str] | None, typer.Option("--objective", help="naswot, synflow, snip, grad_norm, "
                                                        "jacob_cov, ensemble, params, flops, latency, train (needs "
                                                        "--data); repeat for a multi-objective search. Default: the "
                                                        "cheapest signal the shipped calibration supports "
                                                        "(docs/search.md).")] = None,
    trials: Annotated[int, typer.Option(help="Trials the study should hold: an existing study (the same command again) runs only the "
                                            "missing ones, after Ctrl-C or a crash as after a complete run.")] = 50,
    study: Annotated[str | None, typer.Option(help="Study name; an existing one is resumed. Default: the space's name.")] = None,
    storage: Annotated[str | None, typer.Option(help="RDB URL (postgresql://...) shared by workers on several "
                                                     "machines. Default: a journal file under results/<study>/.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine, all on one study.")] = 1,
    seed: Annotated[int, typer.Option(help="Sampler seed; with one worker the same seed gives the same trials.")] = 0,
    repair: Annotated[bool, typer.Option("--repair/--no-repair", help="Scale over/under-budget candidates' width "
                                                                        "to use 90-100% of the tightest budget.")] = True,
    price_at: PriceAtOption = "space",
    sampler: Annotated[str, typer.Option(help="tpe or random.")] = "tpe",
    out: Annotated[str, typer.Option("--out", help="Output folder; the study's files go to OUT/<study>/.")] = "results",
    results: Annotated[str | None, typer.Option("--results", hidden=True, help="Old name of --out.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch in each worker process (default: torch's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary (files, best trials) as JSON on stdout.")] = False,
    data: Annotated[str | None, typer.Option(help="Data of the train objective: image folder, .npz/.pt file, "
                                                  "synthetic[:N] or cifar10.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize the data's images (train objective).")] = None,
    train_epochs: Annotated[int, typer.Option(help="Epochs each trial trains (train objective).")] = 4,
    train_steps: Annotated[int | None, typer.Option(help="At most this many steps per epoch (train objective).")] = None,
    val_steps: ValStepsOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Training batch size (train objective).")] = 32,
    train_batch: Annotated[int | None, typer.Option("--train-batch", hidden=True, help="Old name of --batch-size.")] = None,
    train_aux: AuxOption = False,
    val_fraction: ValFractionOption = 0.2,
    optimizer: OptimizerOption = "adamw",
    lr: LrOption = None,
    pruner: Annotated[str, typer.Option(help="Stop hopeless trials across epochs: sh (successive halving), hyperband "
                                             "(one objective only), median or none.")] = "sh",
    stem: StemOption = "auto",
    warmup: Annotated[int, typer.Option(help="Zero-cost warm-up (train objective): score this many random "
                                             "candidates with --warmup-signal and train the best first. 0: off.")] = 0,
    warmup_top: Annotated[int | None, typer.Option(help="Warm-up candidates to train first (default: a quarter).")] = None,
    warmup_signal: Annotated[str | None, typer.Option(help="Cheap objective that ranks the warm-up candidates "
                                                           "(default: the default objective, which the shipped "
                                                           "calibration supports).")] = None,
) -> None:
    """Search the space's width/depth/factorization trade-offs under budgets (Optuna)."""
    from ..search.defaults import default_objective, objective_note
    from ..search.report import write_report
    from ..search.runner import SearchConfig, SearchInterrupted, counted_trials, prepare, run_search
    from ..search.train_objective import TrainSettings
    from ..search.warmup import WarmUp
    from .progress import progress

    results = results or out
    if threads is not None:
        _set_threads(threads)
    if sampler not in ("tpe", "random"):
        raise ArchbenchError(f"--sampler: expected tpe or random, got {sampler!r}")
    config = SearchConfig(space=space, budgets=budget or [], objectives=objective or [default_objective()], trials=trials,
                          study=study, storage=storage, workers=workers, seed=seed, repair=repair,
                          results=results, sampler=sampler, price_at=price_at,
                          train=None if data is None else TrainSettings(
                              data=data, image_size=image_size, epochs=train_epochs, max_steps=train_steps,
                              max_val_steps=val_steps,
                              batch_size=batch_size if train_batch is None else train_batch, pruner=pruner, seed=seed,
                              aux=train_aux, stem=stem, val_fraction=val_fraction, optimizer=optimizer, lr=lr),
                          warmup=None if warmup == 0 else WarmUp(warmup, warmup_top or max(1, warmup // 4),
                                                                 warmup_signal or default_objective()))
    space_, budgets, objectives = prepare(config)  # user errors (space, budgets, objectives, ...) before any output
    _print_notes(config, space_, budgets, objectives)
    state = {"done": 0, "feasible": 0, "best": None}
    with progress("search", total=trials, transient=not as_json) as update:

        def on_trial(study_, trial) -> None:
            state["done"] += 1
            state["pruned"] = state.get("pruned", 0) + (trial.state.name == "PRUNED")
            if trial.state.name == "COMPLETE" and not trial.user_attrs.get("infeasible"):
                state["feasible"] += 1
                if len(study_.directions) == 1:
                    better = max if study_.direction.name == "MAXIMIZE" else min
                    state["best"] = trial.value if state["best"] is None else better(state["best"], trial.value)
            best = "-" if state["best"] is None else f"{state['best']:.4g}"
            update(completed=min(counted_trials(study_), trials),  # the study's, resumed ones too
                   description=f"best {best}  feasible {state['feasible']}/{state['done']}"
                               + (f"  pruned {state['pruned']}" if state.get("pruned") else ""))

        try:
            found = run_search(config, on_trial)
        except SearchInterrupted as exc:
            interrupted = exc.study
        else:
            interrupted = None
    if interrupted is not None:  # the tables of what finished, then one line; a second Ctrl-C just stops
        folder = Path(results) / interrupted.study_name
        write_report(interrupted, folder)
        err_console.print(f"interrupted: {counted_trials(interrupted)} finished trials kept, tables in {folder}/; "
                          "run the same command to finish the search", markup=False)
        raise typer.Exit(130)
    folder = Path(results) / found.study_name
    summarize(found, write_report(found, folder), folder, as_json)
    if not as_json:
        if state["done"] == 0 and counted_trials(found) >= trials:
            console.print(f"the study already held --trials {trials}, so none ran (raise --trials to run more)")
        for line in objective_note(config.objectives):
            console.print(line, markup=False, highlight=False)


def _print_notes(config: SearchConfig, space: SearchSpace, budgets: list[Budget],
                 objectives: list[Objective]) -> None:
    """Warnings before the search (stderr): a journal on a network file system, a budget the
    space cannot come near, a latency budget (checked, never repaired)."""
    from ..search.budget import latency_note, loose_budget_notes
    from ..search.runner import pricing_adapter, storage_note

    notes = [storage_note(config, config.study or space.name),
             *loose_budget_notes(space, budgets, config.repair, pricing_adapter(config, objectives))]
    for note in filter(None, notes):
        err_console.print(f"[yellow]warning:[/] {note}", markup=True)
    note = latency_note(budgets, config.repair)
    if note:
        err_console.print(f"note: {note}", markup=False)


def _set_threads(threads: int) -> None:
    """Torch's threads here, and in the worker processes (spawned: they read the environment)."""
    import os

    import torch

    check_threads(threads)
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def summarize(study, written: dict, folder: Path, as_json: bool = False) -> None:
    """What was written, file by file, what was optimised in which direction, and the best
    trials with their values; why a plot or best specs are missing when they are."""
    finished = [t for t in study.trials if t.state.is_finished()]
    feasible = sum(1 for t in finished if t.state.name == "COMPLETE" and not t.user_attrs.get("infeasible"))
    best = _best_written(study, written)
    if as_json:
        import json

        typer.echo(json.dumps({
            "study": study.study_name, "folder": str(folder), "finished_trials": len(finished),
            "feasible_trials": feasible,
            "objectives": study.user_attrs.get("objectives"), "directions": [d.name.lower() for d in study.directions],
            "files": {k: str(p) for k, p in written.items() if not k.startswith("best_")},
            "best": [{"spec": str(p), "trial": t.number, "values": t.values,
                      **{k: t.user_attrs.get(k) for k in ("flops", "params", "budget_usage")}} for p, t in best],
        }, indent=2))
        return
    console.print(f"study {study.study_name}: {len(finished)} finished trials in {folder}/: "
                  + ", ".join(p.name for k, p in written.items() if not k.startswith("best_")))
    console.print(f"{_objectives_line(study)}; {feasible} of {len(finished)} trials feasible", markup=False,
                  highlight=False)
    if best:
        console.print("Pareto front (feasible trials):" if len(study.directions) > 1 else "best trials, best first:",
                      markup=False)
    for path, trial in best:
        console.print(f"  {path}  {_trial_line(study, trial)}", markup=False, highlight=False)
    if not best:
        console.print(f"[yellow]no feasible trial[/] among {len(finished)}: no pareto.png and no best/*.yaml; "
                      "loosen the budget, or see the trials table for why: the cost columns, budget_usage and "
                      "over_budget of infeasible trials, failure of failed ones"
                      if not feasible else "[yellow]no best specs written[/] (the study has no search space recorded)")


def _best_written(study: Any, written: dict[str, Path]) -> list[tuple[Path, Any]]:
    """The best spec files written, each with its trial (``best/NN_trialK.yaml``), best first."""
    trials = {t.number: t for t in study.trials}
    return [(p, trials[int(p.stem.rsplit("trial", 1)[1])]) for k, p in written.items() if k.startswith("best_")]


def _objectives_line(study: Any) -> str:
    """``objective: params (maximised) under 1.5GFLOPs``: what the search optimised, which way."""
    from ..search.report import objective_names

    names = objective_names(study)
    what = ", ".join(f"{name} ({'maximised' if d.name == 'MAXIMIZE' else 'minimised'})"
                     for name, d in zip(names, study.directions))
    budgets = study.user_attrs.get("budgets") or []
    return f"objective{'s' * (len(names) > 1)}: {what} " + (f"under {', '.join(budgets)}" if budgets else "(no budget)")


def _number(value: float) -> str:
    """A count with thousands separators (params, FLOPs), anything else to 4 significant digits."""
    if float(value).is_integer() and abs(value) < 1e18:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _trial_line(study: Any, trial: Any) -> str:
    """``trial 7: params 7,556,152; budget usage 94%``."""
    from ..search.report import objective_names

    names = objective_names(study)
    values = "; ".join(f"{name} {_number(v)}" for name, v in zip(names, trial.values or []))
    usage = trial.user_attrs.get("budget_usage")
    return f"trial {trial.number}: {values}" + (f"; budget usage {usage:.0%}" if usage else "")


@user_errors
def report(
    study: Annotated[str, typer.Argument(help="Study name (its folder under --out).")],
    storage: Annotated[str | None, typer.Option(help="RDB URL, when the study is not in a local journal file.")] = None,
    out: Annotated[str, typer.Option("--out", help="Folder holding the study's folder.")] = "results",
    results: Annotated[str | None, typer.Option("--results", hidden=True, help="Old name of --out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary (files, best trials) as JSON on stdout.")] = False,
    top: Annotated[int, typer.Option(help="Best trials to export as spec files (single objective).")] = 5,
) -> None:
    """Regenerate a study's tables, plot and best specs from its storage (also while it runs)."""
    import optuna

    from ..search.report import check_report_folder, write_report
    from ..search.runner import SearchConfig, check_study_name, storage_for

    check_at_least("--top", top, 1)
    check_study_name(study)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = results or out
    if storage is None and not (Path(results) / study / "study.journal").exists():
        raise ArchbenchError(f"no study {study!r} under {results}/ (expected {results}/{study}/study.journal)")
    if storage is not None:
        check_sqlite_exists(storage)
    check_report_folder(Path(results) / study, "--out")  # the tables' folder, before the study is read
    config = SearchConfig(storage=storage, results=results)
    try:
        found = optuna.load_study(study_name=study, storage=storage_for(config, study))
    except KeyError:
        raise ArchbenchError(f"no study named {study!r} in that storage") from None
    folder = Path(results) / study
    written = write_report(found, folder, top=top)
    if not as_json and "importance_csv" in written:
        _print_importance(written["importance_csv"])
    summarize(found, written, folder, as_json)


def check_sqlite_exists(storage: str) -> None:
    """``report`` reads a study: an SQLite URL naming no file is a typo, and opening it would
    create an empty database there."""
    if not storage.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(storage).database
    except ArgumentError:
        raise ArchbenchError(f"--storage {storage!r}: not a database URL (sqlite:///path/to/study.db)") from None
    if database and database != ":memory:" and not Path(database).is_file():
        raise ArchbenchError(f"--storage {storage}: no such study database ({Path(database).resolve()}); "
                             "report reads an existing study: check the path")


def _print_importance(path: Path) -> None:
    """The importance table (``importance.csv``) on the terminal: which choice matters for which objective."""
    import pandas as pd

    from .common import make_table

    table = pd.read_csv(path)
    objectives = [c for c in table.columns if c not in ("parameter", "trials", "top_quantile")]
    view = make_table(f"parameter importance (PED-ANOVA, top {table['top_quantile'].iloc[0]:.0%} of "
                      f"{table['trials'].iloc[0]} feasible trials)", ["parameter", *objectives], left=("parameter",))
    for row in table.to_dict(orient="records"):
        view.add_row(row["parameter"], *("-" if pd.isna(row[o]) else f"{row[o]:.3f}" for o in objectives))
    console.print(view)
