"""The GPU check script's pure parts, its budget, its CPU pipeline and its exit without CUDA.

The measurements themselves need a GPU; everything around them (statistics, roofline arithmetic,
case planning, the time budget, assembling and writing results, the AdamW memory estimate it
compares) is checked here on the CPU, so the one device run it is written for cannot fail on them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archbench

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gc = _load()


@pytest.mark.parametrize("q, expected", [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)])
def test_quantile_interpolates_linearly(q, expected):
    assert gc.quantile([1.0, 2.0, 3.0, 4.0], q) == pytest.approx(expected)


def test_quantile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        gc.quantile([], 0.5)


def test_summarize_reports_spread_tails_and_throughput():
    samples = [float(x) for x in range(100, 0, -1)]  # 1..100 ms, unsorted
    s = gc.summarize(samples, batch=32)
    assert s["runs"] == 100
    assert s["median_ms"] == pytest.approx(50.5)
    assert s["iqr_ms"] == pytest.approx(75.25 - 25.75)
    assert s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["min_ms"] == 1.0 and s["mean_ms"] == pytest.approx(50.5)
    assert s["images_per_s"] == pytest.approx(32 / 0.0505)


def test_gemm_and_roofline_arithmetic():
    assert gc.gemm_tflops(1000, 2.0) == pytest.approx(1.0)  # 2e9 operations in 2 ms
    r = gc.roofline(macs_per_image=10 ** 9, images_per_s=500.0, peak_tflops=4.0)
    assert r["achieved_tflops"] == pytest.approx(1.0)  # two operations per multiply-add
    assert r["efficiency"] == pytest.approx(0.25)
    assert gc.roofline(10 ** 9, 500.0, None)["efficiency"] is None


@pytest.mark.parametrize("estimate, measured, expected", [(110, 100, 0.10), (90, 100, -0.10), (None, 100, None),
                                                          (100, None, None), (100, 0, None)])
def test_relative_error(estimate, measured, expected):
    got = gc.relative_error(estimate, measured)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_full_plan_covers_the_issue_and_puts_headline_numbers_first():
    cases = gc.plan_cases()
    kinds = [c.kind for c in cases]
    grid = len(gc.NETWORKS) * len(gc.BATCHES)
    assert kinds.count("peak") == 4 and kinds[:4] == ["peak"] * 4
    assert kinds.count("latency") == grid * len(gc.VARIANTS)
    assert kinds.count("memory") == grid * 3  # sgd-momentum, adamw, adamw-foreach
    assert kinds.count("reference") == grid * 2 and kinds.count("train") == 1
    assert kinds.count("meta") == grid * 2
    assert len({c.label for c in cases}) == len(cases)
    index = {c: i for i, c in enumerate(cases)}
    last_headline = max(i for c, i in index.items() if c.kind == "latency" and c.variant in ("fp32", "bf16-cl"))
    first_other = min(i for c, i in index.items() if c.kind == "latency" and c.variant == "fp16-cl")
    assert last_headline < first_other
    assert {c.network for c in cases if c.network} == set(gc.NETWORKS)
    assert {c.batch for c in cases if c.kind == "latency"} == {1, 32, 128}


def test_quick_plan_is_a_subset():
    quick = gc.plan_cases(quick=True)
    assert {c.batch for c in quick if c.batch and c.kind != "train"} == {1, 32}
    assert {c.variant for c in quick if c.kind == "latency"} == set(gc.QUICK_VARIANTS)
    assert not [c for c in quick if c.variant in ("adamw-foreach", "fp16-cl") or (c.kind == "reference" and c.variant == "fp32")]
    assert set(quick) < set(gc.plan_cases())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_admits_until_the_estimate_no_longer_fits():
    clock = FakeClock()
    b = gc.Budget(100.0, clock)
    assert b.admit(30.0) is None
    clock.now += 80.0
    assert b.left() == pytest.approx(20.0)
    reason = b.admit(30.0)
    assert reason is not None and "20 s of 100 s left" in reason and "30 s" in reason
    assert b.admit(5.0) is None


class FakeRunner(gc.Runner):
    """Each case 'takes' ``cost`` seconds of the fake clock; latency cases of batch 32 fail."""

    def __init__(self, budget, clock, cost):
        super().__init__(torch.device("cpu"), budget, gc.Timing(), log=lambda s: None)
        self.clock, self.cost = clock, cost

    def execute(self, case):
        self.clock.now += self.cost[case.kind]
        if case.kind == "latency" and case.batch == 32:
            raise RuntimeError("CUDA out of memory\nsecond line")
        return {"median_ms": 1.0}


def test_runner_skips_cleanly_when_the_budget_runs_out_and_survives_failed_cases():
    clock = FakeClock()
    runner = FakeRunner(gc.Budget(450.0, clock), clock, {"latency": 100.0, "memory": 100.0, "train": 1.0})
    cases = ([gc.Case("latency", "googlenet", b, "fp32") for b in (1, 32, 128)]
             + [gc.Case("memory", "googlenet", b, "adamw") for b in (1, 32, 128)] + [gc.Case("train", "googlenet", 64)])
    runner.run(cases)
    # latency at 0, 100, 200 s; the first memory case at 300 s (its planned 4 s fit in 150 s left); the
    # second at 400 s would need as long as the first took (100 s) with 50 s left: skipped, as the third
    # at 400 s; the train case's planned 45 s still fit.
    assert [r.case.kind for r in runner.records] == ["latency"] * 3 + ["memory", "train"]
    assert [r.error for r in runner.records[:3]] == [None, "RuntimeError: CUDA out of memory", None]
    assert [(c.batch, why) for c, why in runner.skipped] == [
        (32, "time budget: 50 s of 450 s left, the case needs about 100 s"),
        (128, "time budget: 50 s of 450 s left, the case needs about 100 s")]
    assert runner.longest == {"latency": 100.0, "memory": 100.0, "train": 1.0}


def _fake_result(clock=None):
    clock = clock or FakeClock()
    budget = gc.Budget(420.0, clock)
    R, C = gc.Record, gc.Case
    stats = gc.summarize([2.0, 2.0, 2.2, 1.8], batch=32)
    records = [
        R(C("peak", variant="bf16"), {"n": 8192, "median_ms": 1.5, "tflops": 733.0}),
        R(C("latency", "googlenet", 32, "bf16-cl"), {**stats, **gc.roofline(1_500_000_000, stats["images_per_s"], 733.0)}),
        R(C("latency", "resnet50", 128, "bf16-cl-graph"), error="RuntimeError: capture failed"),
        R(C("memory", "googlenet", 32, "adamw"), {"cuda_inference_bytes": 100 * 2 ** 20, "analytic_inference_bytes": 110 * 2 ** 20,
                                                  "cuda_training_bytes": 1000 * 2 ** 20, "analytic_training_bytes": 950 * 2 ** 20,
                                                  "cuda_second_step_bytes": 1100 * 2 ** 20}),
        R(C("meta", "googlenet", 32, "adamw"), {"inference_bytes": None, "training_bytes": 950 * 2 ** 20}),
        R(C("meta", "resnet50", 1, "sgd-momentum"), {"inference_bytes": 64 * 2 ** 20, "training_bytes": 300 * 2 ** 20}),
        R(C("reference", "googlenet", 32, "bf16-cl"), {"built_ms": 2.0, "reference_ms": 2.02, "ratio": 0.99,
                                                      "round_ratios": [0.98, 0.99, 1.0]}),
        R(C("train", "googlenet", 64, "bf16"), {"fit_images_per_s": 950.0, "plain_images_per_s": 1000.0, "ratio": 0.95,
                                               "round_ratios": [0.95, 0.95]}),
    ]
    clock.now += 123.4
    skipped = [(C("latency", "inception_v3", 128, "fp16-cl"), "time budget: 3 s of 420 s left, the case needs about 3 s")]
    return gc.assemble({"description": "fake H200"}, records, skipped, budget, {"quick": False})


def test_assemble_joins_memory_estimates_with_the_cuda_peaks():
    result = _fake_result()
    assert result["elapsed_s"] == 123.4 and result["peaks_tflops"] == {"bf16": 733.0}
    rows = {(r["network"], r["optimizer"]): r for r in result["memory"]}
    g = rows[("googlenet", "adamw")]
    assert g["analytic_inference_error"] == pytest.approx(0.10)
    assert g["analytic_training_error"] == pytest.approx(-0.05)
    assert g["meta_training_error"] == pytest.approx(-0.05) and g["analytic_vs_meta_training"] == pytest.approx(0.0)
    assert g["meta_inference_error"] is None
    r = rows[("resnet50", "sgd-momentum")]  # meta only: no CUDA record, still a row
    assert r["meta_training_bytes"] == 300 * 2 ** 20 and r["analytic_training_error"] is None
    lat = result["latency"][0]
    assert lat["achieved_tflops"] == pytest.approx(2 * 1.5e9 * lat["images_per_s"] / 1e12)
    assert result["errors"] == [{"case": "latency resnet50 batch 128 bf16-cl-graph", "error": "RuntimeError: capture failed"}]


def test_outputs_are_one_json_and_one_markdown(tmp_path):
    result = _fake_result()
    js, md = gc.write_outputs(result, tmp_path / "out")
    assert json.loads(js.read_text()) == json.loads(json.dumps(result, default=str))
    text = md.read_text()
    assert "Machine: fake H200" in text
    assert "| googlenet | 32 | adamw | 100.0 | 110.0 | +10.0% | - | - | 1000.0 | 950.0 | -5.0% | 950.0 | -5.0% | 1100.0 |" in text
    assert "| googlenet | 32 | bf16-cl | 2.000 | 2.020 | 0.990 | 0.980, 0.990, 1.000 |" in text
    assert "| googlenet | 64 | 950 | 1000 | 0.950 | 0.950, 0.950 |" in text
    assert "| 733.0 |" in text and "error: RuntimeError: capture failed" in text
    assert "## Skipped" in text and "latency inception_v3 batch 128 fp16-cl: time budget" in text


@pytest.mark.parametrize("network", ["lenet5", "googlenet"])
@pytest.mark.parametrize("batch", [1, 2])
def test_adamw_estimate_matches_the_meta_replay(network, batch):
    """The analytic AdamW step (two states, and the update's two temporaries for the largest
    parameter) against the replay, which also sees the previous parameter's quotient still held
    (``denom`` until reassigned): the replay is higher by at most one parameter tensor."""
    meta = gc.meta_case(network, batch, "adamw")["training_bytes"]
    analytic = gc.analytic_memory(network, batch, "adamw")["analytic_training_bytes"]
    largest = 4 * max(p.numel() for p in archbench.build(network).parameters())
    assert 0 <= meta - analytic <= largest / 64  # lenet5: 64 bytes, googlenet: 512 (a bias before the fc)
    sgd = gc.analytic_memory(network, batch, "sgd-momentum")["analytic_training_bytes"]
    assert analytic > sgd if batch == 1 else analytic >= sgd  # at batch 2 googlenet's backward peak is higher
    assert gc.analytic_memory(network, batch, "adamw-foreach") == {}


def _script(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_it_exits_2_with_a_message(tmp_path):
    run = _script("--out", str(tmp_path))
    assert run.returncode == gc.EXIT_NO_CUDA
    assert "no CUDA device" in run.stderr and "docs/gpu.md" in run.stderr
    assert "Traceback" not in run.stderr and not list(tmp_path.iterdir())


def test_bad_batches_are_a_clear_error(tmp_path):
    run = _script("--allow-cpu", "--batches", "1,x", "--out", str(tmp_path))
    assert run.returncode == 2 and "--batches" in run.stderr and "Traceback" not in run.stderr


def test_the_pipeline_runs_end_to_end_on_the_cpu(tmp_path):
    run = _script("--allow-cpu", "--tiny", "--quick", "--networks", "lenet5", "--batches", "1,2",
                  "--meta-workers", "1", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "machine: CPU only" in run.stdout
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    lat = {(r["network"], r["batch"], r["variant"]): r for r in result["latency"]}
    assert lat[("lenet5", 2, "fp32")]["median_ms"] > 0 and lat[("lenet5", 2, "fp32")]["images_per_s"] > 0
    assert lat[("lenet5", 1, "bf16-cl-graph")]["error"] == "RuntimeError: CUDA graphs need CUDA"
    mem = {(r["network"], r["batch"], r["optimizer"]): r for r in result["memory"]}
    sgd = mem[("lenet5", 2, "sgd-momentum")]
    assert sgd["analytic_training_bytes"] == sgd["meta_training_bytes"]  # the two estimates agree to the byte
    assert sgd["analytic_inference_bytes"] == sgd["meta_inference_bytes"]
    train = result["train"][0]
    assert train["error"] is None and train["fit_images_per_s"] > 0 and train["plain_images_per_s"] > 0
    assert result["reference"][0]["error"].startswith("LookupError: no reference implementation of lenet5")
    assert (tmp_path / "gpu_check.md").read_text().startswith("# archbench GPU check")
