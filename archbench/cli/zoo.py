"""`archbench zoo`: the built-in networks and their sizes (analytic; no torch import)."""

from __future__ import annotations

from rich.table import Table

from .. import zoo as zoo_lib
from ..cost import analyze
from ..spec import load_spec
from .common import CONVENTION, console, human, user_errors


@user_errors
def zoo() -> None:
    """List the zoo: reference, input size, params without and with aux heads, FLOPs."""
    table = Table(title="archbench zoo", title_justify="left")
    for col, justify in (("name", "left"), ("reference", "left"), ("input", "left"), ("params", "right"),
                         ("params (with aux)", "right"), ("FLOPs", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name in zoo_lib.names():
        spec = load_spec(name)
        report = analyze(spec)
        with_aux = f"{report.params(aux=True):,}" if spec.aux_heads else "-"
        table.add_row(name, spec.reference, "x".join(map(str, spec.input)), f"{report.params():,}", with_aux,
                      human(report.flops))
    console.print(table)
    console.print(f"[dim]{CONVENTION} Inference at batch 1.[/]")
