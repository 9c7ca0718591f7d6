"""The small-image stem: which part of a spec is the stem, what replaces it, and when ``auto`` does."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import archbench
from archbench.cli.app import app
from archbench.errors import ArchbenchError
from archbench.search.space import load_space
from archbench.spec import to_dict
from archbench.train.adapt import adapt_spec
from archbench.train.stem import SMALL_STEM_NAME, choose_stem, stem_info, uses_small_stem

runner = CliRunner()


def _first_stage(spec):
    """Channels and side of the input of the first body layer after the stem conv."""
    report = archbench.analyze(spec)
    layer = [x for x in report.layers if not x.is_aux][1]
    return layer.name, layer.in_shape


# name, stem entries, stem output channels, downsampling before the first stage, first-stage block
STEMS = [
    ("googlenet", 5, 192, 224 / 28, "inception3a"),        # conv1 .. maxpool2; kuangliu's pre_layers: 3x3 conv 192
    ("googlenet_paper", 7, 192, 224 / 28, "inception3a"),  # plus the two LRNs
    ("inception_bn", 5, 192, 224 / 28, "inception_3a"),
    ("inception_v3", 7, 192, 299 / 35, "Mixed_5b"),
    ("inception_v4", 6, 384, 299 / 35, "inception_a"),     # its stem ends with three concat blocks
    ("inception_resnet_v1", 7, 256, 299 / 35, "repeat_1"),
    ("inception_resnet_v2", 7, 192, 299 / 35, "mixed_5b"),
    ("resnet34", 2, 64, 4, "layer1"),                      # the CIFAR ResNet: 3x3 conv 64, no max pool
    ("resnet50", 2, 64, 4, "layer1"),
    ("alexnet", 2, 64, 224 / 27, "conv2"),                 # no blocks: up to the first resolution-keeping conv
]


@pytest.mark.parametrize("name,length,channels,factor,first", STEMS, ids=[s[0] for s in STEMS])
def test_stem_is_found_and_replaced_by_a_3x3_stride1_conv(name, length, channels, factor, first):
    spec = archbench.load_spec(name)
    info = stem_info(spec, to_dict(spec))
    assert (info.length, info.channels) == (length, channels)
    assert info.factor == pytest.approx(factor)
    small = adapt_spec(name, classes=10, input_shape=(spec.input[0], 32, 32), aux=False, stem="small")
    conv = small.body[0]
    assert conv.name == SMALL_STEM_NAME and conv.out == channels and conv.kernel == (3, 3) and conv.stride == (1, 1)
    # the first stage now runs at the image's own resolution, with the width it always had
    assert _first_stage(small) == (first, (channels, 32, 32))
    assert archbench.analyze(small).output_shape == (10,) and uses_small_stem(small)


def test_small_googlenet_is_the_cifar_googlenet_layout():
    """kuangliu/pytorch-cifar's GoogLeNet: 3a, 3b at 32x32, max pool, 4a-4e at 16x16, max pool, 5a-5b at 8x8."""
    spec = adapt_spec("googlenet", classes=10, input_shape=(3, 32, 32), stem="small")
    sides = {x.name: x.in_shape[1] for x in archbench.analyze(spec).layers if len(x.in_shape) == 3}
    assert [sides[b] for b in ("inception3a", "inception3b", "inception4a", "inception4e", "inception5a", "inception5b")] \
        == [32, 32, 16, 16, 8, 8]
    full = archbench.analyze(adapt_spec("googlenet", classes=10, input_shape=(3, 32, 32), stem="imagenet"))
    assert full.layers[[x.name for x in full.layers].index("inception5b")].in_shape[1:] == (1, 1)


@pytest.mark.parametrize("name", ["vgg16", "lenet5"])
def test_a_stem_that_does_not_downsample_is_left_alone(name):
    spec = archbench.load_spec(name)
    side = spec.input[1]
    small = adapt_spec(name, classes=7, input_shape=(spec.input[0], side, side), stem="small")
    kept = adapt_spec(name, classes=7, input_shape=(spec.input[0], side, side), stem="imagenet")
    assert archbench.analyze(small).flops == archbench.analyze(kept).flops and not uses_small_stem(small)


# auto: small below N / sqrt(f): GoogLeNet 224/sqrt(8) = 79.2, ResNet 224/2 = 112, Inception-v3 299/sqrt(299/35) = 102.3
@pytest.mark.parametrize("name,side,expected", [
    ("googlenet", 32, "small"), ("googlenet", 64, "small"), ("googlenet", 79, "small"), ("googlenet", 80, "imagenet"),
    ("googlenet", 96, "imagenet"), ("resnet50", 96, "small"), ("resnet50", 111, "small"), ("resnet50", 112, "imagenet"),
    ("inception_v3", 102, "small"), ("inception_v3", 103, "imagenet"), ("inception_v3", 299, "imagenet"),
])
def test_auto_picks_the_stem_whose_first_stage_is_closer_to_its_design(name, side, expected):
    spec = archbench.load_spec(name)
    assert choose_stem("auto", spec, to_dict(spec), side)[0] == expected


def test_auto_keeps_the_stem_of_a_spec_written_for_its_image_size():
    spec = archbench.loads("base: googlenet\nname: g64\ninput: 3x64x64\n")  # native 64: its stem is meant
    assert choose_stem("auto", spec, to_dict(spec), 64)[0] == "imagenet"


@pytest.mark.parametrize("space", ["inception_v1", "inception_v3", "inception_resnet"])
def test_every_space_base_adapts_to_small_images(space):
    loaded = load_space(space)
    spec = adapt_spec(loaded.spec(loaded.defaults), classes=10, input_shape=(3, 16, 16), aux=False, stem="auto")
    assert uses_small_stem(spec) and archbench.analyze(spec).output_shape == (10,)


def test_bad_stem_is_a_user_error(tmp_path):
    with pytest.raises(ArchbenchError, match="--stem"):
        adapt_spec("googlenet", classes=10, input_shape=(3, 32, 32), stem="tiny")
    for argv in (["train", "googlenet", "--data", "synthetic:4:32:40", "--stem", "tiny", "--out", str(tmp_path)],
                 ["search", "--objective", "train", "--data", "synthetic:4:32:40", "--stem", "tiny",
                  "--results", str(tmp_path)],
                 ["calibrate", "--data", "synthetic:4:32:40", "--stem", "tiny", "--results", str(tmp_path)]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2 and "--stem" in result.output and "Traceback" not in result.output, argv
