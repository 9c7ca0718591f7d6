"""The parsed, immutable form of a spec: plain frozen dataclasses, no torch.

Everything downstream (cost model, builder, search) reads these objects, never raw YAML. All
defaults are filled in by the parser, so every field here is explicit: a ``Conv`` knows its own
norm, activation, bias and padding, whatever the spec's ``defaults`` said.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Union

Pair = tuple[int, int]


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


@dataclass(frozen=True)
class AdaptivePool:
    """Adaptive pooling to a fixed output grid; ``flatten`` makes it a global pool + flatten."""

    KIND: ClassVar[str] = "adaptive_pool"
    kind: str  # "max" | "avg"
    output: Pair
    flatten: bool = False
    name: str | None = None


@dataclass(frozen=True)
class LRN:
    """Local response normalization across channels (AlexNet, GoogLeNet paper)."""

    KIND: ClassVar[str] = "lrn"
    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    name: str | None = None


@dataclass(frozen=True)
class Dropout:
    KIND: ClassVar[str] = "dropout"
    p: float
    name: str | None = None


@dataclass(frozen=True)
class Flatten:
    KIND: ClassVar[str] = "flatten"
    name: str | None = None


@dataclass(frozen=True)
class Linear:
    """Fully connected layer, optionally followed by an activation."""

    KIND: ClassVar[str] = "linear"
    out: int
    bias: bool = True
    act: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Activation:
    KIND: ClassVar[str] = "activation"
    act: str
    name: str | None = None


@dataclass(frozen=True)
class Identity:
    KIND: ClassVar[str] = "identity"
    name: str | None = None


@dataclass(frozen=True)
class Split:
    """Parallel chains applied to the same input, outputs concatenated on channels.

    Inside a branch this is Inception-v3's expansion (1x3 ‖ 3x1 after a shared 1x1).
    """

    KIND: ClassVar[str] = "split"
    branches: tuple[tuple["Op", ...], ...]
    name: str | None = None


@dataclass(frozen=True)
class Block:
    """A named multi-branch block: the unit of tables, costs and search parameters.

    ``merge="concat"``: branch outputs are concatenated on channels (Inception).
    ``merge="residual"``: branch outputs are concatenated, passed through ``project`` (if any),
    multiplied by ``scale``, added to ``shortcut(x)``, then ``act`` is applied
    (Inception-ResNet, ResNet).
    """

    KIND: ClassVar[str] = "block"
    name: str
    branches: tuple[tuple["Op", ...], ...]
    merge: str = "concat"  # "concat" | "residual"
    scale: float = 1.0
    project: Conv | None = None
    shortcut: str | tuple["Op", ...] = "identity"  # "identity" | "auto" | explicit ops
    act: str | None = None
    repeat: int | None = None  # None: a single block that the depth multiplier leaves alone
    factorize: tuple[str, ...] | None = None  # None: inherit the network's setting

    @property
    def count(self) -> int:
        return self.repeat or 1

    def instance(self, index: int) -> "Block":
        """The block as built at repetition ``index``: only the first one keeps its strides."""
        if index == 0:
            return self
        return dataclasses.replace(
            self,
            branches=tuple(tuple(_unstride(op) for op in br) for br in self.branches),
            shortcut=self.shortcut
            if isinstance(self.shortcut, str)
            else tuple(_unstride(op) for op in self.shortcut),
        )


Op = Union[Conv, Pool, AdaptivePool, LRN, Dropout, Flatten, Linear, Activation, Identity, Split]
Layer = Union[Op, Block]


def _unstride(op: "Op") -> "Op":
    if isinstance(op, (Conv, Pool)) and op.stride != (1, 1):
        return dataclasses.replace(op, stride=(1, 1))
    if isinstance(op, Split):
        return dataclasses.replace(
            op, branches=tuple(tuple(_unstride(o) for o in br) for br in op.branches)
        )
    return op


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
