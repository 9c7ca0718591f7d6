"""``merge: residual``: ``act(shortcut(x) + scale * project(concat(branches(x))))``
(Inception-ResNet, ResNet). Module: ``ResidualBlock`` (``.branchI``, ``.project``, ``.shortcut``).

``shortcut: auto`` is the identity where the shapes agree and otherwise a 1x1 conv (+ the
network's norm, no activation) with the stride of branch 0: torchvision's ``downsample``.
``project: {conv: auto, ...}`` projects back to the block's input width.
Uncounted (as fvcore): the addition and the scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, get, join, optional_act
from .base import MergeKind, Placed, Rewrite, Shape, dump_chain, dump_op, evolve, fmt, register, rewrite_chain
from .concat import branch_chains
from .conv import Conv
from .split import chain_stride


@dataclass(frozen=True)
class ResidualMerge:
    KIND: ClassVar[str] = "residual"
    scale: float = 1.0
    project: Conv | None = None
    shortcut: str | tuple[Any, ...] = "identity"  # "identity" | "auto" | explicit ops
    act: str | None = None


@register
class ResidualKind(MergeKind):
    name = "residual"
    keys = ("scale", "project", "shortcut", "act")
    type = ResidualMerge

    def parse(self, ctx: Any, m: Any, path: str, d: Any) -> ResidualMerge | None:
        from ..parse import parse_chain, parse_op  # nested ops are read with every op kind

        scale = get(ctx, m, "scale", path, "float", 1.0, minimum=1e-6)
        project = None
        if "project" in m and m["project"] not in (None, "none"):
            op = parse_op(ctx, m["project"], m, "project", join(path, "project"), d)
            if op is not None and not isinstance(op, Conv):
                ctx.error(m, "project", join(path, "project"), "a projection must be a conv")
            project = op if isinstance(op, Conv) else None
        shortcut: str | tuple[Any, ...] | None = "identity"
        if "shortcut" in m:
            raw = m["shortcut"]
            if isinstance(raw, str):
                shortcut = raw if raw in ("identity", "auto") else None
                if shortcut is None:
                    ctx.error(m, "shortcut", join(path, "shortcut"),
                              f"unknown shortcut {raw!r}; expected identity, auto or a list of layers")
            else:
                shortcut = parse_chain(ctx, raw, m, "shortcut", join(path, "shortcut"), d)
        act = get(ctx, m, "act", path, "choice", d.act or "none", choices=ACTIVATIONS)
        if None in (scale, act, shortcut):
            return None
        return ResidualMerge(scale=scale, project=project, shortcut=shortcut, act=optional_act(act))  # type: ignore[arg-type]

    def to_dict(self, merge: ResidualMerge) -> dict[str, Any]:
        d: dict[str, Any] = {"scale": merge.scale}
        if merge.project is not None:
            d["project"] = dump_op(merge.project)
        d["shortcut"] = merge.shortcut if isinstance(merge.shortcut, str) else dump_chain(merge.shortcut)
        d["act"] = merge.act or "none"
        return d

    def rewrite(self, merge: ResidualMerge, rw: Rewrite) -> ResidualMerge:
        """Widths of the projection and shortcut scale; the shortcut loses its stride in
        repetitions after the first; neither is factorized."""
        if rw.width == 1.0 and not (rw.unstride and isinstance(merge.shortcut, tuple)):
            return merge
        project = merge.project
        if project is not None:
            project = rewrite_chain((project,), Rewrite(rw.width, rw.divisor))[0]
        shortcut = merge.shortcut
        if isinstance(shortcut, tuple):
            shortcut = rewrite_chain(shortcut, Rewrite(rw.width, rw.divisor, (), rw.unstride))
        return evolve(merge, project=project, shortcut=shortcut)

    def place(self, block: Any, shape: Shape, pc: Any, where: str, rw: Rewrite) -> Placed:
        merge = self.rewrite(block.merge, rw)
        branches = tuple(rewrite_chain(b, rw) for b in block.branches)
        parts, out = pc.concat(branches, shape, where)
        if merge.project is not None:
            project = merge.project
            if project.out is None:  # "auto": back to the block's input width, for the sum
                project = evolve(project, out=shape[0])
            node = pc.op(project, out, f"{where}.project")
            parts += (("project", node),)
            out = node.out_shape
        short = shape
        if merge.shortcut == "auto":
            if shape != out:
                conv = pc.defaults.shortcut_conv(out[0], chain_stride(branches[0]))
                chain, short = pc.chain((conv,), shape, f"{where}.shortcut")
                parts += (("shortcut", chain),)
        elif merge.shortcut != "identity":
            chain, short = pc.chain(merge.shortcut, shape, f"{where}.shortcut")
            parts += (("shortcut", chain),)
        if short != out:
            raise pc.fail(where, f"residual sum needs equal shapes: the branches give {fmt(out)}, "
                                 f"the shortcut gives {fmt(short)} (input {fmt(shape)})")
        return Placed(block, self, shape, out, 0, parts)

    def cost(self, node: Placed) -> tuple:
        return (), 0, ((("mul", 1), ("add", 1)) if node.op.merge.scale != 1.0 else (("add", 1),))

    def memory(self, node: Placed, run: Any, x: Any) -> Any:
        """``project`` allocates, ``y * scale`` allocates, the shortcut runs while ``y`` is
        alive, ``+`` allocates, and the in-place activation after it allocates nothing."""
        merge = node.op.merge
        y = run.concat([run.chain_step(chain) for chain in branch_chains(node)], x)
        project = node.part("project")
        if project is not None:
            projected = run.visit(project, y)
            run.release(y)
            y = projected
        if merge.scale != 1.0:
            scaled = run.tensor(y.nbytes, run.node([y], []))
            run.release(y)
            y = scaled
        shortcut = node.part("shortcut")
        short = run.chain(shortcut, x) if shortcut is not None else run.keep(x)
        total = run.tensor(y.nbytes, run.node([y, short], [], kind=run.PASSES))
        run.release(short)
        run.release(y)
        return run.then_activation(merge.act, total)

    def build(self, node: Placed, b: Any) -> Any:
        merge = node.op.merge
        project, shortcut = node.part("project"), node.part("shortcut")
        return b.layers.ResidualBlock([b.chain(chain) for chain in branch_chains(node)],
                                      b.visit(project) if project is not None else None,
                                      b.chain(shortcut) if shortcut is not None else None,
                                      merge.scale, b.activation(merge.act) if merge.act else None)

    def label(self, merge: ResidualMerge) -> str:
        return f"residual, scale {merge.scale}"

    def paper_type(self, merge: ResidualMerge) -> str:
        return f"residual (x{merge.scale:g})"
