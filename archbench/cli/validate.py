"""`archbench validate FILE...`: check specs completely, grammar and shapes, without building."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..cost import analyze
from ..cost.limits import check_cost_limits
from ..errors import ArchbenchError, SpecError
from ..spec import load_spec
from .common import console, err_console, user_errors


@user_errors
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec YAML files (or zoo names) to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one result per file as JSON on stdout "
                                          "(exit code as without it).")] = False,
) -> None:
    """Validate spec files: exit 0 when all are valid, 2 listing every problem when not."""
    results = [_check(target) for target in files]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            if r["valid"]:
                console.print(f"[green]✓[/] {r['target']}: {r['name']}, {r['params']:,} params, output "
                              f"{'x'.join(map(str, r['output_shape']))}")
            elif r["spec_problems"]:
                err_console.print(f"[red]✗[/] {r['target']}: {len(r['problems'])} problem(s)")
                for problem in r["problems"]:
                    err_console.print(f"    {problem}", markup=False)
            else:
                err_console.print(f"[red]✗[/] {r['target']}:", end=" ")
                err_console.print(r["problems"][0], markup=False)
    if not all(r["valid"] for r in results):
        raise typer.Exit(2)


def _check(target: str) -> dict[str, Any]:
    """One file's verdict: its name, params and output shape, or its problems."""
    try:
        spec = load_spec(target)
        report = analyze(spec)
        check_cost_limits(spec)
    except SpecError as exc:
        return {"target": target, "valid": False, "spec_problems": True, "problems": [str(p) for p in exc.problems]}
    except ArchbenchError as exc:
        return {"target": target, "valid": False, "spec_problems": False,
                "problems": [_without_source(str(exc), target)]}
    return {"target": target, "valid": True, "name": spec.name, "params": report.params(),
            "output_shape": list(report.output_shape), "problems": []}


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
