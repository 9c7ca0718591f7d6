"""`archbench compare A B C ...`: one row per network, sortable, exportable, plottable."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import ArchbenchError, did_you_mean
from .common import (CONVENTION, check_outputs, check_threads, console, err_console, human, make_table, megabytes,
                     rate, user_errors)
from .profile import parse_batches


@user_errors
def compare(
    targets: Annotated[list[str], typer.Argument(help="Zoo names, spec files or module:callable models.")],
    input: Annotated[str | None, typer.Option("--input", help="Input size for every network: 224, 299x299 or 3x299x299 "
                                                "(default: each network's own).")] = None,
    batch: Annotated[str, typer.Option(help="Batch size for latency and memory.")] = "1",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dtype: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (autocast).")] = "fp32",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Time each network.")] = True,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Peak memory of each network.")] = True,
    sort: Annotated[str | None, typer.Option(help="Sort by a column: params, flops, activations, depth, "
                                                  "inference_peak_bytes, latency_ms, throughput, network.")] = None,
    descending: Annotated[bool, typer.Option("--descending", help="Sort from largest to smallest.")] = False,
    out: Annotated[str | None, typer.Option(help="Write the table: .csv, .md, .tex, .html or .json.")] = None,
    plot: Annotated[str | None, typer.Option(help="Write a PNG: FLOPs against params and latency.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON on stdout (exact numbers).")] = False,
) -> None:
    """Compare networks side by side: params, FLOPs, activations, depth, memory, latency."""
    from ..profile.compare import COLUMNS
    from ..profile.compare import compare as run_compare
    from ..targets import resolve_target
    from .progress import progress

    if sort is not None and sort not in COLUMNS:
        folded = {c.lower(): c for c in COLUMNS}
        if sort.lower() not in folded:  # FLOPs, Params: the table's headers are accepted too
            raise ArchbenchError(f"--sort: unknown column {sort!r}{did_you_mean(sort, COLUMNS)}; "
                                 f"expected one of: {', '.join(COLUMNS)}")
        sort = folded[sort.lower()]
    (size,) = parse_batches(batch)[:1]
    from ..report.export import EXPORT_FORMATS

    check_threads(threads)
    check_outputs(("--out", out, EXPORT_FORMATS), ("--plot", plot, (".png", ".pdf", ".svg")))
    resolved = [resolve_target(t, input) for t in targets]
    with progress("compare", total=len(resolved)) as update:
        frame = run_compare(resolved, sort=sort, descending=descending, batch=size, device=device, dtype=dtype,
                            latency=latency, memory=memory, threads=threads, progress=update)
    if as_json:
        import json

        from ..report.export import records

        typer.echo(json.dumps({"rows": records(frame), "convention": CONVENTION}, indent=2, default=str))
    else:
        _render(frame, size)
    if out:
        from ..report import export_table

        _note(f"wrote {export_table(frame, out, caption='archbench compare')}", as_json)
    if plot:
        from ..report.plots import plot_comparison

        _note(f"wrote {plot_comparison(frame, plot)}", as_json)


def _note(text: str, as_json: bool) -> None:
    """A line about files written: on stdout, or on stderr when stdout carries JSON."""
    (err_console if as_json else console).print(text)


def _render(frame: Any, size: int) -> None:
    shown = ["network", "input", "params", "flops", "activations", "depth", "inference_peak_bytes", "latency_ms", "throughput"]
    heads = ["network", "input", "params", "FLOPs", "acts", "depth", "inf. mem", "ms", "img/s"]
    table = make_table(f"archbench compare (batch {size})", heads, left=("network", "input"), wrap=("network",))
    for row in frame.to_dict(orient="records"):
        cells = []
        for col in shown:
            v = row[col]
            if v is None or v != v:  # None or NaN
                cells.append("-")
            elif col in ("params", "activations", "flops"):
                cells.append(human(v, digits=1))
            elif col == "inference_peak_bytes":
                cells.append(megabytes(v))
            elif col == "input":  # 3x224x224 -> 224: the common case in one word
                c, h, w = str(v).split("x")
                cells.append(h if c == "3" and h == w else str(v))
            elif col in ("latency_ms", "throughput"):
                cells.append(f"{v:.2f}" if col == "latency_ms" else rate(v))
            else:
                cells.append(str(v))
        table.add_row(*cells)
    console.print(table)
    console.print(f"[dim]{CONVENTION} input: side of a 3-channel square image. acts: activations (conv and "
                  f"linear outputs). Depth: conv/linear layers on the longest path. inf. mem: peak inference memory, "
                  f"{'measured on CUDA' if str(frame['device'].iloc[0]).startswith('cuda') else 'CPU estimate (analytic for specs, a meta-device replay for module:callable targets)'}. "
                  f"ms: median latency. Exact numbers: --out FILE.[/]")
