"""`archbench validate FILE...`: check specs completely, grammar and shapes, without building."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..cost import analyze
from ..cost.limits import check_cost_limits
from ..errors import ArchbenchError, ShapeError, SpecError
from ..spec import load_spec, read_raw
from ..spec.yaml_lines import line_of
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
    spec = None
    try:
        spec = load_spec(target)
        report = analyze(spec)
        check_cost_limits(spec)
    except ShapeError as exc:  # with its file line when the layer is written in the file: a spec problem
        message = _without_source(str(exc), target)
        located = _located(spec, target, message) if spec is not None else None
        return {"target": target, "valid": False, "spec_problems": located is not None,
                "problems": [located or message]}
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


def _located(spec: Any, target: str, message: str) -> str | None:
    """``FILE:LINE at body[i] (module.path): ...`` for a shape error of a layer written in the file
    itself, as the grammar's errors read; None when the layer comes from a ``base:`` the file
    derives from (its line is in another file) or cannot be found."""
    where, sep, rest = message.partition(": ")
    if not sep:
        return None
    top = where.split(".")[0]
    try:
        doc, source = read_raw(target)
    except ArchbenchError:
        return None
    if not isinstance(doc, dict) or "base" in doc:
        return None
    for section, layers in (("body", spec.body), ("head", spec.head), ("aux_heads", spec.aux_heads)):
        names = [layer.name for layer in layers]
        raw = doc.get(section)
        if top in names and isinstance(raw, list) and len(raw) == len(names):
            i = names.index(top)
            line = line_of(raw, i)
            return f"{source}{f':{line}' if line else ''} at {section}[{i}] ({where}): {rest}"
    return None
