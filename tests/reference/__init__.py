"""Pure-PyTorch reference copies of published CNNs, for archbench's tests only.

These are faithful copies of the upstream implementations (torchvision, timm,
Cadene's pretrained-models.pytorch, facenet-pytorch) with weight loading and
library helpers stripped; module names and nesting are the upstream ones, so
tests can compare per-module results by module path. See each file's header
for its source and license, and EXPECTED.md for the parameter/FLOP table.
"""

from typing import Callable, Dict, List, Tuple

import torch.nn as nn

from .bninception import bninception
from .facenet_inception_resnet_v1 import inception_resnet_v1
from .timm_models import inception_resnet_v2, inception_v4
from .timm_xception_seresnet import legacy_xception, seresnet50
from .torchvision_models import (
    alexnet,
    googlenet,
    inception_v3,
    resnet34,
    resnet50,
    resnet152,
    vgg16,
    vgg19,
)

__all__ = ["REFERENCE_BUILDERS", "REFERENCE_INPUT", "REFERENCE_STATE_ORDER"]

REFERENCE_BUILDERS: Dict[str, Callable[[], nn.Module]] = {
    "alexnet": alexnet,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet152": resnet152,
    "googlenet": lambda: googlenet(aux_logits=False),
    "googlenet_aux": lambda: googlenet(aux_logits=True),
    "inception_v3": lambda: inception_v3(aux_logits=False),
    "inception_v3_aux": lambda: inception_v3(aux_logits=True),
    "inception_v4": inception_v4,
    "inception_resnet_v1": inception_resnet_v1,
    "inception_resnet_v2": inception_resnet_v2,
    "inception_bn": bninception,
    "xception": legacy_xception,
    "se_resnet50": seresnet50,
}

_IMAGENET_224: Tuple[int, int, int] = (3, 224, 224)
_INCEPTION_299: Tuple[int, int, int] = (3, 299, 299)

REFERENCE_INPUT: Dict[str, Tuple[int, int, int]] = {
    "alexnet": _IMAGENET_224,
    "vgg16": _IMAGENET_224,
    "vgg19": _IMAGENET_224,
    "resnet34": _IMAGENET_224,
    "resnet50": _IMAGENET_224,
    "resnet152": _IMAGENET_224,
    "googlenet": _IMAGENET_224,
    "googlenet_aux": _IMAGENET_224,
    "inception_v3": _INCEPTION_299,
    "inception_v3_aux": _INCEPTION_299,
    "inception_v4": _INCEPTION_299,
    "inception_resnet_v1": _INCEPTION_299,
    "inception_resnet_v2": _INCEPTION_299,
    "inception_bn": _IMAGENET_224,
    "xception": _INCEPTION_299,
    "se_resnet50": _IMAGENET_224,
}


def _xception_order(keys: List[str]) -> List[str]:
    """timm's Xception blocks register their skip conv and BN before ``rep``; archbench's
    residual blocks register the shortcut after the branches. Same tensors, other order:
    within each top-level module, the skip keys move after the others (a stable sort)."""
    tops: Dict[str, List[str]] = {}
    for key in keys:
        tops.setdefault(key.split(".", 1)[0], []).append(key)
    return [k for group in tops.values() for k in sorted(group, key=lambda k: k.partition(".")[2].startswith("skip"))]


# Reference state_dict keys in archbench's parameter order, where registration orders differ.
REFERENCE_STATE_ORDER: Dict[str, Callable[[List[str]], List[str]]] = {
    "xception": _xception_order,
}
