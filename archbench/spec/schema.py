"""The parsed, immutable form of a spec: plain frozen dataclasses, no torch.

Everything downstream (cost model, builder, search) reads these objects, never raw YAML. All
defaults are filled in by the parser, so every field here is explicit: a ``Conv`` knows its own
norm, activation, bias and padding, whatever the spec's ``defaults`` said. Each op's dataclass
lives in its op kind's module (:mod:`archbench.spec.ops`) and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .ops.activation import Activation
from .ops.adaptive_pool import AdaptivePool
from .ops.base import Pair
from .ops.concat import ConcatMerge
from .ops.conv import Conv
from .ops.dropout import Dropout
from .ops.flatten import Flatten
from .ops.identity import Identity
from .ops.linear import Linear
from .ops.lrn import LRN
from .ops.pool import Pool
from .ops.residual import ResidualMerge
from .ops.split import Split

__all__ = ["Defaults", "Block", "AuxHead", "Spec", "Op", "Layer", "Pair", "layer_name", "Conv", "Pool",
           "AdaptivePool", "LRN", "Dropout", "Flatten", "Linear", "Activation", "Identity", "Split",
           "ConcatMerge", "ResidualMerge"]


@dataclass(frozen=True)
class Defaults:
    """Network-wide settings that every conv inherits unless it says otherwise."""

    norm: str | None = "bn"
    bn_eps: float = 1e-5  # PyTorch's BatchNorm2d default; torchvision's Inceptions use 1e-3
    act: str | None = "relu"
    conv_bias: bool | None = None  # None: a bias only where there is no norm after the conv

    def shortcut_conv(self, out: int, stride: "Pair") -> "Conv":
        """The 1x1 projection of ``shortcut: auto`` when shapes change (torchvision ResNet)."""
        norm = self.norm
        bias = self.conv_bias if self.conv_bias is not None else norm is None
        return Conv(out=out, kernel=(1, 1), stride=stride, padding=(0, 0), bias=bias, norm=norm,
                    bn_eps=self.bn_eps, act=None, factorizable=False)


@dataclass(frozen=True)
class Block:
    """A named multi-branch block: the unit of tables, costs and search parameters.

    Its branches run on the block's input; ``merge`` (a merge kind's dataclass, see
    :mod:`archbench.spec.ops`) says how their outputs combine: ``ConcatMerge`` concatenates them
    (Inception), ``ResidualMerge`` adds a shortcut (Inception-ResNet, ResNet).
    """

    KIND: ClassVar[str] = "block"
    name: str
    branches: tuple[tuple["Op", ...], ...]
    merge: Any = ConcatMerge()
    repeat: int | None = None  # None: a single block that the depth multiplier leaves alone
    factorize: tuple[str, ...] | None = None  # None: inherit the network's setting

    @property
    def count(self) -> int:
        return self.repeat or 1


Op = Any  # an instance of a registered op kind's dataclass (archbench.spec.ops)
Layer = Any  # an Op or a Block


@dataclass(frozen=True)
class AuxHead:
    """An auxiliary classifier fed by the output of block ``at``; used in training only."""

    name: str
    at: str
    layers: tuple[Op, ...]
    weight: float = 0.3


@dataclass(frozen=True)
class Spec:
    """One network, fully resolved: every layer named, every default explicit."""

    name: str
    input: tuple[int, int, int]  # channels, height, width
    classes: int
    body: tuple[Layer, ...]
    head: tuple[Op, ...] = ()
    aux_heads: tuple[AuxHead, ...] = ()
    reference: str = ""
    description: str = ""
    meta: tuple[tuple[str, object], ...] = ()  # expected numbers, kept as (key, value) pairs
    width_multiplier: float = 1.0
    width_divisor: int = 8
    depth_multiplier: float = 1.0
    factorize: tuple[str, ...] = ()
    defaults: Defaults = Defaults()
    source: str = field(default="<string>", compare=False)

    def layer(self, name: str) -> Layer:
        for layer in (*self.body, *self.head):
            if layer_name(layer) == name:
                return layer
        raise KeyError(name)

    @property
    def meta_dict(self) -> dict[str, object]:
        return dict(self.meta)

    @property
    def block_names(self) -> list[str]:
        return [layer_name(layer) for layer in (*self.body, *self.head)]


def layer_name(layer: Layer) -> str:
    """Names are filled in by the parser; a nameless layer here is a programming error."""
    name = layer.name
    if name is None:  # pragma: no cover - the parser always names top-level layers
        raise ValueError(f"unnamed layer {layer!r}")
    return name
