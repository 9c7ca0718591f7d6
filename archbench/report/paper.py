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

from ..cost.analysis import costs
from ..spec.ops.base import Placed, merge_of
from ..spec.place import STACK, place
from ..spec.schema import Spec

COLUMNS = ["name", "type", "output", "depth", "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5",
           "pool proj", "params", "ops"]


def _convs(nodes: tuple[Placed, ...]) -> list[Placed]:
    """The convs along a chain, splits included, in order."""
    out: list[Placed] = []
    for node in nodes:
        if node.op.KIND == "conv":
            out.append(node)
        for _, part in node.parts:
            out.extend(_convs(part))
    return out


def _depth(nodes: tuple[Placed, ...]) -> int:
    """Layers with parameters along the deepest path (a split counts its deepest branch)."""
    n = 0
    for node in nodes:
        n += node.kind.layer_depth
        if node.parts:
            n += max(_depth(part) for _, part in node.parts)
    return n


def _width(nodes: tuple[Placed, ...]) -> int | None:
    last = nodes[-1]
    return last.out_shape[0] if last.op.KIND in ("conv", "split") else None


def paper_rows(spec: Spec, input_size: tuple[int, int, int] | None = None) -> list[dict[str, Any]]:
    net = place(spec, input_size)
    report = costs(net)
    rows = []
    for name, node in net.layers:
        cost = report.layer(name)
        row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
        shape = cost.out_shape  # the paper writes H x W x C
        row.update(name=name, output=f"{shape[1]}x{shape[2]}x{shape[0]}" if len(shape) == 3 else str(shape[0]),
                   params=cost.params, ops=cost.flops)
        if node.op.KIND == "block":
            block = node.op
            count = len(node.parts) if node.kind is STACK else 1
            first = node.parts[0][1] if node.kind is STACK else node
            branches = [part for seg, part in first.parts if seg.startswith("branch")]
            row["type"] = merge_of(block.merge).paper_type(block.merge)
            if node.kind is STACK:
                row["type"] += f" ×{count}"
            row["depth"] = max(_depth(b) for b in branches) * count
            slots = ["3x3", "5x5"]
            for branch in branches:
                convs = _convs(branch)
                if branch[0].op.KIND == "pool":
                    row["pool proj"] = _width(branch) or ""
                elif len(convs) == 1 and convs[0].op.kernel == (1, 1) and len(branch) == 1:
                    row["#1x1"] = convs[0].out_shape[0]
                elif slots and convs:
                    slot = slots.pop(0)
                    if convs[0].op.kernel == (1, 1) and len(convs) > 1:
                        row[f"#{slot} reduce"] = convs[0].out_shape[0]
                    row[f"#{slot}"] = _width(branch) or ""
        else:
            row["type"] = node.kind.paper_type(node.op)
            row["depth"] = node.kind.layer_depth or ""
        rows.append(row)
    return rows
