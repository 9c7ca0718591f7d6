"""profile and compare: counts against independent formulas, exports, latency, targets."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archbench
from archbench.cli.app import app
from archbench.profile import CountMismatch, profile
from archbench.profile.latency import measure_latency
from archbench.report import export_table
from archbench.targets import resolve_target

from .conftest import ZOO, zoo_params
from .models_for_tests import GoogLeNetOutputs, InceptionOutputs, OomAtLargeBatch

runner = CliRunner()
TINY_SPEC = """
name: tiny
input: 3x32x32
classes: 10
body:
  - {conv: 16, kernel: 3, stride: 2, name: stem}
  - block: mixed
    branches:
      - [{conv: 8, kernel: 1}]
      - [{conv: 8, kernel: 1}, {conv: 12, kernel: 5}]
      - [{maxpool: 3, stride: 1, padding: 1}, {conv: 4, kernel: 1}]
  - block: res
    merge: residual
    scale: 0.2
    project: {conv: auto, kernel: 1, bias: true, norm: none, act: none}
    branches: [[{conv: 8, kernel: 1}], [{conv: 8, kernel: 3}]]
head: [{global_pool: avg, name: pool}, {linear: classes, name: fc}]
"""


def formula_flops(model: nn.Module, x: torch.Tensor, blocks: list[str]) -> dict[str, int]:
    """Per-block FLOPs from shapes alone: conv = out elements x kh x kw x cin/groups,
    linear = in x out, adaptive average pool = input elements (fvcore's rules, by hand)."""
    totals = dict.fromkeys(blocks, 0)
    owner = {}
    for block in blocks:
        for name, module in getattr(model, block).named_modules():
            owner[module] = block
    hooks = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            flops = output.numel() * kh * kw * module.in_channels // module.groups
        elif isinstance(module, nn.Linear):
            flops = inputs[0].shape[0] * module.in_features * module.out_features
        else:
            flops = inputs[0].numel()
        totals[owner[module]] += flops

    for module in owner:
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.AdaptiveAvgPool2d)):
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return totals


@pytest.mark.parametrize("name", zoo_params())
def test_profile_flops_per_block_equal_formulas_from_shapes(name: str):
    target = resolve_target(name)
    result = profile(target, latency=False, memory=False)  # also checks analytic == fvcore, per block
    assert result.flops["analytic_check"] == "exact"
    assert result.flops["lower_bound"] is False, result.flops["unpriced"]  # every zoo operator is priced or zero by rule
    model = target.build().eval()
    blocks = [b.name for b in result.blocks]
    expected = formula_flops(model, torch.randn(1, *target.input), blocks)
    assert {b.name: b.flops for b in result.blocks} == expected
    assert result.flops["total"] == sum(expected.values())


def test_googlenet_headline_numbers():
    result = profile(resolve_target("googlenet"), latency=False, memory=False)
    assert result.flops["total"] == 1_498_426_368  # inside the paper's 1.5 G multiply-add budget
    assert result.flops["with_batch_norm"] == 1_504_878_688  # fvcore's raw total
    assert result.flops["by_operator"]["batch_norm"] == 6_452_320
    assert result.flops["uncounted"] == {"max_pool2d": 13}
    assert result.params["total"] == 6_624_904


def test_disagreement_between_analytic_and_fvcore_is_an_error(monkeypatch):
    from archbench.profile import profiler

    real = profiler.analyze

    def off_by_one(spec, size=None, **kw):
        report = real(spec, size, **kw)
        report.layers[0].flops_by_op["conv"] += 1
        return report

    monkeypatch.setattr(profiler, "analyze", off_by_one)
    with pytest.raises(CountMismatch, match="stem: FLOPs analytic"):
        profile(resolve_target_text(TINY_SPEC), latency=False, memory=False)


def resolve_target_text(text: str, tmp=[]):  # noqa: B006 - one temp dir per session is enough
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "tiny.yaml"
    path.write_text(text)
    return resolve_target(str(path))


# ------------------------------------------------------------------------- exports
class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self._in = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self.rows.append(self._row)
        elif tag in ("td", "th"):
            self._in = False

    def handle_data(self, data):
        if self._in:
            self._row[-1] += data.strip()


def _read_back(path: Path) -> pd.DataFrame:
    suffix = path.suffix
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text())["blocks"])
    if suffix == ".html":
        parser = _Cells()
        parser.feed(path.read_text())
        rows = parser.rows
    elif suffix == ".md":
        lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if not re.match(r"^\|[-:| ]+\|$", line)]
    else:  # .tex
        text = path.read_text()
        body = text.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
        rows = [[c.strip().replace("\\_", "_") for c in line.split("&")]
                for line in body.replace("\\midrule", "").split("\\\\") if line.strip()]
    return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.mark.parametrize("suffix", [".csv", ".md", ".tex", ".html", ".json"])
def test_every_export_format_parses_back_to_the_same_numbers(tmp_path: Path, suffix: str):
    result = profile(resolve_target_text(TINY_SPEC), latency=False, memory=False)
    from archbench.cli.profile import blocks_frame

    frame = blocks_frame(result)
    path = export_table(frame, tmp_path / f"profile{suffix}", document=result.to_dict())
    back = _read_back(path)
    assert list(back["name"]) == [b.name for b in result.blocks]
    for column in ("params", "flops", "activations", "output_elements"):  # integers stay exact everywhere
        assert [int(str(v).replace(",", "")) for v in back[column]] == [getattr(b, column) for b in result.blocks]
    pct = [float(v) for v in back["flops_pct"]]
    if suffix in (".csv", ".json"):  # for machines: the same floats
        assert pct == [b.flops_pct for b in result.blocks]
    else:  # for readers: four significant digits
        assert pct == pytest.approx([b.flops_pct for b in result.blocks], rel=5e-4)
        assert all(len(str(v).replace(".", "").lstrip("0")) <= 4 for v in back["flops_pct"])


def test_unknown_export_format_is_a_user_error(tmp_path: Path):
    result = runner.invoke(app, ["profile", "lenet5", "--no-latency", "--no-memory", "--out", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert "unknown format '.xlsx'" in result.output


# ------------------------------------------------------------------------- latency and memory
def test_latency_harness_on_a_tiny_net():
    net = archbench.build(archbench.loads(TINY_SPEC))
    r = measure_latency(net, (3, 32, 32), batch=4, device=torch.device("cpu"), warmup_s=0.05, min_runs=12,
                        min_time_s=0.05)
    assert r.error is None and r.runs >= 12
    assert 0 < min(r.samples_ms) <= r.median_ms <= r.p90_ms <= max(r.samples_ms)
    assert r.iqr_ms >= 0
    assert r.throughput == pytest.approx(4 / (r.median_ms / 1e3))
    assert r.noisy == (r.iqr_ms > 0.1 * r.median_ms)


def test_out_of_memory_is_reported_for_that_batch_only():
    model = OomAtLargeBatch()
    ok = measure_latency(model, (3, 8, 8), 2, torch.device("cpu"), warmup_s=0.01, min_runs=3, min_time_s=0.01)
    oom = measure_latency(model, (3, 8, 8), 8, torch.device("cpu"), warmup_s=0.01, min_runs=3, min_time_s=0.01)
    assert ok.error is None and ok.median_ms > 0
    assert oom.error == "out of memory at batch 8" and oom.median_ms is None


def test_memory_estimate_counts_params_activations_and_training_state():
    from archbench.profile.memory import estimate_on_meta

    spec = archbench.loads(TINY_SPEC)
    params, buffers, inference, training = estimate_on_meta(lambda: archbench.build(spec), spec.input, batch=8)
    n_params = sum(p.numel() for p in archbench.build(spec).parameters())
    assert params == 4 * n_params
    input_bytes = 8 * 3 * 32 * 32 * 4
    assert inference > params + buffers + input_bytes
    # a training step holds at least the gradients and the momentum buffers besides the weights
    assert training >= inference + 2 * params




class AuxOutputNet(nn.Module):
    """A classifier with two aux heads that, in training mode, returns its logits the way
    torchvision's GoogLeNet (``form="googlenet"``) or Inception v3 (``"inception"``) do, or
    only the main logits (``"logits"``); in eval mode always the logits."""

    def __init__(self, form: str = "googlenet", classes: int = 10):
        super().__init__()
        self.form = form
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.fc, self.aux1, self.aux2 = nn.Linear(8, classes), nn.Linear(8, classes), nn.Linear(8, classes)

    def forward(self, x: torch.Tensor):
        features = self.stem(x).relu().mean((2, 3))
        logits = self.fc(features)
        if not self.training or self.form == "logits":
            return logits
        if self.form == "inception":
            return InceptionOutputs(logits, self.aux1(features) + self.aux2(features))
        return GoogLeNetOutputs(logits, self.aux2(features), self.aux1(features))


def googlenet_like() -> nn.Module:
    return AuxOutputNet("googlenet")


@pytest.mark.parametrize("form", ["googlenet", "inception"])
def test_memory_estimate_reads_torchvision_style_aux_outputs(form: str):
    from archbench.profile.memory import estimate_on_meta

    params, _, inference, training = estimate_on_meta(lambda: AuxOutputNet(form), (3, 16, 16), batch=4)
    _, _, inference_plain, training_plain = estimate_on_meta(lambda: AuxOutputNet("logits"), (3, 16, 16), batch=4)
    assert params == 4 * sum(p.numel() for p in AuxOutputNet().parameters()) and inference == inference_plain
    # the aux heads are in the loss: their gradients (made first by the backward, alive through the
    # rest of it) come on top of the plain network's peak; unused heads would add only their outputs
    aux = AuxOutputNet()
    aux_bytes = 4 * sum(p.numel() for p in (*aux.aux1.parameters(), *aux.aux2.parameters()))
    assert training >= training_plain + aux_bytes


def test_module_callable_target_with_aux_outputs_gets_a_memory_estimate():
    result = runner.invoke(app, ["profile", "tests.test_profile:googlenet_like", "--input", "3x16x16", "--batch", "4",
                                 "--no-latency", "--json"])
    assert result.exit_code == 0, result.output
    memory = json.loads(result.output)["memory"]
    assert memory["error"] is None and memory["training_peak_bytes"] > memory["inference_peak_bytes"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the estimate is checked against the measurement")
@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "resnet50"])
def test_cpu_memory_estimate_within_10_percent_of_cuda(name: str):
    from archbench.profile.memory import estimate_on_meta, measure_on_cuda

    spec = archbench.load_spec(name)
    est = estimate_on_meta(lambda: archbench.build(spec), spec.input, 32)
    real = measure_on_cuda(lambda: archbench.build(spec), spec.input, 32, torch.device("cuda"))
    for e, r in zip(est[2:], real[2:]):
        assert abs(e - r) <= 0.10 * r


def test_cuda_memory_peaks_leave_out_what_the_process_already_held(monkeypatch):
    """The CUDA peaks are the model's: memory already allocated on the device before it was built
    (another model, a cache) is subtracted. The allocator's counters are faked so that this runs
    on the CPU; the CUDA run itself is the test above, with a device."""
    from archbench.profile import memory as memory_module

    held = 7_000_000
    peaks = iter([held + 1_234, held + 5_678])  # inference, then the training step
    fake = {"synchronize": lambda device=None: None, "reset_peak_memory_stats": lambda device=None: None,
            "empty_cache": lambda: None, "memory_allocated": lambda device=None: held,
            "max_memory_allocated": lambda device=None: next(peaks)}
    for name, fn in fake.items():
        monkeypatch.setattr(memory_module.torch.cuda, name, fn)
    params, buffers, inference, training = memory_module.measure_on_cuda(
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), (3, 2, 2), 4, torch.device("cpu"))
    assert (params, buffers, inference, training) == ((12 * 3 + 3) * 4, 0, 1_234, 5_678)


# ------------------------------------------------------------------------- targets and the CLI
def test_module_callable_target_is_profiled():
    result = runner.invoke(app, ["profile", "tests.models_for_tests:tiny_net", "--input", "3x32x32",
                                 "--no-latency", "--no-memory", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"params", "flops", "activations", "memory", "latency", "blocks", "env", "convention"}
    assert data["params"]["total"] == (3 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 10 + 10)
    assert data["flops"]["total"] == 32 * 32 * 8 * 27 + 14 * 14 * 16 * 72 + 16 * 14 * 14 + 160
    assert data["flops"]["analytic_check"] == "not applicable"


@pytest.mark.parametrize("target,message", [
    ("tests.no_such_module:net", "cannot import module 'tests.no_such_module'"),
    ("tests.models_for_tests:missing", "has no attribute 'missing'"),
    ("tests.models_for_tests:raises", "calling raises() failed: ValueError: weights file missing"),
    ("tests.models_for_tests:not_a_module", "returned int, not a torch.nn.Module"),
])
def test_bad_callable_targets_exit_2_with_the_reason(target: str, message: str):
    result = runner.invoke(app, ["profile", target, "--no-latency", "--no-memory"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_profile_cli_table_latency_and_json_out(tmp_path: Path):
    out = tmp_path / "lenet.json"
    result = runner.invoke(app, ["profile", "lenet5", "--batch", "1,4", "--threads", "1", "--check-memory", "--out", str(out)],
                           env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "61,706" in result.output and "latency b4" in result.output and "one multiply-add = one FLOP" in result.output
    data = json.loads(out.read_text())
    assert [lat["batch"] for lat in data["latency"]] == [1, 4]
    assert data["env"]["threads"] == 1 and data["env"]["torch"] == torch.__version__
    assert data["memory"]["method"] == "meta-estimate" and data["memory"]["batch"] == 4
    assert sum(b["latency_share"] for b in data["blocks"]) == pytest.approx(1.0)


def test_profile_rejects_bad_options():
    assert runner.invoke(app, ["profile", "lenet5", "--batch", "0"]).exit_code == 2
    assert runner.invoke(app, ["profile", "lenet5", "--dtype", "fp8"]).exit_code == 2
    assert runner.invoke(app, ["profile", "lenet5", "--input", "big"]).exit_code == 2
    if not torch.cuda.is_available():
        result = runner.invoke(app, ["profile", "lenet5", "--device", "cuda"])
        assert result.exit_code == 2 and "CUDA is not available" in result.output


def test_paper_table_reads_like_googlenet_table_1():
    result = runner.invoke(app, ["profile", "googlenet", "--paper"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "inception3a" in line)
    cells = row.split()  # one word per cell in this row (the type is "inception")
    # name, type, output, depth, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, params, ops
    assert cells[2:10] == ["28x28x256", "2", "64", "96", "128", "16", "32", "32"]


def test_compare_exports_and_plots(tmp_path: Path):
    md, png = tmp_path / "cmp.md", tmp_path / "cmp.png"
    result = runner.invoke(app, ["compare", "lenet5", "tests.models_for_tests:tiny_net", "--sort", "params",
                                 "--out", str(md), "--plot", str(png), "--threads", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = md.read_text()
    assert table.index("tests.models_for_tests:tiny_net") < table.index("lenet5")  # sorted by params
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert runner.invoke(app, ["compare", "lenet5", "--sort", "speed"]).exit_code == 2


# ------------------------------------------------------------------------- counting beyond fvcore
def test_attention_is_counted_by_its_formula_and_the_total_stays_exact():
    result = profile(resolve_target("tests.models_for_tests:attention_net", "32"), latency=False, memory=False)
    by_op = result.flops["by_operator"]
    assert by_op["scaled_dot_product_attention"] == 2 * 2 * 64 * 64 * 8
    conv, qkv, fc = 64 * 16 * 3 * 4 * 4, 64 * 16 * 48, 16 * 10
    assert by_op["conv"] == conv and by_op["linear"] == qkv + fc
    assert result.flops["total"] == conv + qkv + fc + 2 * 2 * 64 * 64 * 8
    assert result.flops["macs"] == result.flops["total"] and result.flops["flops_2x_macs"] == 2 * result.flops["total"]
    assert result.flops["lower_bound"] is False and result.flops["unpriced"] == {}
    assert sum(b.flops_pct for b in result.blocks) == pytest.approx(100.0)


def test_an_operator_without_formula_makes_the_total_a_lower_bound():
    result = profile(resolve_target("tests.models_for_tests:attention_cdist_net", "32"), latency=False, memory=False)
    assert result.flops["lower_bound"] is True and result.flops["unpriced"] == {"cdist": 1}
    shown = runner.invoke(app, ["profile", "tests.models_for_tests:attention_cdist_net", "--input", "32",
                                "--no-latency", "--no-memory"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "lower bound" in shown.output and "cdist ×1" in shown.output


def test_profile_shows_macs_and_the_two_flop_conventions():
    shown = runner.invoke(app, ["profile", "googlenet", "--no-latency", "--no-memory"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "1.498 GMACs" in shown.output and "2.997 GFLOPs at 2 per MAC" in shown.output


@pytest.mark.parametrize("check", [False, True])
def test_spec_memory_is_analytic_unless_checked(check: bool):
    from archbench.cost import estimate_memory

    result = profile(resolve_target("lenet5"), latency=False, batches=(4,), check_memory=check)
    expected = estimate_memory(archbench.load_spec("lenet5"), batch=4)
    if check:
        assert result.memory["method"] == "meta-estimate" and "analytic" in result.memory
    else:
        assert result.memory["method"] == "analytic" and "analytic" not in result.memory
    for key in ("inference_peak_bytes", "training_peak_bytes", "param_bytes"):  # the replay: within 1% (equal today)
        assert result.memory[key] == (pytest.approx(getattr(expected, key), rel=0.01) if check else getattr(expected, key))
