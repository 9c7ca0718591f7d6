"""What every command shares: the consoles, number formatting and the user-error boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console, ConsoleDimensions
from rich.table import Table

from ..errors import ArchbenchError, SpecError

UNSQUEEZED_WIDTH = 1000  # stdout that is a file or a pipe: wider than any table, so none is squeezed


class OutputConsole(Console):
    """The console of results: a terminal's own width on a terminal, ``$COLUMNS`` when set, and
    otherwise (a file, a pipe) wide enough for any table.

    Why: rich falls back to 80 columns (or the width of whatever terminal stdin or stderr is) when
    stdout is not a terminal, so ``archbench validate ... | cat`` broke lines and ``profile --paper
    > f`` abbreviated its numbers "to fit the terminal" that was not there. Nothing printed on it
    expands to the console's width (tables take their natural width; panels are not expanded).
    """

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self._width is None and not self.is_terminal and not self._environ.get("COLUMNS", "").isdigit():
            return ConsoleDimensions(UNSQUEEZED_WIDTH, dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = OutputConsole(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay greppable
F = TypeVar("F", bound=Callable[..., Any])

STEM_HELP = ("Stem of networks trained on the data: small (a 3x3 stride-1 conv instead of the ImageNet stem, as "
             "CIFAR versions of GoogLeNet and ResNet), imagenet, or auto (small below about 80-110 px; "
             "docs/training.md).")
VAL_FRACTION_HELP = ("Share of the data held out for validation when it has no split of its own (a folder with "
                     "train/ and val/, cifar10's test batch).")
OPTIMIZER_HELP = "adamw (the shipped recipe's: it learns in a few hundred steps) or sgd (momentum, Nesterov)."
LR_HELP = "Peak learning rate (cosine schedule). Default: 0.002 for adamw, 0.05 for sgd."

# Options of the training recipe, shared by `search --objective train` and `calibrate` (defaults at each use).
AuxOption = Annotated[bool, typer.Option("--aux/--no-aux", help="Train the aux heads (off by default, as in the "
                                         "small-image versions of these networks, and when they do not fit the "
                                         "data's image size).")]
ValFractionOption = Annotated[float, typer.Option(help=VAL_FRACTION_HELP)]
OptimizerOption = Annotated[str, typer.Option(help=OPTIMIZER_HELP)]
LrOption = Annotated[float | None, typer.Option(help=LR_HELP)]
StemOption = Annotated[str, typer.Option(help=STEM_HELP)]
ValStepsOption = Annotated[int | None, typer.Option("--val-steps", help="At most this many validation batches per "
                                                                        "epoch (default: the whole validation set).")]
PriceAtOption = Annotated[str, typer.Option("--price-at", help="Price the budgets on the space's network at its own "
                                                               "input size (space), or on the network as trained on "
                                                               "the data (data: its image size, classes and stem).")]
CONVENTION = ("FLOPs: one multiply-add = one FLOP (fvcore's and the GoogLeNet paper's convention); "
              "BN folded into the conv before it; max and windowed average pooling, additions and activations "
              "count zero; global (adaptive) average pooling counts one FLOP per input element, as in fvcore.")


def user_errors(func: F) -> F:
    """Turn library errors into one readable message and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..spec.limits import check_environment

        try:
            check_environment()  # a bad ARCHBENCH_MAX_* is refused by every command, not only those that use it
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
        except KeyboardInterrupt:  # commands with something to save catch it first and say what
            err_console.print("[bold yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except OSError as exc:
            # A backstop for a file the library did not route through archbench.files: a path
            # that cannot be read or written is the user's to fix. Without a path it is a bug.
            if exc.filename is None:
                raise
            err_console.print("[bold red]error:[/] ", end="")
            err_console.print(f"{exc.filename}: {exc.strerror or type(exc).__name__}", markup=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def check_outputs(*outputs: tuple[str, str | None, tuple[str, ...] | None]) -> None:
    """Check every ``(option, path, suffixes)`` output of a command before its work starts: a
    typo in ``--out`` should cost a second, not the whole profile or search it follows."""
    from ..files import check_output

    for option, path, suffixes in outputs:
        if path:
            check_output(path, suffixes, option)


def check_threads(threads: int | None) -> None:
    """``--threads``: a positive count (torch raises a RuntimeError for 0 and -1)."""
    if threads is not None and threads < 1:
        raise ArchbenchError(f"--threads: expected a positive number of threads, got {threads}")


def check_at_least(option: str, value: int | None, minimum: int) -> None:
    """An integer option with a lower bound (``show --depth -1``, ``--top 0``)."""
    if value is not None and value < minimum:
        raise ArchbenchError(f"{option}: expected at least {minimum}, got {value}")


def check_at_most(option: str, value: int | None, maximum: int, meaning: str = "") -> None:
    """An integer option with an upper bound (``show --depth 4``: there is nothing below the ops)."""
    if value is not None and value > maximum:
        raise ArchbenchError(f"{option}: expected at most {maximum}{f' ({meaning})' if meaning else ''}, got {value}")


def megabytes(nbytes: float) -> str:
    """Memory in human output: ``26.5 MB`` (one decimal, thousands separators), in every command,
    so ``profile`` and ``cost`` agree to the digit; exports keep the exact byte counts."""
    return f"{nbytes / 1e6:,.1f} MB"


def rate(per_second: float) -> str:
    """A throughput in human output: ``14,126`` (whole numbers with separators from 100 up), ``3.4``
    below; exports keep the exact value."""
    return f"{per_second:,.0f}" if abs(per_second) >= 100 else f"{per_second:.1f}"


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
