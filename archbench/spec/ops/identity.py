"""``identity``: returns its input (a placeholder, e.g. a branch that passes the input on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, describe, join, parse_name
from .base import OpKind, Placed, register


@dataclass(frozen=True)
class Identity:
    KIND: ClassVar[str] = "identity"
    name: str | None = None


@register
class IdentityKind(OpKind):
    keys = ("identity",)
    type = Identity

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Identity | None:
        check_keys(ctx, m, path, ("identity", "name"), "an identity")
        if m["identity"] is not True and m["identity"] is not None:  # not "in": 1 == True
            ctx.error(m, "identity", join(path, "identity"), f"write 'identity: true', found {describe(m['identity'])}")
        return Identity(name=parse_name(ctx, m, path))

    def to_dict(self, op: Identity) -> dict[str, Any]:
        return {"identity": True}

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        return run.keep(v)  # the input itself

    def build(self, node: Placed, b: Any) -> Any:
        return b.nn.Identity()
