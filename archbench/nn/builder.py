"""Spec -> ``torch.nn.Module``.

The builder never infers a shape itself: it asks the cost model for the input shape of every op
(:func:`archbench.cost.analyze` with ``record``), so shape errors are found once, before any
module exists, and the module paths of the built network are exactly the cost model's.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..cost.analysis import OpRecord, analyze
from ..spec import load_spec, resolve
from ..spec.schema import LRN, Activation, AdaptivePool, Block, Conv, Dropout, Flatten, Identity, Linear, Op, Pool, Spec, Split
from .layers import Concat, ConvNormAct, InceptionBlock, Network, ResidualBlock, make_activation


class _Builder:
    def __init__(self, shapes: dict[str, OpRecord], generated: dict[str, Conv]):
        self.shapes = shapes
        self.generated = generated

    def op(self, op: Op, where: str) -> nn.Module:
        op, shape = self.shapes[where].op, self.shapes[where].in_shape  # as placed: "auto" resolved
        if isinstance(op, Conv):
            out = shape[0] if op.out is None else op.out
            conv = nn.Conv2d(shape[0], out, op.kernel, op.stride, op.padding, groups=op.groups, bias=op.bias)
            norm = nn.BatchNorm2d(out, eps=op.bn_eps) if op.norm == "bn" else None
            return ConvNormAct(conv, norm, make_activation(op.act) if op.act else None)
        if isinstance(op, Pool):
            if op.kind == "max":
                return nn.MaxPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode)
            return nn.AvgPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode,
                                count_include_pad=op.count_include_pad)
        if isinstance(op, AdaptivePool):
            pool = nn.AdaptiveAvgPool2d(op.output) if op.kind == "avg" else nn.AdaptiveMaxPool2d(op.output)
            return nn.Sequential(OrderedDict(pool=pool, flatten=nn.Flatten(1))) if op.flatten else pool
        if isinstance(op, Linear):
            fc = nn.Linear(shape[0], op.out, bias=op.bias)
            return nn.Sequential(OrderedDict(fc=fc, act=make_activation(op.act))) if op.act else fc
        if isinstance(op, Split):
            return Concat([self.chain(b, f"{where}.branch{i}") for i, b in enumerate(op.branches)])
        if isinstance(op, LRN):
            return nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k)
        if isinstance(op, Dropout):
            return nn.Dropout(op.p)
        if isinstance(op, Flatten):
            return nn.Flatten(1)
        if isinstance(op, Activation):
            return make_activation(op.act)
        if isinstance(op, Identity):
            return nn.Identity()
        raise TypeError(f"no builder for {type(op).__name__}")  # pragma: no cover

    def chain(self, ops: tuple[Op, ...], where: str) -> nn.Sequential:
        return nn.Sequential(*(self.op(op, f"{where}.{i}") for i, op in enumerate(ops)))

    def block(self, block: Block, where: str) -> nn.Module:
        if block.repeat is None:
            return self._block_once(block, where)
        return nn.Sequential(*(self._block_once(block.instance(i), f"{where}.{i}") for i in range(block.count)))

    def _block_once(self, block: Block, where: str) -> nn.Module:
        branches = [self.chain(b, f"{where}.branch{i}") for i, b in enumerate(block.branches)]
        act = make_activation(block.act) if block.act else None
        if block.merge == "concat":
            return InceptionBlock(branches, act)
        project = self.op(block.project, f"{where}.project") if block.project is not None else None
        shortcut: nn.Module | None = None
        if isinstance(block.shortcut, tuple):
            shortcut = self.chain(block.shortcut, f"{where}.shortcut")
        elif f"{where}.shortcut" in self.generated:  # "auto" where the shapes change
            shortcut = self.chain((self.generated[f"{where}.shortcut"],), f"{where}.shortcut")
        return ResidualBlock(branches, project, shortcut, block.scale, act)


def init_weights(module: nn.Module) -> None:
    """torchvision's ResNet/GoogLeNet initialisation: Kaiming-normal convs, unit BN, small FC."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(target: str | Path | Spec, aux: bool = False, input_size: tuple[int, int, int] | None = None,
          device: torch.device | str | None = None) -> Network:
    """Build the network of a spec (zoo name, YAML path or Spec).

    ``aux=True`` also builds the aux heads (used in training mode only); ``input_size``
    overrides the spec's input (C, H, W) for linear layers sized by a flatten.
    """
    spec = resolve(load_spec(target))
    shapes: dict[str, OpRecord] = {}
    report = analyze(spec, input_size, record=shapes)
    b = _Builder(shapes, report.generated)
    body = []
    for layer in spec.body:
        name = layer.name or ""
        body.append((name, b.block(layer, name) if isinstance(layer, Block) else b.op(layer, name)))
    head = [(op.name or "", b.op(op, op.name or "")) for op in spec.head]
    heads = [(h.name, h.at, b.chain(h.layers, h.name)) for h in spec.aux_heads] if aux else []
    net = Network(body, head, heads, {h.name: h.weight for h in spec.aux_heads} if aux else None)
    init_weights(net)
    return net.to(device) if device is not None else net
