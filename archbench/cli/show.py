"""`archbench show TARGET`: the block tree with output shapes and params (analytic)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.tree import Tree

from ..cost.analysis import OpRecord, analyze
from ..spec import load_spec, resolve
from ..spec.canonical import op_to_dict
from ..spec.parse import parse_input_size
from ..spec.schema import Block, Conv, Op, Pool, Split
from ..errors import ArchbenchError
from .common import CONVENTION, check_at_least, console, human, shape_str, user_errors


def _k(pair: tuple[int, int]) -> str:
    return f"{pair[0]}x{pair[1]}"


def op_label(op: Op) -> str:
    """A compact, paper-like description of one op: ``conv 3x3/2 p0 192 bn+relu``."""
    if isinstance(op, Conv):
        stride = f"/{op.stride[0]}" if op.stride == (op.stride[0],) * 2 and op.stride != (1, 1) else (
            "" if op.stride == (1, 1) else f"/{_k(op.stride)}")
        extras = [f"p{_k(op.padding) if op.padding[0] != op.padding[1] else op.padding[0]}"]
        if op.groups != 1:
            extras.append(f"g{op.groups}")
        post = "+".join(x for x in (op.norm, op.act) if x) or "linear"
        width = "auto" if op.out is None else op.out
        return f"conv {_k(op.kernel)}{stride} {' '.join(extras)} → {width} ({post}{', bias' if op.bias else ''})"
    if isinstance(op, Pool):
        flags = (" ceil" if op.ceil_mode else "") + (" exclude-pad" if op.kind == "avg" and not op.count_include_pad else "")
        return f"{op.kind}pool {_k(op.kernel)}/{op.stride[0]} p{op.padding[0]}{flags}"
    if isinstance(op, Split):
        return f"split into {len(op.branches)} (concat)"
    d = op_to_dict(op)
    d.pop("name", None)
    return " ".join(f"{k}={v}" if i else f"{k} {v}" for i, (k, v) in enumerate(d.items()))


def describe_op(rec: OpRecord) -> str:
    params = f"  [dim]{rec.params:,} params[/]" if rec.params else ""
    return f"{op_label(rec.op)}  ⇒ {shape_str(rec.out_shape)}{params}"


def _add_chain(node: Tree, records: dict[str, OpRecord], prefix: str, ops: tuple) -> None:
    for i, op in enumerate(ops):
        path = f"{prefix}.{i}"
        rec = records[path]
        child = node.add(describe_op(rec))
        if isinstance(op, Split):
            for j, branch in enumerate(op.branches):
                _add_chain(child.add(f"branch{j}"), records, f"{path}.branch{j}", branch)


@user_errors
def show(
    target: Annotated[str, typer.Argument(help="Zoo name or path to a spec YAML file.")],
    input: Annotated[str | None, typer.Option("--input", help="Input size: 224, 3x224x224.")] = None,
    aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Also show the aux heads.")] = True,
    depth: Annotated[int, typer.Option(help="1: blocks only; 2: branches too; 3: every op.")] = 3,
) -> None:
    """Show the block tree of a network: output shape, params and FLOPs of every block."""
    check_at_least("--depth", depth, 1)
    spec = resolve(load_spec(target))
    size = None
    if input is not None:
        size = parse_input_size(input if not input.isdigit() else int(input), spec.input[0])
        if size is None:
            raise ArchbenchError(f"--input: expected 224 or CxHxW such as 3x224x224, got {input!r}")
    records: dict[str, OpRecord] = {}
    report = analyze(spec, size, record=records)
    root = Tree(f"[bold]{spec.name}[/]  input {shape_str(report.input)}  "
                f"{report.params(aux=False):,} params  {human(report.flops, 'FLOPs')}"
                + (f"\n[dim]reference: {spec.reference}[/]" if spec.reference else ""))
    layers = {x.name: x for x in report.layers}
    for layer in spec.body + spec.head:
        cost = layers[layer.name]
        label = f"[bold]{layer.name}[/]"
        if isinstance(layer, Block) and layer.repeat is not None:
            label += f" ×{layer.repeat}"
        node = root.add(f"{label}  ⇒ {shape_str(cost.out_shape)}  {cost.params:,} params  {human(cost.flops, 'FLOPs')}")
        if isinstance(layer, Block) and depth >= 2:
            at = f"{layer.name}.0" if layer.repeat is not None else layer.name
            extra = f"{layer.merge}" + (f", scale {layer.scale}" if layer.merge == "residual" else "")
            node.label = f"{node.label}  [dim]({extra})[/]"
            for i, branch in enumerate(layer.branches):
                child = node.add(f"branch{i}")
                if depth >= 3:
                    _add_chain(child, records, f"{at}.branch{i}", branch)
            if depth >= 3 and f"{at}.project" in records:
                node.add("project").add(describe_op(records[f"{at}.project"]))
            if depth >= 3 and f"{at}.shortcut.0" in records:
                shortcut = node.add("shortcut")
                i = 0
                while f"{at}.shortcut.{i}" in records:
                    shortcut.add(describe_op(records[f"{at}.shortcut.{i}"]))
                    i += 1
        elif not isinstance(layer, Block):
            node.label = f"{node.label}  [dim]{op_label(layer)}[/]"
    if aux:
        for head in spec.aux_heads:
            cost = layers[head.name]
            node = root.add(f"[bold]{head.name}[/] (aux, at {head.at}, training only)  ⇒ "
                            f"{shape_str(cost.out_shape)}  {cost.params:,} params")
            if depth >= 3:
                _add_chain(node, records, head.name, head.layers)
    console.print(root)
    if spec.aux_heads:
        console.print(f"params with aux heads: {report.params(aux=True):,}")
    console.print(f"[dim]{CONVENTION}[/]")
