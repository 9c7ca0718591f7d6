"""``linear``: a fully connected layer, optionally followed by an activation.

``linear: classes`` takes the network's class count. N x in x out FLOPs (bias not counted);
activations: its outputs. Widths are never scaled (the classifier keeps ``classes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, check_keys, get, join, optional_act, parse_name
from .base import OpKind, Placed, Shape, fmt, register


@dataclass(frozen=True)
class Linear:
    """Fully connected layer, optionally followed by an activation."""

    KIND: ClassVar[str] = "linear"
    out: int
    bias: bool = True
    act: str | None = None
    name: str | None = None


@register
class LinearKind(OpKind):
    keys = ("linear",)
    type = Linear
    layer_depth = 1

    def largest_tensor(self, node: Placed) -> int:
        return node.in_shape[0] * node.op.out  # the weight; the bias is smaller

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Linear | None:
        check_keys(ctx, m, path, ("linear", "bias", "act", "name"), "a linear")
        if m["linear"] == "classes":
            out = ctx.classes
            if out is None:
                ctx.error(m, "linear", join(path, "linear"), "'classes' is not known here; give a number")
        else:
            out = get(ctx, m, "linear", path, "int", minimum=1)
        bias = get(ctx, m, "bias", path, "bool", True)
        act = get(ctx, m, "act", path, "choice", "none", choices=ACTIVATIONS)
        name = parse_name(ctx, m, path)
        if None in (out, bias):
            return None
        return Linear(out=out, bias=bias, act=optional_act(act), name=name)

    def to_dict(self, op: Linear) -> dict[str, Any]:
        return {"linear": op.out, "bias": op.bias, "act": op.act or "none"}

    def place(self, op: Linear, shape: Shape, pc: Any, where: str) -> Placed:
        if len(shape) != 1:
            raise pc.fail(where, f"a linear layer needs a flat vector; got {fmt(shape)} "
                                 "(add a flatten or global_pool before it)")
        return Placed(op, self, shape, (op.out,), shape[0] * op.out + (op.out if op.bias else 0))

    def cost(self, node: Placed) -> tuple:
        return (("linear", node.in_shape[0] * node.op.out),), node.op.out, ()

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        op, fin = node.op, node.in_shape[0]
        weights = (fin * op.out * run.d,) + ((op.out * run.d,) if op.bias else ())
        out = run.tensor(run.n * op.out * run.d, run.node([v], [run.save(v.storage)], weights))
        return run.then_activation(op.act, out)

    def build(self, node: Placed, b: Any) -> Any:
        op = node.op
        fc = b.nn.Linear(node.in_shape[0], op.out, bias=op.bias)
        return b.nn.Sequential(b.OrderedDict(fc=fc, act=b.activation(op.act))) if op.act else fc
