"""Exact analytic costs of a spec: shapes, params, FLOPs and activations, no torch needed.

This is also archbench's one shape checker: the builder and ``validate`` call :func:`analyze`
before building anything, so a spec whose branches cannot be concatenated is reported here,
with the block's name and the shapes, and nowhere else.

Counting convention (the same as fvcore's, operator by operator, so the two agree to the unit):
- one multiply-add counts as one FLOP;
- conv: N x C_out x (C_in / groups) x k_h x k_w x H_out x W_out (bias not counted);
- linear: N x in x out (bias not counted);
- adaptive average pooling: one FLOP per input element;
- batch norm in eval mode: 2 per element, reported apart as ``batch_norm`` because archbench
  folds BN into the conv before it (inference cost) and leaves it out of ``flops``;
- max/avg pooling, adaptive max pooling, LRN, residual additions and scalings cost nothing
  here as in fvcore, and are listed in ``uncounted`` with how often they occur.
Activations follow fvcore's ``ActivationCountAnalysis``: output elements of every conv and linear.
Module paths match the builder's, so per-block numbers compare directly with fvcore's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import ShapeError
from ..spec.schema import (
    LRN,
    Activation,
    AdaptivePool,
    Block,
    Conv,
    Dropout,
    Flatten,
    Identity,
    Linear,
    Op,
    Pool,
    Spec,
    Split,
)
from ..spec.transform import resolve

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flattening; batch excluded


class OpRecord(NamedTuple):
    """One op as placed in the network: what the builder and ``show`` need to know about it."""

    op: Op
    in_shape: Shape
    out_shape: Shape
    params: int


@dataclass
class LayerCost:
    """Costs of one top-level layer or aux head (a row of the per-block table)."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    params: int = 0
    flops_by_op: dict[str, int] = field(default_factory=dict)  # fvcore operator names
    activations: int = 0  # conv + linear output elements (fvcore's ActivationCountAnalysis)
    uncounted: dict[str, int] = field(default_factory=dict)  # op -> how many times it runs
    is_aux: bool = False

    @property
    def flops(self) -> int:
        """Inference FLOPs with BN folded into the preceding conv."""
        return sum(v for k, v in self.flops_by_op.items() if k != "batch_norm")

    @property
    def output_elements(self) -> int:
        return math.prod(self.out_shape)


@dataclass
class CostReport:
    """Everything :func:`analyze` computed for one spec at one input size and batch."""

    spec_name: str
    input: tuple[int, int, int]
    batch: int
    layers: list[LayerCost]
    output_shape: Shape
    generated: dict[str, Conv] = field(default_factory=dict)  # projections made by "shortcut: auto"

    def _main(self, aux: bool) -> list[LayerCost]:
        return [x for x in self.layers if aux or not x.is_aux]

    def params(self, aux: bool = False) -> int:
        return sum(x.params for x in self._main(aux))

    @property
    def aux_params(self) -> int:
        return sum(x.params for x in self.layers if x.is_aux)

    @property
    def flops(self) -> int:
        """Inference FLOPs (BN folded; aux heads do not run at inference)."""
        return sum(x.flops for x in self._main(False))

    def flops_by_op(self, aux: bool = False) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self._main(aux):
            for k, v in layer.flops_by_op.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def activations(self) -> int:
        return sum(x.activations for x in self._main(False))

    def uncounted(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self._main(False):
            for k, v in layer.uncounted.items():
                out[k] = out.get(k, 0) + v
        return out

    def layer(self, name: str) -> LayerCost:
        for x in self.layers:
            if x.name == name:
                return x
        raise KeyError(name)


def fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


class _Counter:
    """Walks ops, threading the shape through and adding costs to the current layer."""

    def __init__(self, spec: Spec, batch: int, record: dict[str, OpRecord] | None = None):
        self.spec = spec
        self.n = batch
        self.cur: LayerCost | None = None
        self.record = record  # module path -> OpRecord, for the builder and `archbench show`
        self.generated: dict[str, Conv] = {}  # module path -> projection made by "shortcut: auto"

    # -- bookkeeping
    def add_flops(self, op: str, value: int) -> None:
        d = self.cur.flops_by_op  # type: ignore[union-attr]
        d[op] = d.get(op, 0) + value

    def add_uncounted(self, op: str, times: int = 1) -> None:
        d = self.cur.uncounted  # type: ignore[union-attr]
        d[op] = d.get(op, 0) + times

    def fail(self, where: str, message: str) -> ShapeError:
        return ShapeError(f"{self.spec.source}: {where}: {message}")

    # -- ops
    def chain(self, ops: tuple[Op, ...], shape: Shape, where: str) -> Shape:
        for i, op in enumerate(ops):
            shape = self.op(op, shape, f"{where}.{i}")
        return shape

    def op(self, op: Op, shape: Shape, where: str) -> Shape:
        handler = _HANDLERS.get(type(op))
        if handler is None:  # pragma: no cover - every op type has a handler
            raise TypeError(f"no cost handler for {type(op).__name__}")
        if self.record is None:
            return handler(self, op, shape, where)
        params_before = self.cur.params  # type: ignore[union-attr]
        out = handler(self, op, shape, where)
        self.record[where] = OpRecord(op, shape, out, self.cur.params - params_before)  # type: ignore[union-attr]
        return out

    def feature_map(self, shape: Shape, where: str, what: str) -> tuple[int, int, int]:
        if len(shape) != 3:
            raise self.fail(where, f"{what} needs a feature map CxHxW, got a flat vector of {shape[0]} features")
        return shape  # type: ignore[return-value]

    def conv(self, op: Conv, shape: Shape, where: str) -> Shape:
        c, h, w = self.feature_map(shape, where, "a conv")
        out = c if op.out is None else op.out
        if c % op.groups:
            raise self.fail(where, f"input channels {c} are not divisible by groups {op.groups}")
        (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if ho < 1 or wo < 1 or h + 2 * ph < kh or w + 2 * pw < kw:
            raise self.fail(where, f"a {kh}x{kw} conv (stride {sh}x{sw}, padding {ph}x{pw}) on "
                                   f"{fmt(shape)} leaves no output: the spatial size reaches zero")
        layer = self.cur
        weights = out * (c // op.groups) * kh * kw
        layer.params += weights + (out if op.bias else 0) + (2 * out if op.norm else 0)  # type: ignore[union-attr]
        elements = self.n * out * ho * wo
        self.add_flops("conv", weights * ho * wo * self.n)
        if op.norm:
            self.add_flops("batch_norm", 2 * elements)
        layer.activations += elements  # type: ignore[union-attr]
        return (out, ho, wo)

    def pool(self, op: Pool, shape: Shape, where: str) -> Shape:
        c, h, w = self.feature_map(shape, where, f"a {op.kind}pool")
        size = [_pool_out(n, k, s, p, op.ceil_mode)
                for n, k, s, p in zip((h, w), op.kernel, op.stride, op.padding)]
        if min(size) < 1:
            raise self.fail(where, f"a {op.kernel[0]}x{op.kernel[1]} {op.kind}pool (stride {op.stride[0]}) on "
                                   f"{fmt(shape)} leaves no output: the spatial size reaches zero")
        self.add_uncounted(f"{op.kind}_pool2d")
        return (c, size[0], size[1])

    def adaptive(self, op: AdaptivePool, shape: Shape, where: str) -> Shape:
        c, h, w = self.feature_map(shape, where, "an adaptive pool")
        if op.kind == "avg":
            self.add_flops("adaptive_avg_pool2d", self.n * c * h * w)
        else:
            self.add_uncounted("adaptive_max_pool2d")
        oh, ow = op.output
        return (c * oh * ow,) if op.flatten else (c, oh, ow)

    def lrn(self, op: LRN, shape: Shape, where: str) -> Shape:
        self.feature_map(shape, where, "local response norm")
        self.add_uncounted("local_response_norm")
        return shape

    def passthrough(self, op: Op, shape: Shape, where: str) -> Shape:
        return shape

    def flatten(self, op: Flatten, shape: Shape, where: str) -> Shape:
        return (math.prod(shape),)

    def linear(self, op: Linear, shape: Shape, where: str) -> Shape:
        if len(shape) != 1:
            raise self.fail(where, f"a linear layer needs a flat vector; got {fmt(shape)} "
                                   "(add a flatten or global_pool before it)")
        fin = shape[0]
        self.cur.params += fin * op.out + (op.out if op.bias else 0)  # type: ignore[union-attr]
        self.add_flops("linear", self.n * fin * op.out)
        self.cur.activations += self.n * op.out  # type: ignore[union-attr]
        return (op.out,)

    def concat(self, branches: tuple[tuple[Op, ...], ...], shape: Shape, where: str) -> Shape:
        outs = [self.chain(b, shape, f"{where}.branch{i}") for i, b in enumerate(branches)]
        if any(len(o) != 3 for o in outs):
            listing = ", ".join(f"branch{i} gives {fmt(o)}" for i, o in enumerate(outs))
            raise self.fail(where, f"branches must end in feature maps to be concatenated: {listing}")
        if len({o[1:] for o in outs}) > 1:
            listing = ", ".join(f"branch{i} gives {fmt(o)}" for i, o in enumerate(outs))
            raise self.fail(where, f"branches cannot be concatenated (their spatial sizes differ): {listing}")
        return (sum(o[0] for o in outs), outs[0][1], outs[0][2])

    def split(self, op: Split, shape: Shape, where: str) -> Shape:
        return self.concat(op.branches, shape, where)

    def block(self, block: Block, shape: Shape, where: str) -> Shape:
        self.feature_map(shape, where, "a block")
        i = 0
        while i < block.count:
            at = f"{where}.{i}" if block.repeat is not None else where
            before = self._snapshot() if i == 1 and self.record is None else None
            out = self._block_once(block.instance(i), shape, at)
            if before is not None and out == shape:
                # Repetitions after the first are identical and keep the shape: cost them once.
                self._add_scaled_delta(before, block.count - 2)
                return out
            shape = out
            i += 1
        return shape

    def _snapshot(self) -> tuple[int, int, dict[str, int], dict[str, int]]:
        c = self.cur
        return c.params, c.activations, dict(c.flops_by_op), dict(c.uncounted)  # type: ignore[union-attr]

    def _add_scaled_delta(self, before: tuple[int, int, dict[str, int], dict[str, int]], times: int) -> None:
        c = self.cur
        params, acts, flops, unc = before
        c.params += (c.params - params) * times  # type: ignore[union-attr]
        c.activations += (c.activations - acts) * times  # type: ignore[union-attr]
        for d, old in ((c.flops_by_op, flops), (c.uncounted, unc)):  # type: ignore[union-attr]
            for k, v in list(d.items()):
                d[k] = v + (v - old.get(k, 0)) * times

    def _block_once(self, block: Block, shape: Shape, where: str) -> Shape:
        out = self.concat(block.branches, shape, where)
        if block.merge == "concat":
            if block.act:
                self.add_uncounted(block.act)
            return out
        if block.project is not None:
            project = block.project
            if project.out is None:  # "auto": back to the block's input width, for the sum
                project = dataclasses.replace(project, out=shape[0])
            out = self.op(project, out, f"{where}.project")
        short = self._shortcut(block, shape, out, where)
        if short != out:
            raise self.fail(where, f"residual sum needs equal shapes: the branches give {fmt(out)}, "
                                   f"the shortcut gives {fmt(short)} (input {fmt(shape)})")
        if block.scale != 1.0:
            self.add_uncounted("mul")
        self.add_uncounted("add")
        return out

    def _shortcut(self, block: Block, shape: Shape, out: Shape, where: str) -> Shape:
        if block.shortcut == "identity":
            return shape
        if block.shortcut == "auto":
            if shape == out:
                return shape
            conv = self.spec.defaults.shortcut_conv(out[0], _stride_of(block.branches[0]))
            self.generated[f"{where}.shortcut"] = conv
            return self.op(conv, shape, f"{where}.shortcut.0")
        return self.chain(block.shortcut, shape, f"{where}.shortcut")  # type: ignore[arg-type]


def _stride_of(ops: tuple[Op, ...]) -> tuple[int, int]:
    """Total stride along a chain: the stride an ``auto`` projection shortcut must take."""
    sh = sw = 1
    for op in ops:
        if isinstance(op, (Conv, Pool)):
            sh, sw = sh * op.stride[0], sw * op.stride[1]
        elif isinstance(op, Split):
            s = _stride_of(op.branches[0])
            sh, sw = sh * s[0], sw * s[1]
    return (sh, sw)


def _pool_out(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size, including its ceil-mode rule that the last window
    must start inside the input or its left padding."""
    numerator = n + 2 * p - k + ((s - 1) if ceil_mode else 0)
    out = numerator // s + 1 if numerator >= 0 else 0
    if ceil_mode and out > 0 and (out - 1) * s >= n + p:
        out -= 1
    return out


_HANDLERS = {
    Conv: _Counter.conv,
    Pool: _Counter.pool,
    AdaptivePool: _Counter.adaptive,
    LRN: _Counter.lrn,
    Dropout: _Counter.passthrough,
    Identity: _Counter.passthrough,
    Activation: _Counter.passthrough,
    Flatten: _Counter.flatten,
    Linear: _Counter.linear,
    Split: _Counter.split,
}


def analyze(spec: Spec, input_size: tuple[int, int, int] | None = None, batch: int = 1,
            record: dict[str, OpRecord] | None = None) -> CostReport:
    """Shapes and exact costs of every layer and aux head of ``spec``.

    Raises :class:`ShapeError` naming the layer and the shapes when the spec cannot be built.
    ``record``, when given, is filled with an :class:`OpRecord` per op, by module path (the
    builder reads layer widths from it instead of inferring shapes a second time).
    """
    spec = resolve(spec)
    shape: Shape = tuple(input_size or spec.input)
    counter = _Counter(spec, batch, record)
    layers: list[LayerCost] = []
    taps: dict[str, Shape] = {}
    for layer in (*spec.body, *spec.head):
        name = layer.name or ""
        cost = LayerCost(name=name, kind=layer.KIND, in_shape=shape, out_shape=shape)
        counter.cur = cost
        if isinstance(layer, Block):
            shape = counter.block(layer, shape, name)
        else:
            shape = counter.op(layer, shape, name)
        cost.out_shape = shape
        layers.append(cost)
        taps[name] = shape
    output_shape = shape
    for head in spec.aux_heads:
        start = taps[head.at]
        cost = LayerCost(name=head.name, kind="aux_head", in_shape=start, out_shape=start, is_aux=True)
        counter.cur = cost
        cost.out_shape = counter.chain(head.layers, start, head.name)
        layers.append(cost)
    return CostReport(spec_name=spec.name, input=tuple(input_size or spec.input), batch=batch,  # type: ignore[arg-type]
                      layers=layers, output_shape=output_shape, generated=counter.generated)
