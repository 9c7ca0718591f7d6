"""Checkpoint pairs (archbench path, reference path) for the baselines zoo networks; see compare.py.

Every pair names two modules that compute the same thing, so output shapes and fvcore FLOPs per
operator must agree exactly:

* a conv op of ours is a ``ConvNormAct`` (``.conv``, ``.bn``, ``.act``); where the reference keeps
  the conv, its BN and its ReLU as separate modules, ``.conv`` pairs with the reference's conv
  and ``.bn`` with its BN;
* a ``{linear: N, act: relu}`` op is ``Sequential(fc, act)``, so ``.fc`` pairs with the reference's
  ``nn.Linear``;
* pools, dropouts and whole residual blocks/stages pair one to one.

The whole-network check (parameters and fvcore FLOPs by operator) runs on top of these.
"""

from __future__ import annotations

CHECKPOINTS: dict[str, list[tuple[str, str]]] = {}


# ---------------------------------------------------------------------------- AlexNet
# torchvision: features = conv,relu,pool, conv,relu,pool, conv,relu, conv,relu, conv,relu,pool;
# classifier = dropout, linear, relu, dropout, linear, relu, linear.
CHECKPOINTS["alexnet"] = [
    ("conv1.conv", "features.0"),
    ("pool1", "features.2"),
    ("conv2.conv", "features.3"),
    ("pool2", "features.5"),
    ("conv3.conv", "features.6"),
    ("conv4.conv", "features.8"),
    ("conv5.conv", "features.10"),
    ("pool5", "features.12"),
    ("avgpool", "avgpool"),
    ("drop6", "classifier.0"),
    ("fc6.fc", "classifier.1"),
    ("drop7", "classifier.3"),
    ("fc7.fc", "classifier.4"),
    ("fc8", "classifier.6"),
]


# ---------------------------------------------------------------------------- VGG
def _vgg(convs_per_stage: list[int]) -> list[tuple[str, str]]:
    """conv{s}_{i} / pool{s} against torchvision's flat ``features`` (each conv followed by a ReLU)."""
    pairs, k = [], 0
    for s, n in enumerate(convs_per_stage, 1):
        for i in range(1, n + 1):
            pairs.append((f"conv{s}_{i}.conv", f"features.{k}"))
            k += 2  # conv, relu
        pairs.append((f"pool{s}", f"features.{k}"))
        k += 1
    # classifier = linear, relu, dropout, linear, relu, dropout, linear
    return pairs + [
        ("avgpool", "avgpool"),
        ("fc6.fc", "classifier.0"),
        ("drop6", "classifier.2"),
        ("fc7.fc", "classifier.3"),
        ("drop7", "classifier.5"),
        ("fc8", "classifier.6"),
    ]


CHECKPOINTS["vgg16"] = _vgg([2, 2, 3, 3, 3])
CHECKPOINTS["vgg19"] = _vgg([2, 2, 4, 4, 4])


# ---------------------------------------------------------------------------- ResNet
def _resnet(blocks: list[int], downsample_in_layer1: bool) -> list[tuple[str, str]]:
    """Our conv1 is torchvision's conv1 + bn1 + relu; stages and blocks keep torchvision's paths.

    ``layerS.0.shortcut`` (the 1x1 conv + BN of ``shortcut: auto``) is torchvision's
    ``layerS.0.downsample``; it exists in every stage whose first block changes the shape.
    """
    pairs = [("conv1.conv", "conv1"), ("conv1.bn", "bn1"), ("maxpool", "maxpool")]
    for s, n in enumerate(blocks, 1):
        pairs.append((f"layer{s}", f"layer{s}"))
        pairs += [(f"layer{s}.{i}", f"layer{s}.{i}") for i in range(n)]
        if s > 1 or downsample_in_layer1:
            pairs.append((f"layer{s}.0.shortcut", f"layer{s}.0.downsample"))
    return pairs + [("avgpool", "avgpool"), ("fc", "fc")]


CHECKPOINTS["resnet34"] = _resnet([3, 4, 6, 3], downsample_in_layer1=False)
CHECKPOINTS["resnet50"] = _resnet([3, 4, 6, 3], downsample_in_layer1=True)
CHECKPOINTS["resnet152"] = _resnet([3, 8, 36, 3], downsample_in_layer1=True)


# ---------------------------------------------------------------------------- BN-Inception
# Cadene's bninception is flat: conv, its BN and its ReLU are separate modules
# (inception_3a_3x3, inception_3a_3x3_bn, inception_3a_relu_3x3) and every block's concat happens
# in forward(), so no reference module outputs a block's result. Each of our convs is therefore
# paired through its .conv and .bn with the port's conv and BN, and each pool with the port's
# pool; together with the whole-network check this covers every layer of every stage.
_BN_STEM = [
    ("conv1_7x7_s2.conv", "conv1_7x7_s2"),
    ("conv1_7x7_s2.bn", "conv1_7x7_s2_bn"),
    ("pool1_3x3_s2", "pool1_3x3_s2"),
    ("conv2_3x3_reduce.conv", "conv2_3x3_reduce"),
    ("conv2_3x3_reduce.bn", "conv2_3x3_reduce_bn"),
    ("conv2_3x3.conv", "conv2_3x3"),
    ("conv2_3x3.bn", "conv2_3x3_bn"),
    ("pool2_3x3_s2", "pool2_3x3_s2"),
]
_BN_BLOCKS = ("3a", "3b", "3c", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
_BN_REDUCTIONS = ("3c", "4e")  # stride 2: no 1x1 branch, pool branch is a bare max pool


def _bn_inception() -> list[tuple[str, str]]:
    pairs = list(_BN_STEM)
    for b in _BN_BLOCKS:
        ours, theirs = f"inception_{b}", f"inception_{b}"
        branches: list[list[str]] = []  # the port's conv names, branch by branch, in concat order
        if b not in _BN_REDUCTIONS:
            branches.append(["1x1"])
        branches.append(["3x3_reduce", "3x3"])
        branches.append(["double_3x3_reduce", "double_3x3_1", "double_3x3_2"])
        for i, convs in enumerate(branches):
            for j, conv in enumerate(convs):
                pairs.append((f"{ours}.branch{i}.{j}.conv", f"{theirs}_{conv}"))
                pairs.append((f"{ours}.branch{i}.{j}.bn", f"{theirs}_{conv}_bn"))
        pool = len(branches)
        pairs.append((f"{ours}.branch{pool}.0", f"{theirs}_pool"))
        if b not in _BN_REDUCTIONS:
            pairs.append((f"{ours}.branch{pool}.1.conv", f"{theirs}_pool_proj"))
            pairs.append((f"{ours}.branch{pool}.1.bn", f"{theirs}_pool_proj_bn"))
    return pairs + [("global_pool", "global_pool"), ("last_linear", "last_linear")]


CHECKPOINTS["inception_bn"] = _bn_inception()
