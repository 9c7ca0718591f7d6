"""``lrn``: local response normalization across channels (AlexNet, GoogLeNet paper). Uncounted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, get, parse_name
from .base import OpKind, Placed, Shape, register


@dataclass(frozen=True)
class LRN:
    """Local response normalization across channels (AlexNet, GoogLeNet paper)."""

    KIND: ClassVar[str] = "lrn"
    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    name: str | None = None


@register
class LRNKind(OpKind):
    keys = ("lrn",)
    type = LRN

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> LRN | None:
        check_keys(ctx, m, path, ("lrn", "alpha", "beta", "k", "name"), "an lrn")
        size = get(ctx, m, "lrn", path, "int", minimum=1)
        alpha = get(ctx, m, "alpha", path, "float", 1e-4)
        beta = get(ctx, m, "beta", path, "float", 0.75)
        k = get(ctx, m, "k", path, "float", 1.0)
        name = parse_name(ctx, m, path)
        if None in (size, alpha, beta, k):
            return None
        return LRN(size=size, alpha=alpha, beta=beta, k=k, name=name)

    def to_dict(self, op: LRN) -> dict[str, Any]:
        return {"lrn": op.size, "alpha": op.alpha, "beta": op.beta, "k": op.k}

    def place(self, op: LRN, shape: Shape, pc: Any, where: str) -> Placed:
        pc.feature_map(shape, where, "local response norm")
        return Placed(op, self, shape, shape)

    def cost(self, node: Placed) -> tuple:
        return (), 0, (("local_response_norm", 1),)

    def memory(self, node: Placed, run: Any, x: Any) -> Any:
        """``F.local_response_norm`` as it decomposes: x*x, pad, avg_pool3d, *alpha, +k, **beta, x/div."""
        a = x.nbytes
        c, h, w = node.in_shape
        padded = run.n * (c + node.op.size - 1) * h * w * run.d
        sq = run.tensor(a, run.node([x, x], [run.save(x.storage), run.save(x.storage)]))
        pad = run.tensor(padded, run.node([sq], []))
        run.release(sq)
        avg = run.tensor(a, run.node([pad], [run.save(pad.storage)]))
        run.release(pad)
        scaled = run.tensor(a, run.node([avg], []))
        shifted = run.tensor(a, run.node([scaled], [], kind=run.PASSES))
        run.release(scaled)
        powered = run.tensor(a, run.node([shifted], [run.save(shifted.storage)], scratch=2 * a))
        run.release(shifted)
        run.release(avg)
        out = run.tensor(a, run.node([x, powered], [run.save(x.storage), run.save(powered.storage)], scratch=2 * a))
        run.release(powered)
        return out

    def build(self, node: Placed, b: Any) -> Any:
        op = node.op
        return b.nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k)
