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


def main() -> None:
    import typer.main

    from .help import readable

    readable(typer.main.get_command(app))(prog_name="archbench")
