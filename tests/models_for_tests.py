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


class AttentionNet(nn.Module):
    """Patches -> one self-attention layer (two heads, scaled_dot_product_attention) -> classifier.

    On a 3x32x32 input: 64 tokens of 16 features; the attention's multiply-adds are
    2 (Q K^T and the weighted sum of V) x heads 2 x 64 x 64 x head size 8 = 131,072."""

    def __init__(self, cdist: bool = False) -> None:
        super().__init__()
        self.patches = nn.Conv2d(3, 16, 4, stride=4)
        self.qkv = nn.Linear(16, 48)
        self.fc = nn.Linear(16, 10)
        self.cdist = cdist

    def forward(self, x):
        t = self.patches(x).flatten(2).transpose(1, 2)  # (batch, 64, 16)
        q, k, v = (a.unflatten(-1, (2, 8)).transpose(1, 2) for a in self.qkv(t).chunk(3, dim=-1))
        out = nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        if self.cdist:  # an operator no FLOP counter has a formula for
            out = out + torch.cdist(out, out).mean(-1, keepdim=True)
        return self.fc(out.mean(1))


def attention_net() -> nn.Module:
    return AttentionNet()


def attention_cdist_net() -> nn.Module:
    return AttentionNet(cdist=True)
