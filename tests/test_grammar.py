"""The grammar: canonical round trip, transforms, derivation, and builder agreement."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import archbench
from archbench.cost import analyze
from archbench.spec import architecture_hash, dump_yaml, load_spec, loads, resolve, to_dict
from archbench.spec.transform import make_divisible

from .conftest import ZOO

TINY = """
name: tiny
input: 3x32x32
classes: 10
body:
  - {conv: 16, kernel: 3, name: stem}
  - block: mixed
    branches:
      - [{conv: 8, kernel: 1}]
      - [{conv: 8, kernel: 1}, {conv: 12, kernel: 5}]
      - [{conv: 8, kernel: 1}, {conv: 12, kernel: 7}]
      - [{avgpool: 3, stride: 1, padding: 1, count_include_pad: false}, {conv: 4, kernel: 1}]
  - block: expand
    branches:
      - [{conv: 8, kernel: 1}, {split: [[{conv: 8, kernel: 1x3}], [{conv: 8, kernel: 3x1}]]}]
      - [{maxpool: 3, stride: 1, padding: 1}]
  - block: res
    merge: residual
    scale: 0.2
    repeat: 3
    project: {conv: auto, kernel: 1, bias: true, norm: none, act: none}
    branches:
      - [{conv: 8, kernel: 1}]
      - [{conv: 8, kernel: 1}, {conv: 8, kernel: 3}]
head:
  - {global_pool: avg}
  - {linear: classes}
"""


def conv_params(cin: int, cout: int, kh: int, kw: int, bn: bool = True, bias: bool = False) -> int:
    return cout * cin * kh * kw + (2 * cout if bn else 0) + (cout if bias else 0)


def built_params(spec) -> int:
    return sum(p.numel() for p in archbench.build(spec).parameters())


@pytest.mark.parametrize("name", ZOO, ids=ZOO)
def test_canonical_round_trip_is_a_fixed_point(name: str):
    spec = load_spec(name)
    text = dump_yaml(spec)
    again = loads(text)
    assert to_dict(again) == to_dict(spec)
    assert architecture_hash(again) == architecture_hash(spec)
    assert dump_yaml(again) == text


def test_hash_ignores_names_but_not_widths():
    spec = loads(TINY)
    renamed = dataclasses.replace(spec, name="other", description="same network")
    assert architecture_hash(renamed) == architecture_hash(spec)
    wider = loads(TINY.replace("{conv: 16, kernel: 3, name: stem}", "{conv: 24, kernel: 3, name: stem}"))
    assert architecture_hash(wider) != architecture_hash(spec)


def test_specs_are_immutable():
    spec = loads(TINY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]


def test_tiny_spec_counts_match_formulas_and_builder():
    spec = loads(TINY)
    report = analyze(spec)
    stem = conv_params(3, 16, 3, 3)
    mixed = (conv_params(16, 8, 1, 1) + conv_params(16, 8, 1, 1) + conv_params(8, 12, 5, 5)
             + conv_params(16, 8, 1, 1) + conv_params(8, 12, 7, 7) + conv_params(16, 4, 1, 1))
    assert report.layer("mixed").out_shape == (36, 32, 32)
    expand = conv_params(36, 8, 1, 1) + conv_params(8, 8, 1, 3) + conv_params(8, 8, 3, 1)
    assert report.layer("expand").out_shape == (16 + 36, 32, 32)
    one_res = conv_params(52, 8, 1, 1) + conv_params(52, 8, 1, 1) + conv_params(8, 8, 3, 3) + conv_params(16, 52, 1, 1, bn=False, bias=True)
    fc = 52 * 10 + 10
    assert report.layer("stem").params == stem
    assert report.layer("mixed").params == mixed
    assert report.layer("expand").params == expand
    assert report.layer("res").params == 3 * one_res
    assert report.params() == stem + mixed + expand + 3 * one_res + fc
    assert built_params(spec) == report.params()
    net = archbench.build(spec).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [n for n, _ in net.named_children()] == ["stem", "mixed", "expand", "res", "adaptivepool1", "linear1"]
    assert len(net.res) == 3


def test_factorize_5x5_makes_two_3x3_and_nxn_makes_asymmetric_pairs():
    base = loads(TINY)
    five = loads(TINY.replace("body:", "factorize: 5x5\nbody:", 1))
    mixed_five = analyze(five).layer("mixed").params
    delta = conv_params(8, 12, 3, 3) + conv_params(12, 12, 3, 3) - conv_params(8, 12, 5, 5)
    assert mixed_five == analyze(base).layer("mixed").params + delta
    both = loads(TINY.replace("body:", "factorize: [5x5, nxn]\nbody:", 1))
    branch2 = resolve(both).layer("mixed").branches[2]
    assert [c.kernel for c in branch2] == [(1, 1), (1, 7), (7, 1)]
    branch1 = resolve(both).layer("mixed").branches[1]
    assert [c.kernel for c in branch1] == [(1, 1), (1, 3), (3, 1), (1, 3), (3, 1)]
    for spec in (five, both):
        report = analyze(spec)
        assert report.layer("mixed").out_shape == (36, 32, 32)
        assert built_params(spec) == report.params()
    # the expansion's 1x3/3x1 and the stem are untouched: only square same-padded convs in blocks
    assert [c.kernel for c in resolve(both).layer("expand").branches[0][1].branches[0]] == [(1, 3)]
    assert resolve(both).layer("stem").kernel == (3, 3)


def test_block_level_factorize_overrides_the_network_setting():
    text = TINY.replace("body:", "factorize: nxn\nbody:", 1).replace("  - block: mixed\n", "  - block: mixed\n    factorize: none\n")
    spec = resolve(loads(text))
    assert spec.layer("mixed").branches[2][1].kernel == (7, 7)
    assert spec.layer("res").branches[1][1].kernel == (1, 3)


@pytest.mark.parametrize("multiplier", [0.5, 0.75, 1.3])
def test_width_multiplier_uses_one_rounding_rule_and_keeps_ratios(multiplier: float):
    spec = load_spec("googlenet")
    scaled = resolve(dataclasses.replace(spec, width_multiplier=multiplier))
    for original, new in zip(spec.layer("inception4e").branches, scaled.layer("inception4e").branches):
        for a, b in zip(original, new):
            if hasattr(a, "out") and getattr(a, "kernel", None) is not None:
                assert b.out == make_divisible(a.out * multiplier, 8)
                assert b.out % 8 == 0 and abs(b.out - a.out * multiplier) <= max(4, 0.1 * a.out * multiplier)
    report = analyze(scaled)
    assert report.params(aux=True) == sum(p.numel() for p in archbench.build(scaled, aux=True).parameters())
    assert scaled.layer("fc").out == 1000  # classifier width is never scaled


def test_make_divisible_rule():
    assert make_divisible(24 * 0.5, 8) == 16  # 12 rounds half up
    assert make_divisible(3, 8) == 8  # never below the divisor
    assert make_divisible(100, 8) == 104
    assert make_divisible(91, 16) == 96


def test_depth_multiplier_scales_declared_repeats_only():
    spec = dataclasses.replace(loads(TINY), depth_multiplier=1.5)
    resolved = resolve(spec)
    assert resolved.layer("res").repeat == 5  # ceil(3 * 1.5)
    assert resolved.layer("mixed").repeat is None
    assert built_params(spec) == analyze(spec).params()


def test_repeat_keeps_strides_on_the_first_block_only():
    text = """
name: strided
input: 3x32x32
body:
  - block: stage
    repeat: 3
    merge: residual
    shortcut: auto
    branches:
      - [{conv: 16, kernel: 3, stride: 2}, {conv: 16, kernel: 3, act: none}]
head: [{global_pool: avg}, {linear: 10}]
"""
    report = analyze(loads(text))
    assert report.layer("stage").out_shape == (16, 16, 16)
    net = archbench.build(loads(text))
    assert net.stage[0].shortcut[0].conv.stride == (2, 2)
    assert net.stage[1].shortcut is None
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_base_and_set_derive_a_variant(tmp_path: Path):
    variant = tmp_path / "wide4a.yaml"
    variant.write_text(
        "base: googlenet\nname: googlenet_wide4a\nset:\n"
        "  inception4a.branches[0][0].conv: 256\n"
        "  inception4a.factorize: [nxn]\n"
    )
    spec = load_spec(variant)
    base = load_spec("googlenet")
    assert spec.name == "googlenet_wide4a"
    assert spec.layer("inception4a").branches[0][0].out == 256
    assert spec.layer("inception4a").factorize == ("nxn",)
    a, b = analyze(base), analyze(spec)
    assert b.layer("inception4a").out_shape == (576, 14, 14)
    assert b.layer("inception3b").params == a.layer("inception3b").params
    assert b.params() == built_params(spec)
    # a base given as a path, relative to the variant's file
    child = tmp_path / "child.yaml"
    child.write_text("base: wide4a.yaml\nname: child\nwidth_multiplier: 0.5\n")
    assert load_spec(child).width_multiplier == 0.5
    assert load_spec(child).layer("inception4a").branches[0][0].out == 256


def test_yaml_scientific_notation_is_a_number():
    spec = loads(TINY.replace("classes: 10", "classes: 10\ndefaults: {bn_eps: 1e-3}"))
    assert spec.layer("stem").bn_eps == pytest.approx(1e-3)
