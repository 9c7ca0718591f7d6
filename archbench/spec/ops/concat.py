"""``merge: concat``: branch outputs concatenated on channels, then an optional activation
(an Inception module or a reduction block). Module: ``InceptionBlock`` (``.branchI``, ``.act``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, get, optional_act
from .base import MergeKind, Placed, Rewrite, Shape, register


@dataclass(frozen=True)
class ConcatMerge:
    KIND: ClassVar[str] = "concat"
    act: str | None = None


def branch_chains(node: Placed) -> list[tuple[Placed, ...]]:
    """The placed branches of a block or split (parts ``branch0``, ``branch1``...)."""
    return [part for seg, part in node.parts if seg.startswith("branch")]


@register
class ConcatKind(MergeKind):
    name = "concat"
    keys = ("act",)
    type = ConcatMerge

    def parse(self, ctx: Any, m: Any, path: str, d: Any) -> ConcatMerge | None:
        act = get(ctx, m, "act", path, "choice", "none", choices=ACTIVATIONS)
        return None if act is None else ConcatMerge(act=optional_act(act))

    def to_dict(self, merge: ConcatMerge) -> dict[str, Any]:
        return {"act": merge.act or "none"}

    def place(self, block: Any, shape: Shape, pc: Any, where: str, rw: Rewrite) -> Placed:
        parts, out = pc.concat(block.branches, shape, where, rw)
        return Placed(block, self, shape, out, 0, parts)

    def cost(self, node: Placed) -> tuple:
        act = node.op.merge.act
        return (), 0, (((act, 1),) if act else ())

    def memory(self, node: Placed, run: Any, x: Any) -> Any:
        y = run.concat([run.chain_step(chain) for chain in branch_chains(node)], x)
        return run.then_activation(node.op.merge.act, y)

    def build(self, node: Placed, b: Any) -> Any:
        act = node.op.merge.act
        return b.layers.InceptionBlock([b.chain(chain) for chain in branch_chains(node)],
                                       b.activation(act) if act else None)

    def paper_type(self, merge: ConcatMerge) -> str:
        return "inception"
