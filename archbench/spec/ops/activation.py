"""``activation``: a pointwise nonlinearity on its own (relu, relu6 and silu are built in place)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, check_keys, get, parse_name
from .base import OpKind, Placed, register


@dataclass(frozen=True)
class Activation:
    KIND: ClassVar[str] = "activation"
    act: str
    name: str | None = None


@register
class ActivationKind(OpKind):
    keys = ("activation",)
    type = Activation

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Activation | None:
        check_keys(ctx, m, path, ("activation", "name"), "an activation")
        act = get(ctx, m, "activation", path, "choice", choices=tuple(a for a in ACTIVATIONS if a != "none"))
        name = parse_name(ctx, m, path)
        return None if act is None else Activation(act=act, name=name)

    def to_dict(self, op: Activation) -> dict[str, Any]:
        return {"activation": op.act}

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        return run.activation(node.op.act, v)

    def build(self, node: Placed, b: Any) -> Any:
        return b.activation(node.op.act)
