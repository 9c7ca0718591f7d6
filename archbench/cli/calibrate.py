"""`archbench calibrate`: rank correlation of each cheap objective with short-training accuracy."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ArchbenchError
from .common import (AuxOption, LrOption, OptimizerOption, PriceAtOption, StemOption, ValFractionOption,
                     ValStepsOption, console, make_table, user_errors)


@user_errors
def calibrate(
    space: Annotated[str, typer.Option(help="Search space: a shipped name or a YAML file.")] = "inception_v1",
    data: Annotated[str, typer.Option(help="Image folder, .npz/.pt file of tensors, or synthetic[:N].")] = "synthetic",
    samples: Annotated[int, typer.Option(help="Architectures to sample (K).")] = 20,
    budget: Annotated[list[str] | None, typer.Option("--budget", help="Repair samples into these budgets "
                                                     "(units as in `search`).")] = None,
    price_at: PriceAtOption = "space",
    epochs: Annotated[int, typer.Option(help="Training epochs per sample.")] = 4,
    max_steps: Annotated[int | None, typer.Option(help="At most this many training steps per epoch.")] = None,
    val_steps: ValStepsOption = None,
    image_size: Annotated[int | None, typer.Option(help="Resize the data's images to this size.")] = None,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    aux: AuxOption = False,
    val_fraction: ValFractionOption = 0.2,
    optimizer: OptimizerOption = "adamw",
    lr: LrOption = None,
    stem: StemOption = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the sampling and the training.")] = 0,
    out: Annotated[str, typer.Option("--out", help="Output folder; files go to OUT/calibrate/<space>/.")] = "results",
    results: Annotated[str | None, typer.Option("--results", hidden=True, help="Old name of --out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the correlations as JSON on stdout.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier calibration of this space "
                                            "in OUT (refused without it: it may have taken hours).")] = False,
) -> None:
    """Check which cheap objective (naswot, synflow, snip, grad_norm, jacob_cov, ensemble) ranks like measured
    accuracy on your data, and whether it beats the params and FLOPs baselines."""
    import optuna

    from ..report import export_table, write_json
    from ..report.plots import plot_calibration
    from ..search.calibrate import CalibrationConfig, document, summary
    from ..search.defaults import FREE, beats_baselines
    from ..search.calibrate import calibrate as run_calibrate
    from ..search.space import load_space
    from ..search.train_objective import TrainSettings

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sampling study is an internal detail
    settings = TrainSettings(data=data, image_size=image_size, epochs=epochs, max_steps=max_steps,
                             max_val_steps=val_steps, batch_size=batch_size, seed=seed, pruner="none", aux=aux, stem=stem,
                             val_fraction=val_fraction, optimizer=optimizer, lr=lr)
    config = CalibrationConfig(space=space, samples=samples, budgets=tuple(budget or ()), train=settings, seed=seed,
                               price_at=price_at)
    name = load_space(space).name
    from .progress import progress

    results = results or out
    _check_outputs(Path(results) / "calibrate" / name, overwrite)  # before hours of training, not after
    with progress("calibrate", total=samples, transient=False) as update:
        update("training the first sample")

        def on_sample(i: int, row: dict) -> None:
            update(completed=i + 1, description=f"last accuracy {row['accuracy']:.3f}")

        started = time.perf_counter()
        result = run_calibrate(config, on_sample)
        wall_s = time.perf_counter() - started
    folder = Path(results) / "calibrate" / name
    export_table(result.samples, folder / "samples.csv")
    export_table(result.correlations, folder / "correlations.csv")
    export_table(result.correlations, folder / "correlations.md",
                 caption=f"rank correlation with validation top-1 ({samples} samples of {name}, data {data}; "
                         f"intervals: bootstrap 95%, margins: paired bootstrap)")
    write_json(document(result, config, "archbench " + " ".join(sys.argv[1:]), wall_s), folder / "calibration.json")
    plot = plot_calibration(result.samples, result.correlations, folder / "calibration.png")
    if as_json:
        import json

        from ..report.export import records

        typer.echo(json.dumps({"space": name, "samples": records(result.samples),
                               "correlations": records(result.correlations), "folder": str(folder)}, indent=2))
        return

    table = make_table(f"{name}: Spearman with validation top-1 and margins over the baselines, bootstrap 95% "
                       f"intervals ({samples} samples, {epochs} epoch{'s' if epochs != 1 else ''})",
                       ["objective", "Spearman", "minus params", "minus FLOPs", "beats both"], left=("objective",))
    for row in result.correlations.to_dict(orient="records"):
        table.add_row(row["objective"], _with_interval(row, "spearman"), _with_interval(row, "margin_params"),
                      _with_interval(row, "margin_flops"), "-" if row["objective"] in FREE else
                      "yes" if beats_baselines(row) else "no")
    console.print(table)
    acc = result.samples["accuracy"]
    console.print(f"accuracy over the samples: min {acc.min():.3f}, median {acc.median():.3f}, max {acc.max():.3f}.")
    console.print(summary(result.correlations))
    if samples < FEW_SAMPLES:
        console.print(f"[yellow]{samples} samples are too few to rank signals: two unrelated rankings of "
                      f"{samples} networks give |Spearman| above 0.5 {chance_above(samples, 0.5):.0%} of the time, "
                      f"and a bootstrap over so few points understates that. Use --samples {FEW_SAMPLES * 2} or "
                      f"more for a verdict.[/yellow]")
    console.print(f"wrote {folder}/ (samples.csv, correlations.csv, correlations.md, calibration.json, {plot.name})")


FEW_SAMPLES = 10  # below this, Spearman's null distribution is too wide to read anything from one run
OUTPUTS = ("samples.csv", "correlations.csv", "correlations.md", "calibration.json", "calibration.png")


def _check_outputs(folder: Path, overwrite: bool) -> None:
    """Every file the calibration writes can be written, and none of an earlier run is replaced
    unless asked: a calibration trains many networks, and its results are not re-derivable."""
    from ..files import check_output, check_output_dir

    check_output_dir(folder, "--out")
    earlier = [name for name in OUTPUTS if (folder / name).exists()]
    if earlier and not overwrite:
        raise ArchbenchError(f"--out {folder}: holds an earlier calibration ({', '.join(earlier)}); pass "
                             "--overwrite to replace it, or choose another --out")
    if folder.is_dir():
        for name in OUTPUTS:
            check_output(folder / name, None, "--out")


def chance_above(n: int, rho: float) -> float:
    """Probability that |Spearman| of two independent random rankings of ``n`` items exceeds
    ``rho``: exact, over all n! orders (meant for the few-sample warning, n < 10)."""
    import itertools

    orders = list(itertools.permutations(range(n))) if n > 1 else [(0,)]
    scale = n * (n * n - 1) if n > 1 else 1
    hits = sum(abs(1 - 6 * sum((i - x) ** 2 for i, x in enumerate(p)) / scale) > rho for p in orders)
    return hits / len(orders)


def _with_interval(row: dict, key: str) -> str:
    """``+0.41 (+0.0,+0.7)``, ``-`` where undefined (a baseline against itself, a constant column)."""
    from ..search.defaults import signed

    if signed(row[key]) == "-":
        return "-"
    low, high = (signed(row[f"{key}_{end}"], 1) for end in ("low", "high"))  # one decimal: 80 columns
    return f"{signed(row[key])} ({low},{high})"
