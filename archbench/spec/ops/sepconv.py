"""``sepconv``: a depthwise separable convolution (Chollet 2017, Xception; MobileNet).

A k x k depthwise conv (one filter per input channel, no bias) then a 1x1 pointwise conv to
``out`` channels, then batch norm and an activation, each optional::

    - {sepconv: 728, kernel: 3}                     # depthwise 3x3, pointwise 728, BN, ReLU
    - {sepconv: 728, kernel: 3, pre_act: relu, act: none}

``pre_act`` is an activation *before* the depthwise conv, built out of place (Xception's
blocks start with a ReLU whose input the residual shortcut still needs). The stride and
padding apply to the depthwise conv. Module: ``nn.Sequential`` with children ``pre_act``,
``depthwise``, ``pointwise``, ``bn``, ``act`` (those present).
Cost: both convs count as fvcore's ``conv`` (C x k_h x k_w x H_out x W_out for the depthwise,
out x C x H_out x W_out for the pointwise), BN 2 per output element; activations: the outputs
of both convs. Widths scale with the width multiplier; factorization leaves it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, NORMS, check_keys, get, optional_act, parse_name, parse_padding, parse_pair
from .base import OpKind, Pair, Placed, Rewrite, Shape, evolve, k, pair_text, register
from .conv import bn_memory, conv_memory, conv_output


@dataclass(frozen=True)
class SepConv:
    """Depthwise k x k conv, pointwise 1x1 conv to ``out`` channels, then norm and activation."""

    KIND: ClassVar[str] = "sepconv"
    out: int | None  # None means "auto": as many channels as the input
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    bias: bool = False  # of the pointwise conv; the depthwise conv never has one
    norm: str | None = "bn"
    bn_eps: float = 1e-5
    act: str | None = "relu"
    pre_act: str | None = None
    name: str | None = None


@register
class SepConvKind(OpKind):
    keys = ("sepconv",)
    type = SepConv
    layer_depth = 2  # two convolutions

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> SepConv | None:
        check_keys(ctx, m, path, ("sepconv", "kernel", "stride", "padding", "bias", "norm", "bn_eps", "act",
                                  "pre_act", "name"), "a sepconv")
        out = None if m["sepconv"] == "auto" else get(ctx, m, "sepconv", path, "int", minimum=1)
        kernel = parse_pair(ctx, m, "kernel", path, m.get("kernel", 3))
        stride = parse_pair(ctx, m, "stride", path, m.get("stride", 1))
        padding = parse_padding(ctx, m, path, kernel, default="same")
        norm = get(ctx, m, "norm", path, "choice", d.norm or "none", choices=NORMS)
        norm = None if norm == "none" else norm
        bias = get(ctx, m, "bias", path, "bool", d.conv_bias if d.conv_bias is not None else norm is None)
        eps = get(ctx, m, "bn_eps", path, "float", d.bn_eps, minimum=1e-12)
        act = get(ctx, m, "act", path, "choice", d.act or "none", choices=ACTIVATIONS)
        pre_act = get(ctx, m, "pre_act", path, "choice", "none", choices=ACTIVATIONS)
        name = parse_name(ctx, m, path)
        if None in (kernel, stride, padding, bias, eps, act, pre_act) or (out is None and m["sepconv"] != "auto"):
            return None
        return SepConv(out=out, kernel=kernel, stride=stride, padding=padding, bias=bias, norm=norm, bn_eps=eps,
                       act=optional_act(act), pre_act=optional_act(pre_act), name=name)

    def to_dict(self, op: SepConv) -> dict[str, Any]:
        d: dict[str, Any] = {"sepconv": "auto" if op.out is None else op.out, "kernel": pair_text(op.kernel),
                             "stride": pair_text(op.stride), "padding": pair_text(op.padding), "bias": op.bias,
                             "norm": op.norm or "none", "act": op.act or "none", "pre_act": op.pre_act or "none"}
        if op.norm:
            d["bn_eps"] = op.bn_eps
        return d

    def rewrite(self, op: SepConv, rw: Rewrite) -> tuple[SepConv, ...]:
        if rw.width != 1.0 and op.out is not None:
            op = evolve(op, out=rw.scale(op.out))
        if rw.unstride and op.stride != (1, 1):
            op = evolve(op, stride=(1, 1))
        return (op,)

    def stride(self, op: SepConv) -> Pair:
        return op.stride

    def place(self, op: SepConv, shape: Shape, pc: Any, where: str) -> Placed:
        c = pc.feature_map(shape, where, "a sepconv")[0]
        out = c if op.out is None else op.out
        ho, wo = conv_output(pc, shape, where, op.kernel, op.stride, op.padding, "sepconv")
        params = c * op.kernel[0] * op.kernel[1] + out * c + (out if op.bias else 0) + (2 * out if op.norm else 0)
        return Placed(op, self, shape, (out, ho, wo), params)

    def cost(self, node: Placed) -> tuple:
        op, c = node.op, node.in_shape[0]
        out, ho, wo = node.out_shape
        conv = ("conv", (c * op.kernel[0] * op.kernel[1] + out * c) * ho * wo)
        flops = (conv, ("batch_norm", 2 * out * ho * wo)) if op.norm else (conv,)
        return flops, (c + out) * ho * wo, ()

    def largest_tensor(self, node: Placed) -> int:
        c = node.in_shape[0]
        return max(c * node.op.kernel[0] * node.op.kernel[1], node.out_shape[0] * c)  # depthwise, pointwise

    def buffers(self, node: Placed) -> tuple[int, int]:
        return (2 * node.out_shape[0], 1) if node.op.norm == "bn" else (0, 0)

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        op, c = node.op, node.in_shape[0]
        cur = run.keep(v)
        if op.pre_act:
            nxt = run.activation(op.pre_act, cur, inplace=False)
            run.release(cur)
            cur = nxt
        mid = conv_memory(run, c, (c, *node.out_shape[1:]), op.kernel, c, False, cur)
        run.release(cur)
        out = conv_memory(run, c, node.out_shape, (1, 1), 1, op.bias, mid)
        run.release(mid)
        if op.norm == "bn":
            out = bn_memory(run, node.out_shape[0], out)
        return run.then_activation(op.act, out)

    def build(self, node: Placed, b: Any) -> Any:
        op, c, out = node.op, node.in_shape[0], node.out_shape[0]
        parts: dict[str, Any] = {}
        if op.pre_act:
            parts["pre_act"] = b.activation(op.pre_act, inplace=False)
        parts["depthwise"] = b.nn.Conv2d(c, c, op.kernel, op.stride, op.padding, groups=c, bias=False)
        parts["pointwise"] = b.nn.Conv2d(c, out, 1, bias=op.bias)
        if op.norm == "bn":
            parts["bn"] = b.nn.BatchNorm2d(out, eps=op.bn_eps)
        if op.act:
            parts["act"] = b.activation(op.act)
        return b.nn.Sequential(b.OrderedDict(parts))

    def label(self, op: SepConv) -> str:
        """``sepconv 3x3 p1 → 728 (relu, bn+relu)``: the pre-activation, then what follows."""
        stride = "" if op.stride == (1, 1) else f"/{op.stride[0]}"
        post = "+".join(x for x in (op.norm, op.act) if x) or "linear"
        pre = f"{op.pre_act}, " if op.pre_act else ""
        width = "auto" if op.out is None else op.out
        return f"sepconv {k(op.kernel)}{stride} p{op.padding[0]} → {width} ({pre}{post}{', bias' if op.bias else ''})"

    def paper_type(self, op: SepConv) -> str:
        return f"sepconv {op.kernel[0]}x{op.kernel[1]}/{op.stride[0]}"
