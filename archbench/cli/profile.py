"""`archbench profile TARGET`: params, FLOPs, activations, memory and latency, per block."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.panel import Panel

from ..errors import ArchbenchError
from .common import (CONVENTION, check_outputs, check_threads, console, human, make_table, megabytes, rate,
                     shape_str, user_errors)

BATCH_HELP = "Batch sizes to time, comma-separated (e.g. 1,8,32); memory uses the largest."


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise ArchbenchError(f"--batch: expected positive integers separated by commas, got {text!r}")
    return batches


def blocks_frame(result: Any) -> Any:
    import pandas as pd

    return pd.DataFrame([{**row.__dict__, "output_shape": shape_str(row.output_shape)} for row in result.blocks])


def render(result: Any) -> None:
    """The per-block table, the summary panel, and the notes on what was not counted."""
    measured = any(b.latency_share is not None for b in result.blocks)
    table = make_table(f"{result.target}  ({shape_str(result.input)} input, batch 1 counts)",
                       ["block", "output", "params", "FLOPs", "% FLOPs", "activations", *(["% latency"] if measured else [])],
                       left=("block", "output"))
    for b in result.blocks:
        table.add_row(b.name, shape_str(b.output_shape), f"{b.params:,}", human(b.flops), f"{b.flops_pct:.1f}",
                      f"{b.activations:,}", *([_share(b.latency_share)] if measured else []))
    console.print(table)
    f, p, m = result.flops, result.params, result.memory
    lines = [f"params       {p['total']:,} (trainable {p['trainable']:,}" + (f", aux heads {p['aux_heads']:,})" if result.aux else ")"),
             f"FLOPs        {human(f['total'])} ({f['total']:,}; 1 multiply-add = 1 FLOP; BN folded)",
             f"             = {human(f['macs'], 'MACs')}, {human(f['flops_2x_macs'], 'FLOPs')} at 2 per MAC; "
             f"with BN {human(f['with_batch_norm'])}",
             "by operator  " + ", ".join(f"{k} {human(v)}" for k, v in f["by_operator"].items()),
             f"activations  {result.activations['total']:,} (conv+linear outputs)   block outputs "
             f"{result.activations['block_output_elements']:,} elements",
             f"check        analytic cost model vs fvcore: {f['analytic_check']}"]
    if m:
        if m.get("error"):
            lines.append(f"memory       not available: {m['error']}")
        else:
            method = "analytic, from the spec; --check-memory replays it" if m["method"] == "analytic" else m["method"]
            lines.append(f"memory       params {megabytes(m['param_bytes'])}, inference peak "
                         f"{megabytes(m['inference_peak_bytes'])}, training step peak {megabytes(m['training_peak_bytes'])} "
                         f"(batch {m['batch']}, {method})")
            if m.get("analytic"):
                a, err = m["analytic"], m["analytic"]["relative_error"]
                lines.append(f"             analytic from the spec: inference {megabytes(a['inference_peak_bytes'])}"
                             f" ({_signed(err['inference_peak_bytes'])}), training {megabytes(a['training_peak_bytes'])}"
                             f" ({_signed(err['training_peak_bytes'])})")
    for lat in result.latency:
        if lat.get("error"):
            lines.append(f"latency b{lat['batch']:<4} {lat['error']}")
        else:
            noisy = "  [yellow]spread too wide to trust (IQR > 10% of median)[/]" if lat["noisy"] else ""
            lines.append(f"latency b{lat['batch']:<4} median {lat['median_ms']:.2f} ms, IQR {lat['iqr_ms']:.2f}, p90 "
                         f"{lat['p90_ms']:.2f} ({lat['runs']} runs) → {rate(lat['throughput'])} img/s "
                         f"on {lat['device']} {lat['dtype']}{' channels_last' if lat['channels_last'] else ''}{noisy}")
    console.print(Panel("\n".join(lines), title="summary", title_align="left", expand=False))
    if f.get("unpriced"):
        console.print("[yellow]lower bound:[/] the FLOPs total leaves out operators no counter has a formula for: "
                      + ", ".join(f"{op} ×{n}" for op, n in f["unpriced"].items())
                      + " (their share of the work is unknown)")
    uncounted = f["uncounted"]
    if uncounted:
        console.print("[dim]not counted (zero FLOPs in fvcore's convention): "
                      + ", ".join(f"{op} ×{n}" for op, n in uncounted.items()) + "[/]")
    env = result.env
    console.print(f"[dim]{CONVENTION}\nenv: torch {env['torch']}, {env.get('gpu') or env['cpu']}, "
                  f"{env['threads']} threads[/]")


def _share(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}"


def _signed(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:+.1f}%"


def paper_rows(target: Any) -> list[dict[str, Any]]:
    """The rows of GoogLeNet's Table 1 for ``target`` (analytic, from its spec: no torch)."""
    from ..report.paper import paper_rows as rows_of

    if target.spec is None:
        raise ArchbenchError("--paper needs a zoo name or a spec file (the table is read from the spec)")
    return rows_of(target.spec, target.input)


def paper_frame(rows: list[dict[str, Any]]) -> Any:
    """The paper table for the exporters: an empty cell is a missing value (an en dash for
    readers, an empty CSV cell or ``null`` for machines), so the count columns stay numeric."""
    import pandas as pd

    from ..report.paper import COLUMNS

    return pd.DataFrame([{c: (None if row[c] == "" else row[c]) for c in COLUMNS} for row in rows], columns=COLUMNS)


def paper_document(target: Any, frame: Any) -> dict[str, Any]:
    """``--paper --json`` and ``--paper --out FILE.json``: the table's rows and what they describe."""
    from ..report.export import records

    return {"target": target.label, "input": list(target.input), "table": "GoogLeNet Table 1 columns",
            "rows": records(frame)}


def output_paper(target: Any, out: str | None, as_json: bool) -> None:
    """``profile --paper``: the table on the terminal, in ``--out`` (any export format) and/or as
    ``--json`` on stdout, like the per-block profile."""
    rows = paper_rows(target)
    frame = paper_frame(rows)
    document = paper_document(target, frame)
    if out:
        from ..report import export_table

        path = export_table(frame, out, caption=f"{target.label}: GoogLeNet Table 1 columns", document=document)
        if not as_json:
            console.print(f"wrote {path}")
    if as_json:
        typer.echo(json.dumps(document, indent=2, default=str))
    else:
        render_paper(target, rows)


def render_paper(target: Any, rows: list[dict[str, Any]]) -> None:
    from ..report.paper import COLUMNS

    # On a terminal narrower than the table, headers on two lines, no type column and params and
    # ops in k/M/G: a number is never cut ("118,013…"); all of it on a terminal 130 columns wide.
    narrow = console.width < 130
    columns = [c for c in COLUMNS if not (narrow and c in ("type", "depth"))]
    table = make_table(f"{target.label}: GoogLeNet Table 1 columns", [c.replace(" ", "\n") for c in columns],
                       left=("name", "output"), wrap=("name", "output"))
    table.columns[0].min_width = min(10, max(len(str(r["name"])) for r in rows))
    for row in rows:
        table.add_row(*[(human(row[c], digits=1).replace(" ", "") if narrow else f"{row[c]:,}")
                        if c in ("params", "ops") else str(row[c]) for c in columns])
    console.print(table)
    if narrow:
        console.print("[dim]params and ops rounded, type and depth left out, to fit the terminal; all of it exact on a "
                      "terminal 130 columns wide.[/]")


@user_errors
def profile(
    target: Annotated[str, typer.Argument(help="Zoo name, spec YAML file, or module:callable (e.g. torchvision.models:resnet50).")],
    input: Annotated[str | None, typer.Option("--input", help="Input size: 224, 299x299 or 3x299x299.")] = None,
    aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Build the aux heads (params only; they do not run at inference).")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch: Annotated[str, typer.Option(help=BATCH_HELP)] = "1",
    dtype: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (autocast).")] = "fp32",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Time in channels_last memory format.")] = False,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's).")] = None,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Time the network.")] = True,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Measure or estimate peak memory.")] = True,
    check_memory: Annotated[bool, typer.Option("--check-memory", help="CPU, spec targets: also replay the model on "
                                               "the meta device and show the analytic estimate's error against it "
                                               "(slower; a module:callable target is always replayed).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON on stdout.")] = False,
    out: Annotated[str | None, typer.Option(help="Write the result: .json (all), .csv/.md/.tex/.html (per-block table).")] = None,
    paper: Annotated[bool, typer.Option("--paper", help="Show GoogLeNet's Table 1 columns (analytic; no profiling); --out and --json "
                                                     "write that table.")] = False,
) -> None:
    """Profile a network: params, FLOPs (fvcore), activations, memory and latency, per block."""
    from ..report.export import EXPORT_FORMATS
    from ..targets import resolve_target

    check_threads(threads)
    check_outputs(("--out", out, EXPORT_FORMATS))  # before the profile runs, not after
    tgt = resolve_target(target, input)
    if paper:
        ignored = [option for option, given in (
            ("--device", device != "auto"), ("--batch", batch != "1"), ("--dtype", dtype != "fp32"),
            ("--channels-last", channels_last), ("--threads", threads is not None), ("--check-memory", check_memory),
            ("--aux", aux)) if given]
        if ignored:  # the table is read from the spec: a measurement option would silently do nothing
            raise ArchbenchError(f"--paper shows the spec's Table 1 columns and measures nothing: "
                                 f"{', '.join(ignored)} do not apply (--input, --out and --json do)")
        output_paper(tgt, out, as_json)
        return
    if dtype not in ("fp32", "fp16", "bf16"):
        raise ArchbenchError(f"--dtype: expected fp32, fp16 or bf16, got {dtype!r}")
    batches = parse_batches(batch)
    from ..profile import CountMismatch
    from ..profile import profile as run_profile

    from .progress import progress

    try:
        with progress(f"profile {tgt.label}") as update:
            result = run_profile(tgt, aux=aux, device=device, batches=batches, dtype=dtype, channels_last=channels_last,
                                 threads=threads, latency=latency, memory=memory, check_memory=check_memory,
                                 progress=update)
    except CountMismatch as exc:
        console.print(f"[bold red]bug:[/] {exc}")
        raise typer.Exit(1) from None
    if out:
        from ..report import export_table

        path = export_table(blocks_frame(result), out, caption=f"{result.target} per-block profile",
                            document=result.to_dict())
        if not as_json:
            console.print(f"wrote {path}")
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        render(result)
