# Reference copies of timm's legacy Xception and SE-ResNet-50, used ONLY by the archbench
# test-suite as an independent check of the zoo's xception and se_resnet50.
#
# Source repository: https://github.com/huggingface/pytorch-image-models (timm)
#   timm/models/xception.py            (Xception, SeparableConv2d, Block; `legacy_xception`)
#   timm/models/resnet.py              (ResNet, Bottleneck, downsample_conv; `seresnet50` is
#                                       ResNet(Bottleneck, [3, 4, 6, 3], block_args=dict(attn_layer='se')))
#   timm/layers/squeeze_excite.py      (SEModule: mean -> fc1 -> bn (Identity) -> act -> fc2 -> gate)
#   timm/layers/classifier.py          (create_classifier -> global_pool, fc)
#   timm/layers/adaptive_avgmax_pool.py (SelectAdaptivePool2d: children `pool`, `flatten`)
# License: Apache License 2.0, Copyright 2019 Ross Wightman
#   (http://www.apache.org/licenses/LICENSE-2.0). xception.py says it was ported by tstandley
#   and adapted by Cadene (https://github.com/Cadene/pretrained-models.pytorch, BSD-3-Clause).
#
# Written for archbench from the upstream structure: module names, nesting, order of
# registration and forward computation are timm's for these configurations (ReLU, BatchNorm2d
# with eps 1e-5, no drop path, no drop block, no anti-aliasing, global_pool='avg', drop_rate 0).
# Removed: registry/pretrained configs, feature_info, group_matcher, grad checkpointing,
# get/reset_classifier, timm's weight init. SE's rd channels are make_divisible(C / 16, 8).
# Only `torch` is imported.

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["Xception", "legacy_xception", "seresnet50"]


class SelectAdaptivePool2d(nn.Module):
    """timm's global pool for pool_type='avg', flatten=True: children `pool` and `flatten`."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(x))


# ---------------------------------------------------------------------------- Xception
class SeparableConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                               groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, 1, 0, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))


class Block(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, reps: int, strides: int = 1,
                 start_with_relu: bool = True, grow_first: bool = True):
        super().__init__()
        if out_channels != in_channels or strides != 1:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=strides, bias=False)
            self.skipbn = nn.BatchNorm2d(out_channels)
        else:
            self.skip = None
        rep: list[nn.Module] = []
        for i in range(reps):
            if grow_first:
                inc, outc = (in_channels if i == 0 else out_channels), out_channels
            else:
                inc, outc = in_channels, (in_channels if i < reps - 1 else out_channels)
            rep += [nn.ReLU(inplace=True), SeparableConv2d(inc, outc, 3, stride=1, padding=1), nn.BatchNorm2d(outc)]
        if not start_with_relu:
            rep = rep[1:]
        else:
            rep[0] = nn.ReLU(inplace=False)  # the block input is still needed by the skip
        if strides != 1:
            rep.append(nn.MaxPool2d(3, strides, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.rep(inp)
        skip = self.skipbn(self.skip(inp)) if self.skip is not None else inp
        x += skip
        return x


class Xception(nn.Module):
    """Chollet 2017, as timm's legacy_xception (Keras-ported weights)."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        self.num_features = 2048
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.act2 = nn.ReLU(inplace=True)
        self.block1 = Block(64, 128, 2, 2, start_with_relu=False)
        self.block2 = Block(128, 256, 2, 2)
        self.block3 = Block(256, 728, 2, 2)
        for i in range(4, 12):  # the middle flow: eight identical blocks
            setattr(self, f"block{i}", Block(728, 728, 3, 1))
        self.block12 = Block(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(1536)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = SeparableConv2d(1536, self.num_features, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(self.num_features)
        self.act4 = nn.ReLU(inplace=True)
        self.global_pool = SelectAdaptivePool2d()
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = self.act3(self.bn3(self.conv3(x)))
        return self.act4(self.bn4(self.conv4(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.global_pool(self.forward_features(x)))


def legacy_xception() -> Xception:
    return Xception()


# ---------------------------------------------------------------------------- SE-ResNet-50
def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class SEModule(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): x * sigmoid(fc2(relu(fc1(mean(x)))))."""

    def __init__(self, channels: int, rd_ratio: float = 1.0 / 16, rd_divisor: int = 8):
        super().__init__()
        rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=True)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.act(self.bn(self.fc1(x_se)))
        x_se = self.fc2(x_se)
        return x * self.gate(x_se)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        width = first_planes = planes
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, first_planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(first_planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(first_planes, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.drop_block = nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv3 = nn.Conv2d(width, outplanes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.se = SEModule(outplanes)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.aa(self.act2(self.drop_block(self.bn2(self.conv2(x)))))
        x = self.bn3(self.conv3(x))
        x = self.se(x)
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return self.act3(x)


class ResNet(nn.Module):
    def __init__(self, layers: list[int], num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * Bottleneck.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes * Bottleneck.expansion, 1, stride=stride, padding=0, bias=False),
                    nn.BatchNorm2d(planes * Bottleneck.expansion))
            stage = [Bottleneck(inplanes, planes, stride, downsample)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.num_features = 512 * Bottleneck.expansion
        self.global_pool = SelectAdaptivePool2d()
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.global_pool(x))


def seresnet50() -> ResNet:
    return ResNet([3, 4, 6, 3])
