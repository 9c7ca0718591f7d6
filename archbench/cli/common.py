"""What every command shares: the consoles, number formatting and the user-error boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import ArchbenchError, SpecError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay greppable
F = TypeVar("F", bound=Callable[..., Any])

STEM_HELP = ("Stem of networks trained on the data: small (a 3x3 stride-1 conv instead of the ImageNet stem, as "
             "CIFAR versions of GoogLeNet and ResNet), imagenet, or auto (small below about 80-110 px; "
             "docs/training.md).")
CONVENTION = ("FLOPs: one multiply-add = one FLOP (fvcore's and the GoogLeNet paper's convention); "
              "BN folded into the conv before it; pooling, additions and activations count zero.")


def user_errors(func: F) -> F:
    """Turn library errors into one readable message and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            count = len(exc.problems)
            err_console.print(f"[bold red]error:[/] invalid spec ({count} problem{'s' * (count != 1)}):")
            for problem in exc.problems:
                err_console.print(f"  {problem}", markup=False)
            raise typer.Exit(2) from None
        except ArchbenchError as exc:
            err_console.print("[bold red]error:[/] ", end="")
            err_console.print(str(exc), markup=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def human(n: float, unit: str = "", digits: int = 3) -> str:
    """1498426368 -> '1.498 G' (three decimals by default: the precision the papers' budgets are
    stated in; side-by-side tables use one, so that a row fits a terminal)."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def make_table(title: str, columns: list[str], left: tuple[str, ...] = (), wrap: tuple[str, ...] = ()) -> Table:
    """A compact table whose numbers and names never wrap, so a per-block profile fits 80 columns.

    Columns in ``left`` are left-aligned (names, shapes); only those in ``wrap`` (free text such
    as a reference) may wrap when the terminal is narrow.
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right", no_wrap=col not in wrap,
                         overflow="fold" if col in wrap else "ellipsis")
    return table
