"""Small models reachable as `module:callable` targets in the tests."""

from typing import NamedTuple

import torch
from torch import nn


class GoogLeNetOutputs(NamedTuple):  # torchvision's, field for field (torchvision is not a dependency)
    logits: torch.Tensor
    aux_logits2: torch.Tensor | None
    aux_logits1: torch.Tensor | None


class InceptionOutputs(NamedTuple):  # torchvision's Inception-v3 output
    logits: torch.Tensor
    aux_logits: torch.Tensor | None


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def raises() -> nn.Module:
    raise ValueError("weights file missing")


def not_a_module() -> int:
    return 42


class OomAtLargeBatch(nn.Module):
    """Behaves like a GPU that runs out of memory above batch 2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x.flatten(1))
