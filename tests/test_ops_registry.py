"""The op registry and the placement: one walk, ops found by kind, an op added by one file.

The worked example of docs/grammar.md section 16 (a ``hardswish`` op) is installed from the
document itself, so the documented extension point is the tested one.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import archbench
from archbench.cost import analyze, estimate_memory
from archbench.errors import SpecError
from archbench.spec import dump_yaml, place, resolve
from archbench.spec.ops import MERGES, OP_TYPES, OPS
from archbench.spec.place import STACK

DOC = Path(__file__).parent.parent / "docs" / "grammar.md"

HARDSWISH_NET = """
name: hs
input: 3x16x16
classes: 4
body:
  - {conv: 8, kernel: 3, name: stem}
  - {hardswish: true, name: hs1}
  - block: mixed
    branches:
      - [{conv: 4, kernel: 1, act: none}, {hardswish: true}]
      - [{maxpool: 3, stride: 1, padding: 1}, {conv: 4, kernel: 1}]
head:
  - {global_pool: avg}
  - {linear: classes}
"""


@pytest.fixture(scope="module")
def hardswish() -> None:
    """Register the documented op once per test session (the registry is global)."""
    if "hardswish" in OPS:
        return
    section = DOC.read_text().split("### A worked example: `hardswish`", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    module = types.ModuleType("archbench_doc_hardswish")
    sys.modules[module.__name__] = module  # dataclasses resolve string annotations through it
    exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - the documented example


def test_every_kind_is_registered_once_with_its_hooks():
    assert {"conv", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "global_pool", "lrn", "dropout",
            "flatten", "linear", "activation", "identity", "split"} <= set(OPS)
    assert {"concat", "residual"} <= set(MERGES)
    for cls, kind in OP_TYPES.items():
        assert kind.type is cls and kind.keys and all(OPS[k] is kind for k in kind.keys)
    assert all(kind.name == name for name, kind in MERGES.items())


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "inception_resnet_v2", "resnet50"])
def test_placement_paths_are_the_built_module_paths(name: str):
    spec = archbench.load_spec(name)
    net = place(spec)
    paths = [p for p, node in net.walk() if node.kind is not STACK]
    modules = dict(archbench.build(spec, aux=True).named_modules())
    assert paths and all(p in modules for p in paths)
    # every built conv and linear is a placed node or inside one (nothing built off the tree)
    placed = set(paths)
    for path, module in modules.items():
        if type(module).__name__ in ("Conv2d", "Linear"):
            assert any(path.startswith(p + ".") or path == p for p in placed), path


def test_identical_repetitions_are_one_node():
    net = place(archbench.load_spec("inception_resnet_v2"))
    stack = dict(net.layers)["repeat_1"]
    reps = [rep for _, rep in stack.parts]
    assert stack.kind is STACK and len(reps) == 20
    assert reps[0] is not reps[1] and all(rep is reps[1] for rep in reps[1:])


@pytest.mark.parametrize("text", [
    "base: googlenet\nname: w\nwidth_multiplier: 0.61\n",
    "base: googlenet\nname: f\nfactorize: [5x5, nxn]\nwidth_multiplier: 1.3\n",
    "base: inception_resnet_v2\nname: d\ndepth_multiplier: 0.5\nwidth_multiplier: 0.75\n",
    "base: resnet50\nname: r\nwidth_multiplier: 0.5\ndepth_multiplier: 1.5\n",
    "base: inception_v3\nname: v\nfactorize: [5x5]\nwidth_multiplier: 0.8\naux_heads: []\n",
])
def test_placing_a_variant_equals_placing_its_resolved_spec(text: str):
    """place() applies the transforms op by op; resolve() applies the same rewrites to the whole
    spec (for the canonical form). Both must give the same network, to the unit."""
    spec = archbench.loads(text)
    a, b = analyze(spec, batch=2), analyze(resolve(spec), batch=2)
    assert [(x.name, x.out_shape, x.params, x.flops_by_op, x.activations, x.uncounted) for x in a.layers] == \
        [(x.name, x.out_shape, x.params, x.flops_by_op, x.activations, x.uncounted) for x in b.layers]
    assert estimate_memory(spec, batch=2) == estimate_memory(resolve(spec), batch=2)


def test_documented_op_parses_costs_and_round_trips(hardswish):
    spec = archbench.loads(HARDSWISH_NET)
    report = analyze(spec)
    assert report.uncounted()["hardswish"] == 2
    assert report.layer("hs1").params == 0 and report.layer("hs1").out_shape == (8, 16, 16)
    assert archbench.loads(dump_yaml(spec)) == spec


def test_documented_op_reports_bad_fields(hardswish):
    with pytest.raises(SpecError) as info:
        archbench.loads("name: x\ninput: 3x8x8\nbody:\n  - {hardswish: 1, name: h}\n  - {hardswish: true, p: 2}\n")
    text = str(info.value)
    assert "body[0].hardswish" in text and "write 'hardswish: true', found int 1" in text
    assert "body[1].p" in text and "unknown field 'p' for a hardswish" in text


def test_documented_op_builds_and_agrees_with_fvcore_and_the_meta_replay(hardswish):
    import torch
    from fvcore.nn import FlopCountAnalysis

    from archbench.profile.memory import estimate_on_meta

    spec = archbench.loads(HARDSWISH_NET)
    net = archbench.build(spec).eval()
    assert isinstance(net.hs1, torch.nn.Hardswish)
    fca = FlopCountAnalysis(net, torch.randn(1, *spec.input))
    fca.unsupported_ops_warnings(False)
    assert fca.total() == analyze(spec).flops + analyze(spec).flops_by_op()["batch_norm"]
    for batch in (1, 3):
        est = estimate_memory(spec, batch=batch)
        assert (est.param_bytes, est.buffer_bytes, est.inference_peak_bytes, est.training_peak_bytes) == \
            estimate_on_meta(lambda: archbench.build(spec), spec.input, batch)
