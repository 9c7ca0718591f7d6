"""Analytic memory (archbench.cost.memory) against the meta-device replay, formulas and the search.

The reference is :func:`archbench.profile.memory.estimate_on_meta`, an independent measurement:
it runs the built module on the meta device and watches every storage torch allocates and frees.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archbench
from archbench import zoo
from archbench.cli.app import app
from archbench.cost import estimate_memory, inference_peak_bytes
from archbench.errors import ArchbenchError
from archbench.search.budget import BAND, check_possible, repair
from archbench.search.runner import SearchConfig, run_search
from archbench.search.space import load_space
from archbench.units import parse_budget

runner = CliRunner()
BATCHES = (1, 32)
# The issue asks for 10%. The model follows PyTorch's liveness rules op by op and equals the replay
# to the byte today (docs/memory.md), so 1% catches a broken rule without pinning torch's last byte.
TOLERANCE = 0.01
TINY_SPACE = str(Path(__file__).parent / "spaces" / "tiny.yaml")


@functools.lru_cache(maxsize=None)
def _meta_model(name: str, aux: bool = False):
    """Built once per network (CPU init, then meta): the replay itself is the same at any batch."""
    return archbench.build(archbench.load_spec(name), aux=aux).to("meta")


def _replay(name: str, batch: int, aux: bool = False) -> tuple[int, int, int, int]:
    from archbench.profile.memory import estimate_on_meta

    spec = archbench.load_spec(name)
    return estimate_on_meta(lambda: _meta_model(name, aux), spec.input, batch)


def _zoo_cases():
    return [pytest.param(name, batch, id=f"{name}-b{batch}") for name in zoo.names() for batch in BATCHES]


@pytest.mark.parametrize("name,batch", _zoo_cases())
def test_peaks_match_the_meta_replay(name: str, batch: int):
    params, buffers, inference, training = _replay(name, batch)
    est = estimate_memory(archbench.load_spec(name), batch=batch)
    assert (est.param_bytes, est.buffer_bytes) == (params, buffers)  # exact: the built module's bytes
    assert est.inference_peak_bytes == pytest.approx(inference, rel=TOLERANCE)
    assert est.training_peak_bytes == pytest.approx(training, rel=TOLERANCE)


@pytest.mark.parametrize("name", [n for n in zoo.names() if archbench.load_spec(n).aux_heads])
def test_training_with_aux_heads_matches_the_meta_replay(name: str):
    """Aux heads built: resident, idle at inference, in the loss when training (batch 2: BN in
    inception_v3's aux head needs more than one value per channel)."""
    params, buffers, inference, training = _replay(name, 2, aux=True)
    est = estimate_memory(archbench.load_spec(name), batch=2, aux=True)
    assert (est.param_bytes, est.buffer_bytes) == (params, buffers)
    assert est.inference_peak_bytes == pytest.approx(inference, rel=TOLERANCE)
    assert est.training_peak_bytes == pytest.approx(training, rel=TOLERANCE)


ALL_OPS = """
name: all_ops
input: 3x16x16
classes: 5
body:
  - {conv: 8, kernel: 3, name: stem}
  - {lrn: 5, name: lrn}
  - {avgpool: 3, stride: 1, padding: 1, name: ap}
  - {activation: gelu, name: gelu}
  - {activation: silu, name: silu}
  - {activation: relu6, name: relu6}
  - {activation: tanh, name: tanh}
  - {activation: sigmoid, name: sig}
  - {identity: true, name: tap}
  - {split: [[{conv: 4, kernel: 1x3}], [{conv: 4, kernel: 3x1}], [{identity: true}]], name: expand}
  - block: mixed
    act: relu
    branches:
      - [{conv: 4, kernel: 1, norm: none, act: tanh}]
      - [{maxpool: 3, stride: 1, padding: 1}, {conv: 4, kernel: 1, act: sigmoid}]
  - block: down
    merge: residual
    shortcut: auto
    branches: [[{conv: 16, kernel: 3, stride: 2}]]
  - block: stage
    merge: residual
    scale: 0.5
    repeat: 5
    project: {conv: auto, kernel: 1, norm: none, act: none, bias: true}
    branches: [[{conv: 8, kernel: 1}], [{conv: 8, kernel: 3}]]
  - block: explicit
    merge: residual
    shortcut: [{conv: 16, kernel: 1, act: none}]
    branches: [[{conv: 16, kernel: 1, act: none}]]
    act: gelu
  - {adaptive_maxpool: 2, name: amp}
head:
  - {flatten: true, name: flat}
  - {linear: 12, act: relu, name: fc1}
  - {dropout: 0.5, name: drop}
  - {linear: classes, name: fc}
aux_heads:
  - name: aux
    at: mixed
    layers: [{adaptive_avgpool: 2}, {conv: 4, kernel: 1}, {flatten: true}, {dropout: 0.3}, {linear: classes}]
"""


@pytest.mark.parametrize("aux", [False, True], ids=["no_aux", "aux"])
@pytest.mark.parametrize("batch", [1, 3], ids=["b1", "b3"])
def test_every_op_kind_equals_the_replay_to_the_byte(batch: int, aux: bool):
    """Each rule of the module docstring at once: LRN, every activation, pools, split, repeats
    (lumped), auto/explicit shortcuts, dropout, aux heads."""
    from archbench.profile.memory import estimate_on_meta

    spec = archbench.loads(ALL_OPS)
    est = estimate_memory(spec, batch=batch, aux=aux)
    assert (est.param_bytes, est.buffer_bytes, est.inference_peak_bytes, est.training_peak_bytes) == \
        estimate_on_meta(lambda: archbench.build(spec, aux=aux), spec.input, batch)


def test_conv_bn_relu_by_hand():
    spec = archbench.loads("""
name: one_conv
input: 3x8x8
classes: 10
body: [{conv: 4, kernel: 1, name: conv}]
head: [{global_pool: avg, name: pool}, {linear: classes, name: fc}]
""")
    n, hw = 2, 8 * 8
    a = n * 4 * hw * 4  # one 4x8x8 fp32 map of the batch
    params = 4 * ((4 * 3 + 2 * 4) + (4 * 10 + 10))  # conv + BN weight/bias, FC
    buffers = 2 * 4 * 4 + 8  # BN running mean/var, num_batches_tracked (int64)
    resident = params + buffers + n * 3 * hw * 4  # ... and the input batch
    # Inference: BN's output and per-channel statistics while the conv output is alive.
    inference = resident + max(2 * a + 2 * 4 * 4, a + n * 4 * 4 + n * 10 * 4)
    # Training: at ReLU's backward the conv output (saved by BN), the BN output (saved by ReLU),
    # the gradient the mean handed back and ReLU's new one are alive (4 maps), with the FC's
    # weight and bias gradients (160 + 40), BN's saved statistics (32), the loss and its ones (4 + 4).
    training = resident + 4 * a + 200 + 32 + 8
    est = estimate_memory(spec, batch=n)
    assert (est.param_bytes, est.buffer_bytes) == (params, buffers)
    assert (est.inference_peak_bytes, est.training_peak_bytes) == (inference, training)


def test_concat_block_inference_by_hand():
    spec = archbench.loads("""
name: one_block
input: 4x8x8
classes: 10
body:
  - block: mixed
    branches:
      - [{conv: 2, kernel: 1}]
      - [{maxpool: 3, stride: 1, padding: 1}, {conv: 3, kernel: 1}]
""")
    u = 8 * 8 * 4  # bytes of one fp32 channel at batch 1
    # Branch 1's max pool: branch 0's output (2 channels) is held for the concat, the pool
    # allocates its output (4 channels) and int64 indices (twice the bytes) at once.
    activations = max(2 * u + 2 * u + 2 * 2 * 4,     # branch 0: conv + BN outputs + BN statistics
                      2 * u + 4 * u + 8 * u,         # branch 1: pool output and indices
                      2 * u + 4 * u + 6 * u + 24,    # branch 1: conv + BN outputs while the pool's lives
                      5 * u + 5 * u)                 # torch.cat of 2 + 3 channels
    params = 4 * ((2 * 4 + 4) + (3 * 4 + 6))
    buffers = (2 * 2 * 4 + 8) + (2 * 3 * 4 + 8)
    assert activations == 14 * u
    assert inference_peak_bytes(spec) == params + buffers + 4 * u + activations


def test_activation_bytes_are_the_profilers_block_outputs():
    spec = archbench.load_spec("googlenet")
    report = archbench.analyze(spec)
    est = estimate_memory(spec, batch=8)
    assert est.activation_bytes == 8 * 4 * sum(x.output_elements for x in report.layers if not x.is_aux)


def test_bad_arguments_are_user_errors():
    spec = archbench.load_spec("lenet5")
    with pytest.raises(ArchbenchError, match="sgd-momentum"):
        estimate_memory(spec, optimizer="lamb")  # adamw is modelled now
    with pytest.raises(ArchbenchError, match="at least 1"):
        estimate_memory(spec, batch=0)
    assert estimate_memory(spec, optimizer="sgd").training_peak_bytes < estimate_memory(spec).training_peak_bytes


def test_cost_layer_stays_torch_free():
    code = ("import sys; import archbench; from archbench.cost import estimate_memory; "
            "estimate_memory(archbench.load_spec('googlenet'), batch=4); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------------- CLI and profiler
def test_cost_cli_shows_memory_and_json_has_it():
    result = runner.invoke(app, ["cost", "googlenet", "--batch", "32"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # The CLI prints the library's estimate (checked against the meta replay by the tests above).
    est = estimate_memory(archbench.load_spec("googlenet"), batch=32)
    assert f"peak inference {est.inference_peak_bytes / 1e6:,.1f} MB" in result.output
    assert f"peak training step {est.training_peak_bytes / 1e6:,.1f} MB" in result.output
    data = runner.invoke(app, ["cost", "googlenet", "--batch", "32", "--json"])
    import json

    memory = json.loads(data.output)["memory"]
    assert memory == estimate_memory(archbench.load_spec("googlenet"), batch=32).to_dict()


def test_profile_memory_report_carries_the_analytic_estimate():
    from archbench.profile import profile
    from archbench.targets import resolve_target

    result = profile(resolve_target("lenet5"), latency=False, batches=(4,), check_memory=True)
    memory = result.memory
    assert memory is not None and memory["method"] == "meta-estimate"
    analytic = memory["analytic"]
    assert analytic["param_bytes"] == memory["param_bytes"]
    for key in ("inference_peak_bytes", "training_peak_bytes"):
        assert abs(analytic["relative_error"][key]) <= TOLERANCE
        assert analytic[key] == pytest.approx(memory[key], rel=TOLERANCE)


# ------------------------------------------------------------------------- search budgets
def test_memory_budget_is_repaired_analytically_into_the_band():
    space = load_space("inception_v1")
    base = space.spec(space.defaults)
    limit = 0.7 * inference_peak_bytes(base)  # the base network exceeds it
    priced = repair(base, [parse_budget(f"{limit / 1e6:.3f}MB")], space.min_width)
    assert BAND[0] <= priced.tightest <= BAND[1]
    assert priced.spec.width_multiplier < base.width_multiplier
    assert priced.memory == inference_peak_bytes(priced.spec)
    from archbench.profile.memory import estimate_on_meta  # the repaired network, built and replayed

    replayed = estimate_on_meta(lambda: archbench.build(priced.spec), priced.spec.input, 1)[2]
    assert priced.memory == pytest.approx(replayed, rel=TOLERANCE)


def test_impossible_memory_budget_is_a_user_error(tmp_path: Path):
    space = load_space("inception_v1")
    with pytest.raises(ArchbenchError, match="impossible budget.*MB of peak inference memory"):
        check_possible(space.spec(space.smallest()), [parse_budget("1MB")], space.min_width)
    result = runner.invoke(app, ["search", "--budget", "1MB", "--results", str(tmp_path)])
    assert result.exit_code == 2 and "impossible budget" in result.output


def test_search_with_a_memory_budget_builds_nothing(tmp_path: Path, monkeypatch):
    import archbench.nn

    def no_build(*args, **kwargs):
        raise AssertionError("a memory budget must not build a module")

    monkeypatch.setattr(archbench.nn, "build", no_build)
    space = load_space(TINY_SPACE)
    limit = 0.8 * inference_peak_bytes(space.spec(space.defaults))
    study = run_search(SearchConfig(space=TINY_SPACE, budgets=[f"{limit:.0f}B"], objectives=["params"], trials=4,
                                    results=str(tmp_path)))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert not study.trials[0].user_attrs.get("infeasible")  # the base network, narrowed to fit
    for t in study.trials:  # too deep for the budget even at min_width: recorded as infeasible
        assert (t.user_attrs["memory"] <= limit) == (not t.user_attrs.get("infeasible"))
