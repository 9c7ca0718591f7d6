"""`archbench cost TARGET`: the analytic numbers of a spec, instantly, without building it.

Memory comes from the same spec (:func:`archbench.cost.estimate_memory`): parameter and
activation bytes, and the peaks of inference and of a training step (SGD with momentum) at
``--batch``; fp32, aux heads not built, as ``archbench profile`` measures them by default.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ..cost import analyze, estimate_memory
from ..errors import ArchbenchError
from ..spec import load_spec
from ..spec.parse import parse_input_size
from .common import CONVENTION, console, human, megabytes, shape_str, user_errors


@user_errors
def cost(
    target: Annotated[str, typer.Argument(help="Zoo name or spec YAML file.")],
    input: Annotated[str | None, typer.Option("--input", help="Input size: 224, 299x299 or 3x299x299.")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Batch size the counts are for.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Analytic params, FLOPs, activations and memory per block: no torch, no tracing."""
    spec = load_spec(target)
    size = None
    if input is not None:
        size = parse_input_size(int(input) if input.isdigit() else input, spec.input[0])
        if size is None:
            raise ArchbenchError(f"--input: expected 224 or CxHxW such as 3x224x224, got {input!r}")
    report = analyze(spec, size, batch=batch)
    memory = estimate_memory(spec, size, batch=batch)
    if as_json:
        typer.echo(json.dumps({
            "target": spec.name, "input": list(report.input), "batch": batch,
            "params": report.params(), "params_with_aux": report.params(aux=True),
            "flops": report.flops, "flops_by_operator": report.flops_by_op(), "activations": report.activations,
            "uncounted": report.uncounted(),
            "blocks": [{"name": x.name, "output_shape": list(x.out_shape), "params": x.params, "flops": x.flops,
                        "activations": x.activations, "aux": x.is_aux} for x in report.layers],
            "memory": memory.to_dict(),
        }, indent=2))
        return
    table = Table(title=f"{spec.name} (analytic, {shape_str(report.input)}, batch {batch})", title_justify="left")
    for col in ("block", "output", "params", "FLOPs", "activations"):
        table.add_column(col, justify="left" if col in ("block", "output") else "right")
    for x in report.layers:
        table.add_row(x.name + (" (aux)" if x.is_aux else ""), shape_str(x.out_shape), f"{x.params:,}",
                      human(x.flops), f"{x.activations:,}")
    console.print(table)
    bn = report.flops_by_op().get("batch_norm", 0)
    console.print(f"params {report.params():,}" + (f" ({report.params(aux=True):,} with aux heads)" if spec.aux_heads else "")
                  + f"   FLOPs {human(report.flops)} ({report.flops:,}; BN folded, BN share {human(bn)})"
                  + f"   activations {report.activations:,}")
    console.print(f"memory (batch {batch}, fp32): params {megabytes(memory.param_bytes)}, activations "
                  f"{megabytes(memory.activation_bytes)} (block outputs), peak inference "
                  f"{megabytes(memory.inference_peak_bytes)}, peak training step "
                  f"{megabytes(memory.training_peak_bytes)} (SGD momentum)")
    if report.uncounted():
        console.print("[dim]not counted: " + ", ".join(f"{k} ×{v}" for k, v in report.uncounted().items()) + "[/]")
    console.print(f"[dim]{CONVENTION}[/]")
