"""Checkpoints of the networks added through the op registry (issue 12): xception, se_resnet50.

Each pair covers the same computation on both sides (see compare.py): our ConvNormAct and
sepconv include their BN (and ReLU), so they pair with timm's conv and BN separately.
"""

from __future__ import annotations

CHECKPOINTS: dict[str, list[tuple[str, str]]] = {}


def _xception() -> list[tuple[str, str]]:
    """Our middle flow is one block repeated 8 times (middle.0 ... middle.7 = timm block4 ... block11);
    conv3/conv4 are sepconvs with their BN and ReLU (timm conv3 + bn3 + act3)."""
    pairs = [("conv1.conv", "conv1"), ("conv1.bn", "bn1"), ("conv2.conv", "conv2"), ("conv2.bn", "bn2")]
    for b in (1, 2, 3, 12):
        pairs += [(f"block{b}", f"block{b}"), (f"block{b}.shortcut.0.conv", f"block{b}.skip"),
                  (f"block{b}.shortcut.0.bn", f"block{b}.skipbn")]
    pairs += [(f"middle.{i}", f"block{i + 4}") for i in range(8)]
    pairs += [("conv3.depthwise", "conv3.conv1"), ("conv3.pointwise", "conv3.pointwise"), ("conv3.bn", "bn3"),
              ("conv4.depthwise", "conv4.conv1"), ("conv4.pointwise", "conv4.pointwise"), ("conv4.bn", "bn4"),
              ("global_pool", "global_pool"), ("fc", "fc")]
    return pairs


def _se_resnet50() -> list[tuple[str, str]]:
    """timm's module names; the SE gate (branch0.3) is timm's ``se``, the auto shortcut its downsample."""
    pairs = [("conv1.conv", "conv1"), ("conv1.bn", "bn1"), ("maxpool", "maxpool")]
    for s, n in enumerate([3, 4, 6, 3], 1):
        pairs.append((f"layer{s}", f"layer{s}"))
        pairs += [(f"layer{s}.{i}", f"layer{s}.{i}") for i in range(n)]
        pairs += [(f"layer{s}.{i}.branch0.3", f"layer{s}.{i}.se") for i in range(n)]
        pairs.append((f"layer{s}.0.shortcut", f"layer{s}.0.downsample"))
    return pairs + [("global_pool", "global_pool"), ("fc", "fc")]


CHECKPOINTS["xception"] = _xception()
CHECKPOINTS["se_resnet50"] = _se_resnet50()
