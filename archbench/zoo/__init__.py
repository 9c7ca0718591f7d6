"""The built-in networks, written in the grammar and shipped as package data."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path


def _folder() -> Path:
    return Path(str(resources.files(__name__)))


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in _folder().glob("*.yaml")))


# The order of the zoo table: baselines first, then the Inception family in paper order.
ORDER = ("lenet5", "alexnet", "vgg16", "vgg19", "resnet34", "resnet50", "resnet152", "googlenet",
         "googlenet_paper", "inception_bn", "inception_v3", "inception_v4", "inception_resnet_v1",
         "inception_resnet_v2")


def names() -> list[str]:
    """Zoo network names, in the order of the zoo table."""
    found = _names()
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def path(name: str) -> Path:
    return _folder() / f"{name}.yaml"
