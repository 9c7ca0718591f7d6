"""`archbench show TARGET`: the block tree with output shapes and params (analytic)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.tree import Tree

from ..cost.analysis import costs, totals
from ..spec import load_spec
from ..spec.ops.base import Placed, kind_of, merge_of
from ..spec.parse import parse_input_size
from ..spec.place import STACK, place
from ..errors import ArchbenchError
from .common import CONVENTION, check_at_least, check_at_most, console, human, shape_str, user_errors


def op_label(op: object) -> str:
    """A compact, paper-like description of one op: ``conv 3x3/2 p0 → 192 (bn+relu)``."""
    return kind_of(op).label(op)


def describe_op(node: Placed) -> str:
    """One op of the tree: label, output shape, and its params and FLOPs (everything inside it
    included, a split's branches too) when not zero."""
    params, flops, _ = totals(node)
    counts = "  ".join(([f"{params:,} params"] if params else []) + ([human(flops, "FLOPs")] if flops else []))
    return f"{op_label(node.op)}  ⇒ {shape_str(node.out_shape)}" + (f"  [dim]{counts}[/]" if counts else "")


def _add_chain(tree: Tree, nodes: tuple[Placed, ...]) -> None:
    for node in nodes:
        child = tree.add(describe_op(node))
        for segment, part in node.parts:  # a split's branches
            _add_chain(child.add(segment), part if isinstance(part, tuple) else (part,))


def _add_block(tree: Tree, node: Placed, depth: int) -> None:
    """A block's branches (depth 2) and their ops, projection and shortcut (depth 3); a repeated
    block shows its first repetition."""
    if node.kind is STACK:
        node = node.parts[0][1]
    for segment, part in node.parts:
        if segment.startswith("branch"):
            child = tree.add(segment)
            if depth >= 3:
                _add_chain(child, part)
        elif depth >= 3:
            _add_chain(tree.add(segment), part if isinstance(part, tuple) else (part,))


def _node_json(node: Placed) -> dict[str, Any]:
    """One placed op, with its parts (a split's branches), as the tree shows it."""
    params, flops, _ = totals(node)
    out: dict[str, Any] = {"op": op_label(node.op), "output_shape": list(node.out_shape), "params": params,
                           "flops": flops}
    parts = [{"segment": segment, "ops": [_node_json(n) for n in (part if isinstance(part, tuple) else (part,))]}
             for segment, part in node.parts]
    if parts:
        out["parts"] = parts
    return out


def _block_json(node: Placed, depth: int) -> list[dict[str, Any]]:
    """A block's branches (depth 2: names only; depth 3: with their ops), projection and shortcut."""
    if node.kind is STACK:
        node = node.parts[0][1]
    return [{"segment": segment, **({"ops": [_node_json(n) for n in (part if isinstance(part, tuple) else (part,))]}
                                     if depth >= 3 else {})}
            for segment, part in node.parts if depth >= 3 or segment.startswith("branch")]


@user_errors
def show(
    target: Annotated[str, typer.Argument(help="Zoo name or path to a spec YAML file.")],
    input: Annotated[str | None, typer.Option("--input", help="Input size: 224, 3x224x224.")] = None,
    aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Also show the aux heads.")] = True,
    depth: Annotated[int, typer.Option(help="1: blocks only; 2: branches too; 3: every op (the deepest).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON on stdout (same --depth).")] = False,
) -> None:
    """Show the block tree of a network: output shape, params and FLOPs of every block and op."""
    check_at_least("--depth", depth, 1)
    check_at_most("--depth", depth, 3, "1: blocks, 2: branches, 3: every op")
    spec = load_spec(target)
    size = None
    if input is not None:
        size = parse_input_size(input if not input.isdigit() else int(input), spec.input[0])
        if size is None:
            raise ArchbenchError(f"--input: expected 224 or CxHxW such as 3x224x224, got {input!r}")
    net = place(spec, size)
    report = costs(net)
    if as_json:
        typer.echo(json.dumps(_tree_json(spec, net, report, aux, depth), indent=2))
        return
    root = Tree(f"[bold]{spec.name}[/]  input {shape_str(report.input)}  "
                f"{report.params(aux=False):,} params  {human(report.flops, 'FLOPs')}"
                + (f"\n[dim]reference: {spec.reference}[/]" if spec.reference else ""))
    rows = {x.name: x for x in report.layers}
    for name, node in net.layers:
        cost = rows[name]
        label = f"[bold]{name}[/]"
        block = node.op if node.op.KIND == "block" else None
        if block is not None and node.kind is STACK:
            label += f" ×{len(node.parts)}"
        tree = root.add(f"{label}  ⇒ {shape_str(cost.out_shape)}  {cost.params:,} params  {human(cost.flops, 'FLOPs')}")
        if block is not None and depth >= 2:
            tree.label = f"{tree.label}  [dim]({merge_of(block.merge).label(block.merge)})[/]"
            _add_block(tree, node, depth)
        elif block is None:
            tree.label = f"{tree.label}  [dim]{op_label(node.op)}[/]"
    if aux:
        for head, chain, _ in net.aux:
            cost = rows[head.name]
            tree = root.add(f"[bold]{head.name}[/] (aux, at {head.at}, training only)  ⇒ "
                            f"{shape_str(cost.out_shape)}  {cost.params:,} params  {human(cost.flops, 'FLOPs')}")
            if depth >= 3:
                _add_chain(tree, chain)
    console.print(root)
    if spec.aux_heads:
        console.print(f"params with aux heads: {report.params(aux=True):,}")
    console.print(f"[dim]{CONVENTION}[/]")


def _tree_json(spec: Any, net: Any, report: Any, aux: bool, depth: int) -> dict[str, Any]:
    """What ``show`` prints, as data: every layer with its shape, params and FLOPs; blocks with
    their repeats, merge and (by ``depth``) branches and ops; the aux heads when asked."""
    rows = {x.name: x for x in report.layers}
    layers = []
    for name, node in net.layers:
        cost = rows[name]
        block = node.op if node.op.KIND == "block" else None
        entry: dict[str, Any] = {"name": name, "output_shape": list(cost.out_shape), "params": cost.params,
                                 "flops": cost.flops}
        if block is None:
            entry["op"] = op_label(node.op)
        else:
            entry["repeats"] = len(node.parts) if node.kind is STACK else 1
            entry["merge"] = merge_of(block.merge).label(block.merge)
            if depth >= 2:
                entry["parts"] = _block_json(node, depth)
        layers.append(entry)
    heads = [{"name": head.name, "at": head.at, "output_shape": list(rows[head.name].out_shape),
              "params": rows[head.name].params, **({"ops": [_node_json(n) for n in chain]} if depth >= 3 else {})}
             for head, chain, _ in net.aux] if aux else []
    return {"name": spec.name, "reference": spec.reference, "input": list(report.input),
            "params": report.params(aux=False), "params_with_aux": report.params(aux=True), "flops": report.flops,
            "layers": layers, "aux_heads": heads, "convention": CONVENTION}
