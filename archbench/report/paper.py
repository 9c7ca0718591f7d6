"""GoogLeNet's Table 1 for any Inception network, from its spec (no torch).

Columns: type, output size, depth, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj,
params, ops. Branches of a concat block are classified the way the paper's table reads: a lone
1x1 conv is "#1x1"; a branch that starts with pooling is "pool proj" (its conv width); the other
branches, in order, are the 3x3 and the 5x5 branches, with their leading 1x1 as the "reduce"
and their last conv's width as the output (torchvision's GoogLeNet puts a 3x3 in the 5x5 slot;
it still appears in the #5x5 column, as the table describes that branch).
"""

from __future__ import annotations

from typing import Any

from ..cost import analyze
from ..spec.schema import Block, Conv, Op, Pool, Spec, Split
from ..spec.transform import resolve

COLUMNS = ["name", "type", "output", "depth", "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5",
           "pool proj", "params", "ops"]


def _convs(ops: tuple[Op, ...]) -> list[Conv]:
    out: list[Conv] = []
    for op in ops:
        if isinstance(op, Conv):
            out.append(op)
        elif isinstance(op, Split):
            out.extend(c for b in op.branches for c in _convs(b))
    return out


def _depth(ops: tuple[Op, ...]) -> int:
    n = 0
    for op in ops:
        if isinstance(op, Conv):
            n += 1
        elif isinstance(op, Split):
            n += max(_depth(b) for b in op.branches)
    return n


def _width(ops: tuple[Op, ...]) -> int | None:
    last = ops[-1]
    if isinstance(last, Split):
        return sum(_width(b) or 0 for b in last.branches)
    return last.out if isinstance(last, Conv) else None


def paper_rows(spec: Spec, input_size: tuple[int, int, int] | None = None) -> list[dict[str, Any]]:
    spec = resolve(spec)
    report = analyze(spec, input_size)
    rows = []
    for layer in (*spec.body, *spec.head):
        cost = report.layer(layer.name or "")
        row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
        shape = cost.out_shape  # the paper writes H x W x C
        row.update(name=layer.name, output=f"{shape[1]}x{shape[2]}x{shape[0]}" if len(shape) == 3 else str(shape[0]),
                   params=cost.params, ops=cost.flops)
        if isinstance(layer, Block):
            row["type"] = "inception" if layer.merge == "concat" else f"residual (x{layer.scale:g})"
            if layer.repeat:
                row["type"] += f" ×{layer.repeat}"
            row["depth"] = max(_depth(b) for b in layer.branches) * layer.count
            slots = ["3x3", "5x5"]
            for branch in layer.branches:
                convs = _convs(branch)
                if isinstance(branch[0], Pool):
                    row["pool proj"] = _width(branch) or ""
                elif len(convs) == 1 and convs[0].kernel == (1, 1) and len(branch) == 1:
                    row["#1x1"] = convs[0].out
                elif slots and convs:
                    slot = slots.pop(0)
                    if convs[0].kernel == (1, 1) and len(convs) > 1:
                        row[f"#{slot} reduce"] = convs[0].out
                    row[f"#{slot}"] = _width(branch) or ""
        else:
            kind = type(layer).__name__.lower()
            if isinstance(layer, Conv):
                kind = f"conv {layer.kernel[0]}x{layer.kernel[1]}/{layer.stride[0]}"
                row["depth"] = 1
            elif isinstance(layer, Pool):
                kind = f"{layer.kind} pool {layer.kernel[0]}x{layer.kernel[1]}/{layer.stride[0]}"
            elif kind == "linear":
                row["depth"] = 1
            row["type"] = kind
        rows.append(row)
    return rows
