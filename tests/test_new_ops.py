"""``sepconv`` and ``gate``: the two ops added through the registry for xception and se_resnet50.

The zoo tests (test_zoo.py, test_cost_memory.py) check both networks against timm's reference
copies (params, fvcore FLOPs per block, logits with the same weights) and the meta replay; these
check the ops on their own: fields, errors, costs by formula, memory to the byte, transforms.
"""

from __future__ import annotations

import pytest

import archbench
from archbench.cost import analyze, estimate_memory
from archbench.errors import ShapeError, SpecError
from archbench.spec import dump_yaml, resolve

SMALL = """
name: small
input: 3x16x16
classes: 5
body:
  - {conv: 8, kernel: 3, name: stem}
  - block: xblock
    merge: residual
    act: none
    shortcut: [{conv: 16, kernel: 1, stride: 2, act: none}]
    branches:
      - - {sepconv: 16, kernel: 3, pre_act: relu}
        - {sepconv: 16, kernel: 3, act: none}
        - {maxpool: 3, stride: 2, padding: 1}
  - block: seblock
    merge: residual
    repeat: 3
    shortcut: auto
    branches:
      - - {conv: 8, kernel: 1}
        - {conv: 8, kernel: 3}
        - {conv: 32, kernel: 1, act: none}
        - gate:
            - {conv: 8, kernel: 1, bias: true, norm: none}
            - {conv: 32, kernel: 1, bias: true, norm: none, act: none}
  - {sepconv: 24, kernel: 3, stride: 2, name: exit}
head:
  - {global_pool: avg}
  - {linear: classes}
"""


def test_costs_follow_the_formulas():
    report = analyze(archbench.loads(SMALL))
    x = report.layer("xblock")  # 8x16x16 -> 16x8x8
    dw1, pw1 = 8 * 9, 8 * 16  # depthwise 3x3 on 8 channels, pointwise 8 -> 16
    dw2, pw2 = 16 * 9, 16 * 16
    shortcut = 8 * 16
    assert x.params == dw1 + pw1 + 32 + dw2 + pw2 + 32 + shortcut + 32
    assert x.flops_by_op["conv"] == (dw1 + pw1 + dw2 + pw2) * 16 * 16 + shortcut * 8 * 8
    assert x.activations == (8 + 16 + 16 + 16) * 16 * 16 + 16 * 8 * 8
    se = report.layer("seblock")
    gate = (32 * 8 + 8) + (8 * 32 + 32)  # fc1 and fc2 with biases
    body = 8 * 8 * 9 + 16 + 8 * 32 + 64 + gate  # 3x3 conv + BN, 1x1 to 32 + BN, gate
    first = 16 * 8 + 16 + body + 16 * 32 + 64  # 1x1 from 16 channels, and the auto shortcut 16 -> 32
    later = 32 * 8 + 16 + body
    assert se.params == first + 2 * later
    assert se.uncounted["mean"] == se.uncounted["sigmoid"] == se.uncounted["mul"] == 3
    assert report.layer("exit").out_shape == (24, 4, 4)


def test_built_modules_have_the_parameters_the_placement_counts():
    spec = archbench.loads(SMALL)
    net = archbench.build(spec)
    report = analyze(spec)
    for row in report.layers:
        assert sum(p.numel() for p in getattr(net, row.name).parameters()) == row.params, row.name
    assert [n for n, _ in net.exit.named_children()] == ["depthwise", "pointwise", "bn", "act"]
    assert type(net.seblock[0].branch0[3]).__name__ == "GateModule"


@pytest.mark.parametrize("batch", [1, 3])
def test_memory_equals_the_meta_replay_to_the_byte(batch: int):
    from archbench.profile.memory import estimate_on_meta

    spec = archbench.loads(SMALL)
    est = estimate_memory(spec, batch=batch)
    assert (est.param_bytes, est.buffer_bytes, est.inference_peak_bytes, est.training_peak_bytes) == \
        estimate_on_meta(lambda: archbench.build(spec), spec.input, batch)


def test_gate_scales_channels_by_the_sigmoid_of_its_chain():
    import torch

    spec = archbench.loads(SMALL)
    torch.manual_seed(0)
    gate = archbench.build(spec).eval().seblock[0].branch0[3]
    x = torch.randn(2, 32, 4, 4)
    with torch.no_grad():
        expected = x * torch.sigmoid(gate.gate(x.mean((2, 3), keepdim=True)))
        torch.testing.assert_close(gate(x), expected)


@pytest.mark.parametrize("name", ["xception", "se_resnet50"])
def test_width_and_depth_multipliers_apply_to_the_new_ops(name: str):
    spec = archbench.loads(f"base: {name}\nname: v\nwidth_multiplier: 0.5\ndepth_multiplier: 0.5\n")
    a, b = analyze(spec), analyze(resolve(spec))
    assert [(x.name, x.out_shape, x.params, x.flops_by_op) for x in a.layers] == \
        [(x.name, x.out_shape, x.params, x.flops_by_op) for x in b.layers]
    assert a.params() < analyze(archbench.load_spec(name)).params() / 3
    assert archbench.loads(dump_yaml(spec)) == archbench.loads(dump_yaml(resolve(spec)))


@pytest.mark.parametrize("text,expect,where", [
    ("- {sepconv: 8, kernel: 3, pre_act: swish}", "unknown value 'swish'", "body[0].pre_act"),
    ("- {sepconv: 8, dilation: 2}", "unknown field 'dilation' for a sepconv", "body[0].dilation"),
    ("- {sepconv: 0}", "must be at least 1", "body[0].sepconv"),
    ("- {gate: {conv: 8, kernel: 1}}", "expected a non-empty list of layers", "body[0].gate"),
    ("- {gate: [{conv: 8, kernel: 1}], act: none}", "unknown value 'none'", "body[0].act"),
])
def test_bad_fields_are_reported_with_their_path(text: str, expect: str, where: str):
    with pytest.raises(SpecError) as info:
        archbench.loads(f"name: x\ninput: 3x8x8\nbody:\n  {text}\n")
    assert expect in str(info.value) and where in str(info.value)


def test_a_gate_that_does_not_give_one_weight_per_channel_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"gated: a gate's chain must give 8x1x1 .* got 4x1x1"):
        analyze(archbench.loads("name: x\ninput: 3x8x8\nbody:\n  - {conv: 8, kernel: 1, name: c}\n"
                                "  - {gate: [{conv: 4, kernel: 1}], name: gated}\n"))
