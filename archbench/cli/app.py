"""The `archbench` command: a thin Typer app, one module per command.

Commands import their heavy dependencies (torch, fvcore, pandas) inside the command, so that
`archbench --help`, `zoo`, `show` and `validate` start without importing torch.
"""

from __future__ import annotations

import typer

from .. import __version__
from .calibrate import calibrate
from .compare import compare
from .cost import cost
from .profile import profile
from .search import report, search
from .show import show
from .train import train
from .validate import validate
from .zoo import zoo

app = typer.Typer(
    name="archbench",
    help="Architecture search and benchmarking for Inception-style CNNs: a YAML block grammar, "
    "a zoo of reference networks, profiling and search.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command()(zoo)
app.command()(show)
app.command()(validate)
app.command()(profile)
app.command()(compare)
app.command()(cost)
app.command()(search)
app.command()(report)
app.command()(train)
app.command()(calibrate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archbench {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Architecture search and benchmarking for Inception-style CNNs."""


# The large libraries each command imports anyway (a command that does not need torch, such as
# `cost`, `show` or a `params` search, must not get it from here).
HEAVY_IMPORTS: dict[str, tuple[str, ...]] = {
    "profile": ("torch", "fvcore.nn"), "compare": ("torch", "fvcore.nn"), "train": ("torch",),
    "calibrate": ("torch", "optuna", "pandas"), "search": ("optuna", "pandas"), "report": ("optuna", "pandas"),
}


def preload(argv: list[str]) -> None:
    """Import the command's large libraries with the garbage collector off, then freeze them.

    Importing torch creates about a million long-lived objects; CPython's cyclic collector scans
    them again and again while they are created, and on every full collection afterwards (fvcore's
    trace triggers many). Importing them with the collector paused, then ``gc.freeze()`` (moving
    them out of its generations, as fork servers do), took `profile googlenet --no-latency
    --no-memory` from 1.59 s to 1.25 s on a 2-core Xeon; collection stays on for everything the
    command itself allocates, so long searches and training runs still reclaim their cycles."""
    command = next((a for a in argv if not a.startswith("-")), None)
    modules = HEAVY_IMPORTS.get(command or "", ())
    if not modules or any(a in ("--help", "-h") for a in argv):
        return
    import gc
    import importlib

    gc.disable()
    try:
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:  # the command itself reports a missing dependency
                pass
    finally:
        gc.freeze()
        gc.enable()


def main() -> None:
    import sys

    import typer.main

    from .help import readable

    preload(sys.argv[1:])
    readable(typer.main.get_command(app))(prog_name="archbench")
