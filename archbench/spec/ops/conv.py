"""``conv``: convolution, optionally followed by batch norm and an activation (timm's ConvNormAct).

Cost: N x C_out x (C_in / groups) x k_h x k_w x H_out x W_out FLOPs (bias not counted), BN
2 per output element (reported as ``batch_norm``, folded at inference); activations: its
output elements. Module: ``ConvNormAct`` (``.conv``, ``.bn``, ``.act``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, NORMS, check_keys, get, join, optional_act, parse_name, parse_padding, parse_pair
from .base import (OpKind, Pair, Placed, Rewrite, Shape, cache, evolve, fmt, intern, k, pair_text, register, remember)


@dataclass(frozen=True)
class Conv:
    """Convolution, optionally followed by batch norm and an activation (timm's ConvNormAct)."""

    KIND: ClassVar[str] = "conv"
    out: int | None  # None means "auto": as many channels as the input (residual projections)
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    groups: int = 1
    bias: bool = False
    norm: str | None = "bn"
    bn_eps: float = 1e-5
    act: str | None = "relu"
    factorizable: bool = True  # may a factorization transform rewrite this conv?
    name: str | None = None

    @property
    def is_same_padded(self) -> bool:
        """Stride 1 and padding k//2 on both axes: the output keeps the input's spatial size."""
        return self.stride == (1, 1) and self.padding == (self.kernel[0] // 2, self.kernel[1] // 2)


_REWRITTEN: dict[tuple, tuple[Conv, tuple[Conv]]] = cache()  # (id(op), width, unstride) -> (op, rewritten)
_FACTORIZED: dict[tuple, tuple[Conv, tuple[Conv, ...]]] = cache()  # (id(op), modes) -> (op, factorized)


def factorize_conv(conv: Conv, modes: tuple[str, ...]) -> tuple[Conv, ...]:
    """Rewrite one conv by the Inception papers' factorizations.

    ``5x5``: a same-padded 5x5 becomes two 3x3 (Inception-BN, Inception-v3 fig. 5).
    ``nxn``: a same-padded nxn (n >= 3) becomes 1xn then nx1 (Inception-v3 fig. 6); applied after
    ``5x5``, so both together turn a 5x5 into four asymmetric convs.
    Both keep the output width and every other setting (norm, activation, bias) of the original
    conv on each new conv. Strided, grouped or non-square convs are left alone: their
    factorized form would change the output shape.
    """
    if not conv.factorizable or conv.groups != 1 or not conv.is_same_padded:
        return (conv,)
    convs: tuple[Conv, ...] = (conv,)
    if "5x5" in modes and conv.kernel == (5, 5):
        three = replace(conv, kernel=(3, 3), padding=(1, 1), name=None)
        convs = (three, three)
    if "nxn" in modes:
        out: list[Conv] = []
        for c in convs:
            n = c.kernel[0]
            if c.kernel[0] == c.kernel[1] and n >= 3:
                out.append(replace(c, kernel=(1, n), padding=(0, n // 2), name=None))
                out.append(replace(c, kernel=(n, 1), padding=(n // 2, 0), name=None))
            else:
                out.append(c)
        convs = tuple(out)
    return convs


def conv_output(pc: Any, shape: Shape, where: str, kernel: Pair, stride: Pair, padding: Pair,
                what: str = "conv") -> tuple[int, int]:
    """Spatial output size of a convolution window, or the shape error naming it."""
    _, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if ho < 1 or wo < 1 or h + 2 * ph < kh or w + 2 * pw < kw:
        raise pc.fail(where, f"a {kh}x{kw} {what} (stride {sh}x{sw}, padding {ph}x{pw}) on "
                             f"{fmt(shape)} leaves no output: the spatial size reaches zero")
    return ho, wo


def conv_memory(run: Any, c_in: int, out_shape: Shape, kernel: Pair, groups: int, bias: bool, v: Any) -> Any:
    """A convolution: allocates its output, saves its input, produces weight (and bias) gradients."""
    c_out = out_shape[0]
    weights = (c_out * (c_in // groups) * kernel[0] * kernel[1] * run.d,) + ((c_out * run.d,) if bias else ())
    return run.tensor(run.size(out_shape), run.node([v], [run.save(v.storage)], weights))


def bn_memory(run: Any, channels: int, v: Any) -> Any:
    """Batch norm after a conv: allocates its output and two per-channel statistics (kept for
    backward in training, freed at once in eval); ``v`` (the conv output) is released."""
    bn_out = run.new(v.nbytes)
    st = run.new(2 * channels * run.d)
    node = run.node([v], [run.save(v.storage), st], (channels * run.d, channels * run.d))
    if not run.train:
        run.drop(st)
    out = run.value(bn_out, v.nbytes, node)
    run.release(v)  # the conv output dies here unless BN saved it
    return out


@register
class ConvKind(OpKind):
    keys = ("conv",)
    type = Conv
    layer_depth = 1

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Conv | None:
        check_keys(ctx, m, path, ("conv", "kernel", "stride", "padding", "groups", "bias", "norm",
                                  "bn_eps", "act", "factorize", "name"), "a conv")
        out_raw = m["conv"]
        out: int | None
        if out_raw == "auto":
            out = None
        else:
            out = get(ctx, m, "conv", path, "int", minimum=1)
        kernel = parse_pair(ctx, m, "kernel", path, m["kernel"]) if "kernel" in m else None
        if "kernel" not in m:
            ctx.error(m, None, join(path, "kernel"), "missing required field 'kernel'")
        stride = parse_pair(ctx, m, "stride", path, m.get("stride", 1))
        padding = parse_padding(ctx, m, path, kernel, default="same")
        groups = get(ctx, m, "groups", path, "int", 1, minimum=1)
        norm = get(ctx, m, "norm", path, "choice", d.norm or "none", choices=NORMS)
        norm = None if norm == "none" else norm
        bias_default = d.conv_bias if d.conv_bias is not None else norm is None
        bias = get(ctx, m, "bias", path, "bool", bias_default)
        eps = get(ctx, m, "bn_eps", path, "float", d.bn_eps, minimum=1e-12)
        act = get(ctx, m, "act", path, "choice", d.act or "none", choices=ACTIVATIONS)
        factorizable = get(ctx, m, "factorize", path, "bool", True)
        name = parse_name(ctx, m, path)
        if out is not None and groups and out % groups:
            ctx.error(m, "groups", join(path, "groups"), f"output channels {out} are not divisible by groups {groups}")
        if None in (kernel, stride, padding, groups, eps, bias) or (out is None and out_raw != "auto"):
            return None
        return Conv(out=out, kernel=kernel, stride=stride, padding=padding, groups=groups, bias=bias,
                    norm=norm, bn_eps=eps, act=optional_act(act), factorizable=factorizable, name=name)

    def to_dict(self, op: Conv) -> dict[str, Any]:
        d: dict[str, Any] = {"conv": "auto" if op.out is None else op.out, "kernel": pair_text(op.kernel),
                             "stride": pair_text(op.stride), "padding": pair_text(op.padding)}
        if op.groups != 1:
            d["groups"] = op.groups
        d.update(bias=op.bias, norm=op.norm or "none", act=op.act or "none")
        if op.norm:
            d["bn_eps"] = op.bn_eps
        if not op.factorizable:
            d["factorize"] = False
        return d

    def rewrite(self, op: Conv, rw: Rewrite) -> tuple[Conv, ...]:
        """Factorized (block branches only), then scaled, then unstrided (repetitions 1..)."""
        if rw.factorize:
            key = (id(op), rw.factorize)
            done = _FACTORIZED.get(key)
            if done is None or done[0] is not op:  # the same objects each time (see below)
                done = remember(_FACTORIZED, key, (op, tuple(map(intern, factorize_conv(op, rw.factorize)))))
            convs = done[1]
            if len(convs) > 1:
                return tuple(c for conv in convs for c in self.rewrite(conv, rw._replace(factorize=())))
        out = op.out
        width = out if rw.width == 1.0 or out is None else rw.scale(out)
        unstride = rw.unstride and op.stride != (1, 1)
        if width == out and not unstride:
            return (op,)  # a width the rounding keeps: the op itself
        key = (id(op), width, unstride)
        done = _REWRITTEN.get(key)
        if done is not None and done[0] is op:
            return done[1]  # the same op object as before, so placing it is looked up too
        new = evolve(op)
        if width != out:
            new.__dict__["out"] = width
        if unstride:
            new.__dict__["stride"] = (1, 1)
        return remember(_REWRITTEN, key, (op, (intern(new),)))[1]

    def stride(self, op: Conv) -> Pair:
        return op.stride

    def place(self, op: Conv, shape: Shape, pc: Any, where: str) -> Placed:
        if len(shape) != 3:
            pc.feature_map(shape, where, "a conv")  # raises
        c, h, w = shape
        out = c if op.out is None else op.out
        if c % op.groups:
            raise pc.fail(where, f"input channels {c} are not divisible by groups {op.groups}")
        (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if ho < 1 or wo < 1 or h + 2 * ph < kh or w + 2 * pw < kw:
            conv_output(pc, shape, where, op.kernel, op.stride, op.padding)  # raises, naming the sizes
        params = out * (c // op.groups) * kh * kw + (out if op.bias else 0) + (2 * out if op.norm else 0)
        return Placed(op, self, shape, (out, ho, wo), params)

    def cost(self, node: Placed) -> tuple:
        op = node.op
        out, ho, wo = node.out_shape
        elements = out * ho * wo
        conv = ("conv", out * (node.in_shape[0] // op.groups) * op.kernel[0] * op.kernel[1] * ho * wo)
        return ((conv, ("batch_norm", 2 * elements)) if op.norm else (conv,)), elements, ()

    def largest_tensor(self, node: Placed) -> int:
        return node.out_shape[0] * (node.in_shape[0] // node.op.groups) * node.op.kernel[0] * node.op.kernel[1]

    def buffers(self, node: Placed) -> tuple[int, int]:
        return (2 * node.out_shape[0], 1) if node.op.norm == "bn" else (0, 0)

    def memory(self, node: Placed, run: Any, v: Any) -> Any:
        op = node.op
        out = conv_memory(run, node.in_shape[0], node.out_shape, op.kernel, op.groups, op.bias, v)
        if op.norm == "bn":  # the builder's only norm
            out = bn_memory(run, node.out_shape[0], out)
        return run.then_activation(op.act, out)

    def build(self, node: Placed, b: Any) -> Any:
        op, c_in, c_out = node.op, node.in_shape[0], node.out_shape[0]
        conv = b.nn.Conv2d(c_in, c_out, op.kernel, op.stride, op.padding, groups=op.groups, bias=op.bias)
        norm = b.nn.BatchNorm2d(c_out, eps=op.bn_eps) if op.norm == "bn" else None
        return b.layers.ConvNormAct(conv, norm, b.activation(op.act) if op.act else None)

    def label(self, op: Conv) -> str:
        """``conv 3x3/2 p0 → 192 (bn+relu)``."""
        stride = f"/{op.stride[0]}" if op.stride == (op.stride[0],) * 2 and op.stride != (1, 1) else (
            "" if op.stride == (1, 1) else f"/{k(op.stride)}")
        extras = [f"p{k(op.padding) if op.padding[0] != op.padding[1] else op.padding[0]}"]
        if op.groups != 1:
            extras.append(f"g{op.groups}")
        post = "+".join(x for x in (op.norm, op.act) if x) or "linear"
        width = "auto" if op.out is None else op.out
        return f"conv {k(op.kernel)}{stride} {' '.join(extras)} → {width} ({post}{', bias' if op.bias else ''})"

    def paper_type(self, op: Conv) -> str:
        return f"conv {op.kernel[0]}x{op.kernel[1]}/{op.stride[0]}"
