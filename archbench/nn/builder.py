"""Spec -> ``torch.nn.Module``: a visitor over the placed network.

The builder never infers a shape or reads a spec's blocks itself: it builds each node of
:func:`archbench.spec.place.place` with its kind's ``build`` hook, so shape errors are found
once, before any module exists, and the module paths of the built network are exactly the
placement's (and the cost model's).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..spec import load_spec
from ..spec.ops.base import Placed
from ..spec.place import STACK, place
from ..spec.schema import Spec
from . import layers as _layers
from .layers import Network, make_activation


class Builder:
    """What op and merge kinds build with: ``nn`` (torch.nn), ``layers`` (archbench's modules),
    ``OrderedDict``, and the recursion into chains and nodes."""

    nn = nn
    torch = torch
    layers = _layers
    OrderedDict = OrderedDict

    def visit(self, node: Placed) -> nn.Module:
        if node.kind is STACK:
            return nn.Sequential(*(self.visit(rep) for _, rep in node.parts))
        return node.kind.build(node, self)

    def chain(self, nodes: tuple[Placed, ...]) -> nn.Sequential:
        return nn.Sequential(*(self.visit(node) for node in nodes))

    def activation(self, name: str, inplace: bool = True) -> nn.Module:
        return make_activation(name, inplace)


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
    spec = load_spec(target)
    net_ = place(spec, input_size)
    b = Builder()
    body_names = set(net_.body_names)
    body: list[tuple[str, Any]] = []
    head: list[tuple[str, Any]] = []
    for name, node in net_.layers:
        (body if name in body_names else head).append((name, b.visit(node)))
    heads = [(h.name, h.at, b.chain(chain)) for h, chain, _ in net_.aux] if aux else []
    net = Network(body, head, heads, {h.name: h.weight for h in spec.aux_heads} if aux else None)
    init_weights(net)
    return net.to(device) if device is not None else net
