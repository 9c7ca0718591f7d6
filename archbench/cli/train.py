"""`archbench train TARGET --data SOURCE`: train a network on a dataset, with checkpoints and resume."""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from .common import StemOption, ValStepsOption, console, err_console, user_errors

DATA_HELP = ("Image folder (ROOT/<class>/* or ROOT/train + ROOT/val), .npz/.pt tensors, "
             "synthetic[:CLASSES[:SIZE[:COUNT]]] or cifar10[:ROOT]. See docs/training.md.")


def default_out(label: str) -> Path:
    return Path("results") / "train" / (re.sub(r"[^\w.-]+", "_", label).strip("_") or "model")


def render(result: Any) -> None:
    """The per-epoch table and where the files went."""
    table = Table(box=box.SIMPLE_HEAD)
    for col in ("epoch", "train\nloss", "train\ntop-1", "val\nloss", "val\ntop-1", "val\ntop-5", "lr", "img/s", "time"):
        table.add_column(col, justify="right", no_wrap=True)
    for m in result.history:
        best = " *" if m.epoch == result.best_epoch else ""
        table.add_row(f"{m.epoch}{best}", f"{m.train_loss:.3f}", f"{100 * m.train_top1:.1f}%", f"{m.val_loss:.3f}",
                      f"{100 * m.val_top1:.1f}%", f"{100 * m.val_top5:.1f}%", f"{m.lr:.2g}", f"{m.images_per_s:,.0f}",
                      f"{m.seconds:.1f}s")
    console.print(table)
    console.print(f"best val top-1 {100 * result.best_top1:.2f}% at epoch {result.best_epoch} (*); top-5 is top-k "
                  "with k = min(5, classes); img/s is training throughput")
    if result.metrics_csv is not None:
        console.print(f"metrics:     {result.metrics_csv}\ncheckpoints: {result.last_checkpoint} (last), "
                      f"{result.best_checkpoint} (best val top-1)")


@user_errors
def train(
    target: Annotated[str, typer.Argument(help="Zoo name, spec YAML file, or module:callable (must already output "
                                               "one logit per class of the data).")],
    data: Annotated[str, typer.Option("--data", help=DATA_HELP)] = "synthetic",
    epochs: Annotated[int, typer.Option(help="Epochs to train (in total, when resuming).")] = 10,
    image_size: Annotated[int | None, typer.Option("--image-size", help="Resize images to SIZE x SIZE (default: "
                                                   "the data's own size; image folders: first image's, max 224).")] = None,
    val_fraction: Annotated[float, typer.Option(help="Share of the training images held out for validation, "
                                                     "when the data has no validation set of its own.")] = 0.2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Training batch size.")] = 64,
    optimizer: Annotated[str, typer.Option(help="sgd (Nesterov momentum 0.9) or adamw.")] = "sgd",
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default: 0.05 sgd, 0.002 adamw).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Default: 5e-4 sgd, 0.05 adamw (not on biases/BN).")] = None,
    schedule: Annotated[str, typer.Option(help="cosine, step (x0.1 at 50% and 75%) or none.")] = "cosine",
    warmup: Annotated[float, typer.Option(help="Linear warm-up, in epochs.")] = 0.0,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing of the training loss.")] = 0.0,
    aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Train the spec's aux heads too (if it has any).")] = True,
    stem: StemOption = "auto",
    aux_weight: Annotated[float, typer.Option(help="Loss weight of each aux head (GoogLeNet: 0.3).")] = 0.3,
    max_steps: Annotated[int | None, typer.Option(help="At most this many training steps per epoch.")] = None,
    val_steps: ValStepsOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help="Mixed precision (default: on for CUDA only).")] = None,
    workers: Annotated[int | None, typer.Option("--loader-workers", "--workers", help="DataLoader worker processes "
                                                "(default: 0 for in-memory data, else min(4, CPUs-1)); --workers "
                                                "is its old name.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, the split and the shuffling.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: results/train/<network>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt at the next epoch.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier run's results in OUT "
                                                                "(without it, or --resume, they are kept).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print every epoch's metrics and the files as JSON on stdout.")] = False,
) -> None:
    """Train a network on a dataset: per-epoch validation top-1/top-5, metrics.csv, checkpoints, resume.

    Zoo specs are adapted to the data (classes and input size) by derivation; the adapted spec
    is written to OUT/spec.yaml.
    """
    try:
        _train(**locals())
    except KeyboardInterrupt as exc:
        _interrupted(exc)
        raise typer.Exit(130) from None


def _train(target: str, data: str, epochs: int, image_size: int | None, val_fraction: float, batch_size: int,
           optimizer: str, lr: float | None, weight_decay: float | None, schedule: str, warmup: float,
           label_smoothing: float, aux: bool, stem: str, aux_weight: float, max_steps: int | None,
           val_steps: int | None, device: str,
           amp: bool | None, workers: int | None, seed: int, out: Path | None, resume: bool, overwrite: bool = False,
           as_json: bool = False) -> None:
    from ..nn.device import resolve_device
    from ..files import write_text
    from ..spec import dump_yaml
    from ..targets import resolve_target
    from ..train import TrainConfig, fit, load_data, model_for_data
    from ..train.loop import check_out_dir
    from ..train.stem import check_stem, uses_small_stem

    resolve_device(device)  # a bad --device or --stem fails before any data is loaded
    check_stem(stem)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                         schedule=schedule, warmup_epochs=warmup, label_smoothing=label_smoothing, aux_weight=aux_weight,
                         max_steps=max_steps, max_val_steps=val_steps, seed=seed, device=device, amp=amp,
                         num_workers=workers)
    tgt = resolve_target(target)
    out = out or default_out(tgt.label)
    check_out_dir(out, resume, overwrite)  # before the data is loaded: an earlier run is never lost
    dataset = load_data(data, image_size=image_size, val_fraction=val_fraction, seed=seed)
    model, spec = model_for_data(tgt, dataset, aux=aux, seed=seed, stem=stem)  # seeded weights; the caller's RNG untouched
    config = replace(config, out_dir=str(out))
    heads = ", ".join(h.name for h in spec.aux_heads) if spec is not None else ""
    small = spec is not None and uses_small_stem(spec)
    say = err_console.print if as_json else console.print  # stdout carries only the JSON
    say(f"[bold]{escape(tgt.label)}[/] on {escape(dataset.describe())}"
        + ("; small-image stem (3x3 stride-1 conv)" if small else "")
        + (f"; aux heads {heads} (loss weight {aux_weight})" if heads else ""))
    if spec is not None:
        write_text(out / "spec.yaml", dump_yaml(spec))
    meta = {"target": target, "data": data, "spec": dump_yaml(spec) if spec is not None else None}
    result = fit(model, dataset, config, resume=resume, progress=True, meta=meta, overwrite=overwrite)
    if as_json:
        import json
        from dataclasses import asdict

        files = {k: None if v is None else str(v) for k, v in (("metrics_csv", result.metrics_csv),
                 ("last_checkpoint", result.last_checkpoint), ("best_checkpoint", result.best_checkpoint))}
        typer.echo(json.dumps({"target": tgt.label, "epochs": [asdict(m) for m in result.history],
                               "best_top1": result.best_top1, "best_epoch": result.best_epoch, **files}, indent=2))
    else:
        render(result)


def _interrupted(exc: KeyboardInterrupt) -> None:
    checkpoint = getattr(exc, "checkpoint", None)
    if checkpoint is None:
        err_console.print("[bold yellow]interrupted[/] before the first epoch finished; nothing was saved.")
        return
    epoch = getattr(exc, "epoch", "?")
    err_console.print(f"[bold yellow]interrupted[/] after epoch {epoch}; the last checkpoint is {escape(str(checkpoint))}.")
    err_console.print(f"Resume with the same options plus --resume:\n  {resume_command(sys.argv)}", markup=False)


def resume_command(argv: list[str]) -> str:
    """The command as it was typed, plus ``--resume``: resuming refuses any changed option, so
    the only command that surely works is the same one (the program shown as ``archbench``,
    whatever path or ``python -m`` started it)."""
    args = list(argv[1:])
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["archbench", *args])
