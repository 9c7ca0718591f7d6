"""Shared fixtures: the zoo, with the numbers of ../shared/REFERENCE.md."""

from __future__ import annotations

import pytest

from archbench import zoo

# REFERENCE.md: exact parameter counts of the reference implementations (ImageNet heads).
# (name) -> (params without aux heads, params with aux heads or None)
REFERENCE_PARAMS: dict[str, tuple[int, int | None]] = {
    "lenet5": (61_706, None),
    "alexnet": (61_100_840, None),
    "vgg16": (138_357_544, None),
    "vgg19": (143_667_240, None),
    "resnet34": (21_797_672, None),
    "resnet50": (25_557_032, None),
    "resnet152": (60_192_808, None),
    "googlenet": (6_624_904, 13_004_888),
    "googlenet_paper": (6_998_552, None),
    "inception_bn": (11_295_240, None),
    "inception_v3": (23_834_568, 27_161_264),
    "inception_v4": (42_679_816, None),
    "inception_resnet_v1": (24_357_096, None),
    "inception_resnet_v2": (55_843_464, None),
    # issue 12 (timm legacy_xception at 299, timm seresnet50 at 224)
    "xception": (22_855_952, None),
    "se_resnet50": (28_088_024, None),
}

ZOO = zoo.names()
# The big ones take seconds to build and run on 2 CPU cores; keep them, but mark them.
LARGE = {"vgg16", "vgg19", "resnet152", "inception_v4", "inception_resnet_v2", "alexnet"}


def zoo_params(names=ZOO):
    return [pytest.param(n, id=n, marks=[pytest.mark.slow] if n in LARGE else []) for n in names]
