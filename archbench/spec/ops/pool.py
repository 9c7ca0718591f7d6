"""``maxpool`` / ``avgpool``: pooling over a window. No FLOPs (as fvcore), no parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import check_keys, get, join, parse_name, parse_padding, parse_pair
from .base import OpKind, Pair, Placed, Rewrite, Shape, evolve, fmt, k, pair_text, register


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over a window (``maxpool`` / ``avgpool`` in YAML)."""

    KIND: ClassVar[str] = "pool"
    kind: str  # "max" | "avg"
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = True  # average pooling only
    name: str | None = None


def pool_out(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size, including its ceil-mode rule that the last window
    must start inside the input or its left padding."""
    numerator = n + 2 * p - k + ((s - 1) if ceil_mode else 0)
    out = numerator // s + 1 if numerator >= 0 else 0
    if ceil_mode and out > 0 and (out - 1) * s >= n + p:
        out -= 1
    return out


@register
class PoolKind(OpKind):
    keys = ("maxpool", "avgpool")
    type = Pool

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Pool | None:
        kind = key[:3]
        allowed = (key, "stride", "padding", "ceil_mode", *(("count_include_pad",) if kind == "avg" else ()), "name")
        check_keys(ctx, m, path, allowed, f"a {key}")
        kernel = parse_pair(ctx, m, key, path, m[key])
        stride = parse_pair(ctx, m, "stride", path, m["stride"]) if "stride" in m else kernel
        padding = parse_padding(ctx, m, path, kernel, default=0)
        ceil_mode = get(ctx, m, "ceil_mode", path, "bool", False)
        include_pad = get(ctx, m, "count_include_pad", path, "bool", True)
        name = parse_name(ctx, m, path)
        if kernel and padding and (padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2):
            ctx.error(m, "padding", join(path, "padding"),
                      f"pooling padding {padding} must be at most half the kernel {kernel}")
            return None
        if None in (kernel, stride, padding, ceil_mode, include_pad):
            return None
        return Pool(kind=kind, kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                    count_include_pad=include_pad, name=name)

    def to_dict(self, op: Pool) -> dict[str, Any]:
        d = {f"{op.kind}pool": pair_text(op.kernel), "stride": pair_text(op.stride),
             "padding": pair_text(op.padding), "ceil_mode": op.ceil_mode}
        if op.kind == "avg":
            d["count_include_pad"] = op.count_include_pad
        return d

    def rewrite(self, op: Pool, rw: Rewrite) -> tuple[Pool, ...]:
        return (evolve(op, stride=(1, 1)),) if rw.unstride and op.stride != (1, 1) else (op,)

    def stride(self, op: Pool) -> Pair:
        return op.stride

    def place(self, op: Pool, shape: Shape, pc: Any, where: str) -> Placed:
        c, h, w = pc.feature_map(shape, where, f"a {op.kind}pool")
        (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
        size = (pool_out(h, kh, sh, ph, op.ceil_mode), pool_out(w, kw, sw, pw, op.ceil_mode))
        if size[0] < 1 or size[1] < 1:
            raise pc.fail(where, f"a {op.kernel[0]}x{op.kernel[1]} {op.kind}pool (stride {op.stride[0]}) on "
                                 f"{fmt(shape)} leaves no output: the spatial size reaches zero")
        return Placed(op, self, shape, (c, size[0], size[1]))

    def cost(self, node: Placed) -> tuple:
        return (), 0, ((f"{node.op.kind}_pool2d", 1),)

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        return run.pool(node.op.kind == "max", run.size(node.out_shape), v)

    def build(self, node: Placed, b: Any) -> Any:
        op = node.op
        if op.kind == "max":
            return b.nn.MaxPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode)
        return b.nn.AvgPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode,
                              count_include_pad=op.count_include_pad)

    def label(self, op: Pool) -> str:
        flags = (" ceil" if op.ceil_mode else "") + (" exclude-pad" if op.kind == "avg" and not op.count_include_pad else "")
        return f"{op.kind}pool {k(op.kernel)}/{op.stride[0]} p{op.padding[0]}{flags}"

    def name_stem(self, op: Pool) -> str:
        return f"{op.kind}pool"

    def paper_type(self, op: Pool) -> str:
        return f"{op.kind} pool {op.kernel[0]}x{op.kernel[1]}/{op.stride[0]}"
