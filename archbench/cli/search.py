"""`archbench search` and `archbench report`: Optuna search under budgets, and its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ArchbenchError
from .common import STEM_HELP, console, user_errors

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
    trials: Annotated[int, typer.Option(help="Trials to run (in addition to finished ones when resuming).")] = 50,
    study: Annotated[str | None, typer.Option(help="Study name; an existing one is resumed. Default: the space's name.")] = None,
    storage: Annotated[str | None, typer.Option(help="RDB URL (postgresql://...) shared by workers on several "
                                                     "machines. Default: a journal file under results/<study>/.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes on this machine, all on one study.")] = 1,
    seed: Annotated[int, typer.Option(help="Sampler seed; with one worker the same seed gives the same trials.")] = 0,
    repair: Annotated[bool, typer.Option("--repair/--no-repair", help="Scale over/under-budget candidates' width "
                                                                        "to use 90-100% of the tightest budget.")] = True,
    sampler: Annotated[str, typer.Option(help="tpe or random.")] = "tpe",
    results: Annotated[str, typer.Option(help="Output folder.")] = "results",
    data: Annotated[str | None, typer.Option(help="Data of the train objective: image folder, .npz/.pt file, "
                                                  "synthetic[:N] or cifar10.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize the data's images (train objective).")] = None,
    train_epochs: Annotated[int, typer.Option(help="Epochs each trial trains (train objective).")] = 3,
    train_steps: Annotated[int | None, typer.Option(help="At most this many steps per epoch (train objective).")] = None,
    train_batch: Annotated[int, typer.Option(help="Training batch size (train objective).")] = 64,
    train_aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Train the aux heads (train objective; "
                                            "off when they do not fit the data's image size).")] = True,
    pruner: Annotated[str, typer.Option(help="Stop hopeless trials across epochs: sh (successive halving), hyperband "
                                             "(one objective only), median or none.")] = "sh",
    stem: Annotated[str, typer.Option(help=STEM_HELP)] = "auto",
    warmup: Annotated[int, typer.Option(help="Zero-cost warm-up (train objective): score this many random "
                                             "candidates with --warmup-signal and train the best first. 0: off.")] = 0,
    warmup_top: Annotated[int | None, typer.Option(help="Warm-up candidates to train first (default: a quarter).")] = None,
    warmup_signal: Annotated[str, typer.Option(help="Cheap objective that ranks the warm-up candidates.")] = "synflow",
) -> None:
    """Search the space's width/depth/factorization trade-offs under budgets (Optuna)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..search.defaults import default_objective, objective_note
    from ..search.report import write_report
    from ..search.runner import SearchConfig, prepare, run_search
    from ..search.train_objective import TrainSettings
    from ..search.warmup import WarmUp

    if sampler not in ("tpe", "random"):
        raise ArchbenchError(f"--sampler: expected tpe or random, got {sampler!r}")
    config = SearchConfig(space=space, budgets=budget or [], objectives=objective or [default_objective()], trials=trials,
                          study=study, storage=storage, workers=workers, seed=seed, repair=repair,
                          results=results, sampler=sampler,
                          train=None if data is None else TrainSettings(
                              data=data, image_size=image_size, epochs=train_epochs, max_steps=train_steps,
                              batch_size=train_batch, pruner=pruner, seed=seed, aux=train_aux, stem=stem),
                          warmup=None if warmup == 0 else WarmUp(warmup, warmup_top or max(1, warmup // 4), warmup_signal))
    prepare(config)  # user errors (space, budgets, objectives, impossible budget) before any output
    state = {"done": 0, "feasible": 0, "best": None}
    with Progress(TextColumn("[bold]search[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=trials)

        def on_trial(study_, trial) -> None:
            state["done"] += 1
            state["pruned"] = state.get("pruned", 0) + (trial.state.name == "PRUNED")
            if trial.state.name == "COMPLETE" and not trial.user_attrs.get("infeasible"):
                state["feasible"] += 1
                if len(study_.directions) == 1:
                    better = max if study_.direction.name == "MAXIMIZE" else min
                    state["best"] = trial.value if state["best"] is None else better(state["best"], trial.value)
            best = "-" if state["best"] is None else f"{state['best']:.4g}"
            progress.update(task, completed=min(state["done"], trials),
                            description=f"best {best}  feasible {state['feasible']}/{state['done']}"
                                        + (f"  pruned {state['pruned']}" if state.get("pruned") else ""))

        try:
            found = run_search(config, on_trial)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: finished trials are kept; run the same command to resume[/]")
            raise typer.Exit(130) from None
    folder = Path(results) / found.study_name
    written = write_report(found, folder)
    console.print(f"study {found.study_name}: {len(found.trials)} trials in {folder}/ "
                  f"(trials.csv, trials.md, pareto.csv, pareto.md, pareto.png, importance.*, best/*.yaml)")
    for key, path in written.items():
        if key.startswith("best_"):
            console.print(f"  {path}")
    for line in objective_note(config.objectives):
        console.print(line, markup=False, highlight=False)


@user_errors
def report(
    study: Annotated[str, typer.Argument(help="Study name (its folder under --results).")],
    storage: Annotated[str | None, typer.Option(help="RDB URL, when the study is not in a local journal file.")] = None,
    results: Annotated[str, typer.Option(help="Output folder.")] = "results",
    top: Annotated[int, typer.Option(help="Best trials to export as spec files (single objective).")] = 5,
) -> None:
    """Regenerate a study's tables, plot and best specs from its storage (also while it runs)."""
    import optuna

    from ..search.report import write_report
    from ..search.runner import SearchConfig, storage_for

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is None and not (Path(results) / study / "study.journal").exists():
        raise ArchbenchError(f"no study {study!r} under {results}/ (expected {results}/{study}/study.journal)")
    config = SearchConfig(storage=storage, results=results)
    try:
        found = optuna.load_study(study_name=study, storage=storage_for(config, study))
    except KeyError:
        raise ArchbenchError(f"no study named {study!r} in that storage") from None
    written = write_report(found, Path(results) / study, top=top)
    finished = [t for t in found.trials if t.state.is_finished()]
    _print_importance(written["importance_csv"])
    console.print(f"study {study}: {len(finished)} finished trials; wrote {len(written)} files to {results}/{study}/")


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
