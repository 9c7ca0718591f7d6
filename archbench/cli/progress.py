"""The progress display of long commands: on stderr, and only when stderr is a terminal.

Results go to stdout (tables, ``--json``), so a progress bar there would corrupt a pipe or a
redirected file; on stderr it is seen while it runs and vanishes when done (``transient``).
When stderr is not a terminal (a CI log, ``2>file``, the tests' CliRunner) nothing is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console


def _console() -> Console:
    return Console(stderr=True, highlight=False)


def enabled() -> bool:
    return _console().is_terminal


@contextmanager
def progress(label: str, total: int | None = None, transient: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``update(description, advance=0, completed=None)`` for one task labelled ``label``.

    ``total=None`` shows a spinner (steps of unknown length, e.g. a profile's sections);
    a number shows a bar with ``done/total``.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    console = _console()
    columns: list[Any] = [SpinnerColumn(), TextColumn(f"[bold]{label}[/]")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns += [TimeElapsedColumn(), TextColumn("{task.description}")]
    with Progress(*columns, console=console, transient=transient, disable=not console.is_terminal) as bar:
        task = bar.add_task("", total=total)

        def update(description: str = "", advance: int = 0, completed: int | None = None) -> None:
            bar.update(task, description=description, advance=advance,
                       **({"completed": completed} if completed is not None else {}))

        yield update
