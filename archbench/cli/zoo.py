"""`archbench zoo`: the built-in networks and their sizes (analytic; no torch import)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .. import zoo as zoo_lib
from ..cost import analyze
from ..spec import load_spec
from .common import CONVENTION, console, human, make_table, user_errors


@user_errors
def zoo(as_json: Annotated[bool, typer.Option("--json", help="Print the zoo as JSON on stdout.")] = False) -> None:
    """List the zoo: reference, input size, params without and with aux heads, FLOPs."""
    if as_json:
        rows = []
        for name in zoo_lib.names():
            spec = load_spec(name)
            report = analyze(spec)
            rows.append({"name": name, "input": list(spec.input), "params": report.params(),
                         "params_with_aux": report.params(aux=True) if spec.aux_heads else None,
                         "flops": report.flops, "reference": spec.reference})
        typer.echo(json.dumps({"networks": rows, "convention": CONVENTION}, indent=2))
        return
    # The reference is free text: shown where the terminal has room for it beside the numbers.
    wide = console.width >= 110
    columns = ["name", "input", "params", "with aux", "FLOPs", *(["reference"] if wide else [])]
    table = make_table("archbench zoo", columns, left=("name", "input", "reference"), wrap=("reference",))
    for name in zoo_lib.names():
        spec = load_spec(name)
        report = analyze(spec)
        with_aux = f"{report.params(aux=True):,}" if spec.aux_heads else "-"
        table.add_row(name, "x".join(map(str, spec.input)), f"{report.params():,}", with_aux,
                      human(report.flops), *([spec.reference] if wide else []))
    console.print(table)
    console.print(f"[dim]{CONVENTION} Inference at batch 1."
                  + ("" if wide else " References: `archbench show NAME`, or a terminal 110 columns wide.") + "[/]")
