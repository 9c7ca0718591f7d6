"""The PyTorch modules a spec is built from.

Every module is plain PyTorch with no archbench state, so a built network can be saved,
scripted, traced by fvcore or exported like any torchvision model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ArchbenchError

ACTIVATIONS: dict[str, Callable[[bool], nn.Module]] = {
    "relu": lambda inplace: nn.ReLU(inplace=inplace),
    "relu6": lambda inplace: nn.ReLU6(inplace=inplace),
    "silu": lambda inplace: nn.SiLU(inplace=inplace),
    "gelu": lambda inplace: nn.GELU(),
    "sigmoid": lambda inplace: nn.Sigmoid(),
    "tanh": lambda inplace: nn.Tanh(),
}


def make_activation(name: str, inplace: bool = True) -> nn.Module:
    """relu, relu6 and silu are built in place unless ``inplace=False`` (when the input is
    still needed afterwards, e.g. by a residual shortcut)."""
    return ACTIVATIONS[name](inplace)


class ConvNormAct(nn.Sequential):
    """conv -> batch norm -> activation, each optional but the conv (timm's ConvNormAct)."""

    def __init__(self, conv: nn.Conv2d, norm: nn.Module | None, act: nn.Module | None):
        super().__init__()
        self.conv = conv
        if norm is not None:
            self.bn = norm
        if act is not None:
            self.act = act


class Concat(nn.Module):
    """Parallel branches on one input, concatenated on channels (an Inception block or split)."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.names = [f"branch{i}" for i in range(len(branches))]
        for name, branch in zip(self.names, branches):
            self.add_module(name, branch)

    def branch_outputs(self, x: torch.Tensor) -> torch.Tensor:
        outs = [getattr(self, name)(x) for name in self.names]
        return outs[0] if len(outs) == 1 else torch.cat(outs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch_outputs(x)


class InceptionBlock(Concat):
    """Branches merged by concat, then an optional activation."""

    def __init__(self, branches: list[nn.Module], act: nn.Module | None = None):
        super().__init__(branches)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch_outputs(x)
        return y if self.act is None else self.act(y)


class ResidualBlock(Concat):
    """act(shortcut(x) + scale * project(concat(branches(x)))): Inception-ResNet and ResNet."""

    def __init__(self, branches: list[nn.Module], project: nn.Module | None, shortcut: nn.Module | None,
                 scale: float, act: nn.Module | None):
        super().__init__(branches)
        self.project = project
        self.shortcut = shortcut
        self.scale = scale
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch_outputs(x)
        if self.project is not None:
            y = self.project(y)
        if self.scale != 1.0:
            y = y * self.scale
        y = y + (x if self.shortcut is None else self.shortcut(x))
        return y if self.act is None else self.act(y)


class NetOutput(NamedTuple):
    """What a network returns in training mode when it has aux heads (torchvision's habit)."""

    logits: torch.Tensor
    aux_logits: dict[str, torch.Tensor]


def split_output(out: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(logits, {aux head: logits})`` from what a classifier returns, in either mode.

    One reading of every output convention, shared by the training loss and the memory replay
    (which both need every head's logits, and used to disagree on tuples):

    - a tensor: the logits, no aux heads;
    - archbench's :class:`NetOutput` ``(logits, {name: logits})``;
    - a tuple or named tuple whose first element is the logits and the rest aux logits, each a
      tensor, ``None`` (a head that did not run) or a ``{name: logits}`` dict: torchvision's
      ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` and
      ``InceptionOutputs(logits, aux_logits)``. Aux heads are named by the named tuple's fields,
      else ``aux1``, ``aux2``... by position.

    Anything else is an :class:`ArchbenchError` naming what came back, since it is the user's
    model (a ``module:callable`` target) that returned it.
    """
    if isinstance(out, torch.Tensor):
        return out, {}
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        fields = getattr(out, "_fields", None)
        names = list(fields) if fields else [f"aux{i}" for i in range(len(out))]
        aux: dict[str, torch.Tensor] = {}
        for name, item in zip(names[1:], out[1:]):
            if item is None:
                continue
            if isinstance(item, torch.Tensor):
                aux[str(name)] = item
            elif isinstance(item, Mapping) and all(isinstance(t, torch.Tensor) for t in item.values()):
                aux.update((str(k), t) for k, t in item.items())
            else:
                raise ArchbenchError(f"the model returned a {type(out).__name__} whose {name!r} is a "
                                     f"{type(item).__name__}; expected aux logits (a tensor, None or a dict of tensors)")
        return out[0], aux
    raise ArchbenchError(f"the model returned {type(out).__name__}; expected logits (a tensor) or a tuple "
                         "(logits, aux logits...)")


class Network(nn.Module):
    """A spec's network: its layers as named children, in order, then its aux heads.

    ``forward`` returns logits; in training mode, with aux heads built, a :class:`NetOutput`
    that also carries each aux head's logits. ``forward_features`` / ``forward_head`` split the
    network where the body ends, as timm's models do.
    """

    def __init__(self, body: list[tuple[str, nn.Module]], head: list[tuple[str, nn.Module]],
                 aux: list[tuple[str, str, nn.Module]], aux_weights: dict[str, float] | None = None):
        super().__init__()
        self.body_names = [name for name, _ in body]
        self.head_names = [name for name, _ in head]
        for name, module in (*body, *head):
            self.add_module(name, module)
        self.aux_taps: dict[str, list[str]] = {}
        for name, at, module in aux:
            self.add_module(name, module)
            self.aux_taps.setdefault(at, []).append(name)
        self.aux_weights = dict(aux_weights or {})

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        aux: dict[str, torch.Tensor] = {}
        use_aux = self.training and bool(self.aux_taps)
        for name in self.body_names:
            x = getattr(self, name)(x)
            if use_aux and name in self.aux_taps:
                for head in self.aux_taps[name]:
                    aux[head] = getattr(self, head)(x)
        return x, aux

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.head_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor | NetOutput:
        features, aux = self.forward_features(x)
        logits = self.forward_head(features)
        if aux:
            return NetOutput(logits, aux)
        return logits
