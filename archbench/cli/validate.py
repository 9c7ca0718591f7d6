"""`archbench validate FILE...`: check specs completely, grammar and shapes, without building."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cost import analyze
from ..cost.limits import check_cost_limits
from ..errors import ArchbenchError, SpecError
from ..spec import load_spec
from .common import console, err_console, user_errors


@user_errors
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec YAML files (or zoo names) to check.")],
) -> None:
    """Validate spec files: exit 0 when all are valid, 2 listing every problem when not."""
    failed = 0
    for target in files:
        try:
            spec = load_spec(target)
            report = analyze(spec)
            check_cost_limits(spec)
        except SpecError as exc:
            failed += 1
            err_console.print(f"[red]✗[/] {target}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                err_console.print(f"    {problem}", markup=False)
            continue
        except ArchbenchError as exc:
            failed += 1
            err_console.print(f"[red]✗[/] {target}:", end=" ")
            err_console.print(_without_source(str(exc), target), markup=False)
            continue
        console.print(f"[green]✓[/] {target}: {spec.name}, {report.params():,} params, output "
                      f"{'x'.join(map(str, report.output_shape))}")
    if failed:
        raise typer.Exit(2)


def _without_source(message: str, target: str) -> str:
    """``message`` without its leading ``SOURCE: `` when SOURCE is ``target`` (the same file or zoo
    name): limit and file errors name their source, and the line already starts with the target."""
    head, sep, rest = message.partition(": ")
    if not sep:
        return message
    if head == target:
        return rest
    try:
        same = Path(head).resolve() == Path(target).resolve() and Path(target).exists()
    except (OSError, ValueError):
        same = False
    return rest if same else message
