"""``dropout``: zeroes elements with probability ``p`` in training; the identity at inference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, get, parse_name
from .base import OpKind, Placed, register


@dataclass(frozen=True)
class Dropout:
    KIND: ClassVar[str] = "dropout"
    p: float
    name: str | None = None


@register
class DropoutKind(OpKind):
    keys = ("dropout",)
    type = Dropout

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Dropout | None:
        check_keys(ctx, m, path, ("dropout", "name"), "a dropout")
        p = get(ctx, m, "dropout", path, "float", minimum=0.0, maximum=0.999)
        name = parse_name(ctx, m, path)
        return None if p is None else Dropout(p=p, name=name)

    def to_dict(self, op: Dropout) -> dict[str, Any]:
        return {"dropout": op.p}

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        if not run.train or node.op.p == 0:
            return run.keep(v)  # F.dropout returns its input
        mask = run.new(v.nbytes)  # on the meta device a float mask the size of its input
        return run.tensor(v.nbytes, run.node([v], [mask]))

    def build(self, node: Placed, b: Any) -> Any:
        return b.nn.Dropout(node.op.p)
