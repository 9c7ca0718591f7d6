"""``split``: parallel chains on one input, concatenated on channels, inside a branch
(Inception-v3's expansion: 1x3 ‖ 3x1 after a shared 1x1). Module: ``Concat`` (``.branchI``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, parse_name
from .base import OpKind, Pair, Placed, Rewrite, Shape, dump_chain, evolve, kind_of, register, rewrite_chain


@dataclass(frozen=True)
class Split:
    """Parallel chains applied to the same input, outputs concatenated on channels."""

    KIND: ClassVar[str] = "split"
    branches: tuple[tuple[Any, ...], ...]
    name: str | None = None


def chain_stride(ops: tuple[Any, ...]) -> Pair:
    """Total stride along a chain: the stride an ``auto`` projection shortcut must take."""
    sh = sw = 1
    for op in ops:
        s = kind_of(op).stride(op)
        sh, sw = sh * s[0], sw * s[1]
    return (sh, sw)


@register
class SplitKind(OpKind):
    keys = ("split",)
    type = Split

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Split | None:
        from ..parse import parse_branches  # the parser reads nested chains with every op kind

        check_keys(ctx, m, path, ("split", "name"), "a split")
        branches = parse_branches(ctx, m, "split", path, d)
        name = parse_name(ctx, m, path)
        return None if branches is None else Split(branches=branches, name=name)

    def to_dict(self, op: Split) -> dict[str, Any]:
        return {"split": [dump_chain(b) for b in op.branches]}

    def rewrite(self, op: Split, rw: Rewrite) -> tuple[Split, ...]:
        return (evolve(op, branches=tuple(rewrite_chain(b, rw) for b in op.branches)),)

    def stride(self, op: Split) -> Pair:
        return chain_stride(op.branches[0])

    def place(self, op: Split, shape: Shape, pc: Any, where: str) -> Placed:
        parts, out = pc.concat(op.branches, shape, where)
        return Placed(op, self, shape, out, 0, parts)

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        return run.concat([run.chain_step(chain) for _, chain in node.parts], v)

    def build(self, node: Placed, b: Any) -> Any:
        return b.layers.Concat([b.chain(chain) for _, chain in node.parts])

    def label(self, op: Split) -> str:
        return f"split into {len(op.branches)} (concat)"
