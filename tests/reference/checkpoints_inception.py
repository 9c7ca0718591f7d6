"""Checkpoint pairs (archbench path, reference path) for the inception zoo networks; see compare.py.

inception_v3 is not listed: its archbench layer names are torchvision's (Conv2d_1a_3x3, Mixed_5b,
..., AuxLogits, fc), so compare.py pairs every top-level layer by name.
"""


def _repeated(ours: str, theirs: str, count: int, start: int = 0, nested: bool = True) -> list[tuple[str, str]]:
    """Pair ours.i with theirs.i (nested) or with features.{start + i} (timm's flat Sequential)."""
    if nested:
        return [(f"{ours}.{i}", f"{theirs}.{i}") for i in range(count)]
    return [(f"{ours}.{i}", f"{theirs}.{start + i}") for i in range(count)]


CHECKPOINTS: dict[str, list[tuple[str, str]]] = {}

# timm inception_v4: one flat `features` Sequential; its ConvNormAct keeps the ReLU inside `bn`,
# ours as a separate `act`, so a stem conv unit as a whole is the same computation.
CHECKPOINTS["inception_v4"] = [
    ("stem_conv1", "features.0"),
    ("stem_conv2", "features.1"),
    ("stem_conv3", "features.2"),
    ("mixed_3a", "features.3"),
    ("mixed_4a", "features.4"),
    ("mixed_5a", "features.5"),
    *_repeated("inception_a", "features", 4, start=6, nested=False),
    ("reduction_a", "features.10"),
    *_repeated("inception_b", "features", 7, start=11, nested=False),
    ("reduction_b", "features.18"),
    *_repeated("inception_c", "features", 3, start=19, nested=False),
    ("global_pool", "global_pool"),
    ("last_linear", "last_linear"),
]

# timm inception_resnet_v2: archbench uses timm's names; the repeated stages are also checked
# block by block (each Block35/17/8 as a whole; timm's residual `conv2d` is our `project`).
CHECKPOINTS["inception_resnet_v2"] = [
    ("conv2d_1a", "conv2d_1a"),
    ("conv2d_2a", "conv2d_2a"),
    ("conv2d_2b", "conv2d_2b"),
    ("maxpool_3a", "maxpool_3a"),
    ("conv2d_3b", "conv2d_3b"),
    ("conv2d_4a", "conv2d_4a"),
    ("maxpool_5a", "maxpool_5a"),
    ("mixed_5b", "mixed_5b"),
    ("repeat", "repeat"),
    *_repeated("repeat", "repeat", 10),
    ("mixed_6a", "mixed_6a"),
    ("repeat_1", "repeat_1"),
    *_repeated("repeat_1", "repeat_1", 20),
    ("mixed_7a", "mixed_7a"),
    ("repeat_2", "repeat_2"),
    *_repeated("repeat_2", "repeat_2", 9),
    ("block8", "block8"),
    ("block8.project", "block8.conv2d"),
    ("conv2d_7b", "conv2d_7b"),
    ("global_pool", "global_pool"),
    ("classif", "classif"),
]

# facenet-pytorch InceptionResnetV1 (+ the reference's ImageNet head): archbench uses its names.
CHECKPOINTS["inception_resnet_v1"] = [
    ("conv2d_1a", "conv2d_1a"),
    ("conv2d_2a", "conv2d_2a"),
    ("conv2d_2b", "conv2d_2b"),
    ("maxpool_3a", "maxpool_3a"),
    ("conv2d_3b", "conv2d_3b"),
    ("conv2d_4a", "conv2d_4a"),
    ("conv2d_4b", "conv2d_4b"),
    ("repeat_1", "repeat_1"),
    *_repeated("repeat_1", "repeat_1", 5),
    ("mixed_6a", "mixed_6a"),
    ("repeat_2", "repeat_2"),
    *_repeated("repeat_2", "repeat_2", 10),
    ("mixed_7a", "mixed_7a"),
    ("repeat_3", "repeat_3"),
    *_repeated("repeat_3", "repeat_3", 5),
    ("block8", "block8"),
    ("block8.project", "block8.conv2d"),
    ("avgpool_1a", "avgpool_1a"),
    ("logits", "logits"),
]
