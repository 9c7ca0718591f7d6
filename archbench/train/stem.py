"""Small-image stems: keep the spatial resolution the way CIFAR versions of these networks do.

Why. An ImageNet stem downsamples before the first stage: GoogLeNet by 8 (224 -> 28 at
inception 3a), ResNet by 4 (224 -> 56 at layer1), Inception-v3/-v4/-ResNet by about 8.5
(299 -> 35). On 32x32 images that leaves GoogLeNet at 4x4 in stage 3 and 1x1 in stage 5, and
every architecture trains to the same poor accuracy: the comparison measures the stem, not
the blocks. The small-image versions in the literature replace the stem with one 3x3
stride-1 convolution and keep everything after it (kuangliu/pytorch-cifar: GoogLeNet's
``pre_layers`` is a 3x3 conv to 192 channels, then 3a, 3b, max pool, 4a-4e, max pool, 5a-5b;
the CIFAR ResNet has a 3x3 stride-1 ``conv1`` of 64 channels and no max pool).

The rule, for any spec. The **stem** is the part of the body before the first block that keeps
its input's resolution (the first block of the first stage: GoogLeNet's inception3a,
ResNet's layer1, Inception-v3's Mixed_5b, Inception-v4's inception_a after its three stem
blocks); in a body with no blocks (AlexNet, VGG, LeNet) it ends before the first convolution
that keeps the resolution. The **small stem** is one 3x3 stride-1 convolution to the stem's
output width (with the norm and activation of the stem's last convolution), so the first stage
runs at the image's own resolution and the later grid reductions are kept. A stem that does not
downsample (VGG, LeNet) has nothing to replace.

``auto`` picks the stem whose first stage runs closer (on a log scale) to the resolution that
stage was designed for. With native input ``N``, stem downsampling ``f`` and images of side
``S``, the first stage was designed for ``N/f`` and runs at ``S/f`` (ImageNet stem) or ``S``
(small stem); the small stem is closer exactly when ``S < N / sqrt(f)``: below 79 px for
GoogLeNet and Inception-BN (f = 8), 102 px for Inception-v3/-v4/-ResNet (f = 8.5), 112 px for
ResNet (f = 4). So CIFAR (32) and Tiny-ImageNet (64) get the small stem everywhere, STL-10 (96)
keeps GoogLeNet's ImageNet stem but not ResNet's, and a spec already written for its image size
(native input = the data's) keeps its own stem.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError

STEMS = ("auto", "imagenet", "small")
SMALL_STEM_NAME = "stem_small"


@dataclass(frozen=True)
class StemInfo:
    """Where a spec's stem ends and how much it downsamples (at the spec's own input size)."""

    length: int  # body entries in the stem (0: nothing to replace)
    channels: int  # channels the stem hands to the first stage
    factor: float  # input side / first-stage side

    @property
    def threshold(self) -> float:
        """Below this image side (in pixels, relative to a native side of 1) ``auto`` picks the small stem."""
        return 1 / math.sqrt(self.factor)


def check_stem(stem: str) -> str:
    if stem not in STEMS:
        raise ArchbenchError(f"--stem: expected one of {', '.join(STEMS)}, got {stem!r}")
    return stem


def stem_info(spec: Any, doc: dict) -> StemInfo:
    """The stem of ``spec`` (``doc`` is its canonical dictionary, body entries in order)."""
    from ..cost import analyze

    layers = [layer for layer in analyze(spec).layers if not layer.is_aux][:len(doc["body"])]
    has_blocks = any(layer.kind == "block" for layer in layers)
    kind = "block" if has_blocks else "conv"
    end = next((i for i, layer in enumerate(layers)
                if layer.kind == kind and layer.in_shape[1:] == layer.out_shape[1:]), None)
    if end is None or end == 0:
        return StemInfo(0, spec.input[0], 1.0)
    first = layers[end].in_shape
    return StemInfo(end, first[0], spec.input[1] / first[1])


def choose_stem(stem: str, spec: Any, doc: dict, image_side: int) -> tuple[str, StemInfo]:
    """``"small"`` or ``"imagenet"`` for ``stem`` (``auto`` resolved by the rule above), and the stem."""
    check_stem(stem)
    info = stem_info(spec, doc)
    if info.length == 0:
        return "imagenet", info  # nothing to replace: the network keeps its resolution already
    if stem == "auto":
        stem = "small" if image_side < spec.input[1] * info.threshold else "imagenet"
    return stem, info


def small_stem_doc(doc: dict, info: StemInfo) -> dict:
    """``doc`` with its stem replaced by one 3x3 stride-1 conv of the stem's output width."""
    last = _last_conv(doc["body"][:info.length])
    conv = {k: v for k, v in (last or {}).items() if k in ("norm", "act", "bn_eps", "bias")}
    conv.update({"conv": info.channels, "kernel": 3, "stride": 1, "padding": 1, "name": SMALL_STEM_NAME})
    out = copy.deepcopy(doc)
    out["body"] = [conv, *out["body"][info.length:]]
    return out


def uses_small_stem(spec: Any) -> bool:
    """Whether ``spec`` (an adapted spec) starts with the small-image stem."""
    return bool(spec.body) and getattr(spec.body[0], "name", None) == SMALL_STEM_NAME


def _last_conv(ops: list) -> dict | None:
    """The last ``conv`` op in ``ops``, looking inside blocks' branches (depth first, in order)."""
    found = None
    for op in ops:
        if isinstance(op, dict) and "conv" in op:
            found = op
        elif isinstance(op, dict) and "branches" in op:
            for branch in op["branches"]:
                found = _last_conv(branch) or found
    return found
