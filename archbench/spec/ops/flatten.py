"""``flatten``: a feature map to a flat vector (a view: no memory, no cost)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, describe, join, parse_name
from .base import OpKind, Placed, Shape, register


@dataclass(frozen=True)
class Flatten:
    KIND: ClassVar[str] = "flatten"
    name: str | None = None


@register
class FlattenKind(OpKind):
    keys = ("flatten",)
    type = Flatten

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Flatten | None:
        check_keys(ctx, m, path, ("flatten", "name"), "a flatten")
        if m["flatten"] is not True and m["flatten"] is not None:  # not "in": 1 == True
            ctx.error(m, "flatten", join(path, "flatten"), f"write 'flatten: true', found {describe(m['flatten'])}")
        return Flatten(name=parse_name(ctx, m, path))

    def to_dict(self, op: Flatten) -> dict[str, Any]:
        return {"flatten": True}

    def place(self, op: Flatten, shape: Shape, pc: Any, where: str) -> Placed:
        return Placed(op, self, shape, (math.prod(shape),))

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        return run.keep(v)  # a view

    def build(self, node: Placed, b: Any) -> Any:
        return b.nn.Flatten(1)
