"""``adaptive_avgpool`` / ``adaptive_maxpool`` / ``global_pool``: pooling to a fixed output grid.

Average: one FLOP per input element (fvcore's ``adaptive_avg_pool2d``); max: uncounted.
``global_pool`` is a 1x1 pool followed by a flatten (``nn.Sequential(pool, flatten)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, get, parse_name, parse_pair
from .base import OpKind, Pair, Placed, Shape, pair_text, register


@dataclass(frozen=True)
class AdaptivePool:
    """Adaptive pooling to a fixed output grid; ``flatten`` makes it a global pool + flatten."""

    KIND: ClassVar[str] = "adaptive_pool"
    kind: str  # "max" | "avg"
    output: Pair
    flatten: bool = False
    name: str | None = None


@register
class AdaptivePoolKind(OpKind):
    keys = ("adaptive_avgpool", "adaptive_maxpool", "global_pool")
    type = AdaptivePool

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> AdaptivePool | None:
        if key == "global_pool":
            check_keys(ctx, m, path, ("global_pool", "name"), "a global_pool")
            kind = get(ctx, m, "global_pool", path, "choice", choices=("avg", "max"))
            name = parse_name(ctx, m, path)
            return None if kind is None else AdaptivePool(kind=kind, output=(1, 1), flatten=True, name=name)
        check_keys(ctx, m, path, (key, "name"), f"an {key}")
        output = parse_pair(ctx, m, key, path, m[key])
        name = parse_name(ctx, m, path)
        return None if output is None else AdaptivePool(kind=key[9:12], output=output, name=name)

    def to_dict(self, op: AdaptivePool) -> dict[str, Any]:
        return {"global_pool": op.kind} if op.flatten else {f"adaptive_{op.kind}pool": pair_text(op.output)}

    def place(self, op: AdaptivePool, shape: Shape, pc: Any, where: str) -> Placed:
        c = pc.feature_map(shape, where, "an adaptive pool")[0]
        oh, ow = op.output
        return Placed(op, self, shape, (c * oh * ow,) if op.flatten else (c, oh, ow))

    def cost(self, node: Placed) -> tuple:
        if node.op.kind == "avg":
            c, h, w = node.in_shape
            return (("adaptive_avg_pool2d", c * h * w),), 0, ()
        return (), 0, (("adaptive_max_pool2d", 1),)

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        op = node.op
        nbytes = run.size((node.in_shape[0], *op.output))  # a flatten after it is a view
        if op.kind == "avg" and op.output == (1, 1):  # PyTorch computes it as a mean: saves nothing
            return run.tensor(nbytes, run.node([v], []))
        return run.pool(op.kind == "max", nbytes, v)

    def build(self, node: Placed, b: Any) -> Any:
        op = node.op
        pool = b.nn.AdaptiveAvgPool2d(op.output) if op.kind == "avg" else b.nn.AdaptiveMaxPool2d(op.output)
        return b.nn.Sequential(b.OrderedDict(pool=pool, flatten=b.nn.Flatten(1))) if op.flatten else pool
