"""How archbench reads what users type: network names, misspelt fields, budget units, and the
warnings it gives when an input cannot support a conclusion."""

from __future__ import annotations

import itertools
import math

import pytest

import archbench
from archbench.cli.calibrate import chance_above
from archbench.errors import ArchbenchError, SpecError, did_you_mean
from archbench.units import parse_budget


@pytest.mark.parametrize("typed, name", [("GoogLeNet", "googlenet"), ("inception-v3", "inception_v3"),
                                         ("Inception-ResNet-v2", "inception_resnet_v2"), ("VGG16", "vgg16")])
def test_zoo_names_read_in_any_case_and_with_dashes(typed: str, name: str):
    spec = archbench.load_spec(typed)
    assert spec.name == archbench.load_spec(name).name
    assert archbench.analyze(spec).params() == archbench.analyze(archbench.load_spec(name)).params()


def test_a_spec_based_on_a_zoo_name_in_another_spelling():
    spec = archbench.loads("base: GoogLeNet\nname: g\nwidth_multiplier: 0.5\n")
    assert archbench.analyze(spec).flops < archbench.analyze(archbench.load_spec("googlenet")).flops


@pytest.mark.parametrize("typed, suggestion", [("googlnet", "'googlenet'"), ("inceptionv4", "'inception_v4'"),
                                               ("resnet", "'resnet50'"), ("xceptoin", "'xception'")])
def test_a_misspelt_network_name_gets_a_suggestion(typed: str, suggestion: str):
    with pytest.raises(SpecError) as info:
        archbench.load_spec(typed)
    message = str(info.value)
    assert "did you mean" in message and suggestion in message
    assert "zoo networks are: lenet5" in message  # the whole list stays


def test_no_suggestion_for_a_name_like_nothing():
    with pytest.raises(SpecError) as info:
        archbench.load_spec("foo")
    assert "did you mean" not in str(info.value)
    assert did_you_mean("foo", ["googlenet", "xception"]) == ""


def test_a_misspelt_field_names_the_field_it_resembles():
    text = "name: bad\ninput: 3x32x32\nbody:\n  - {conv: 16, kernal: 3}\n  - {conv: 16, kernel: 3, strid: 2}\nhead:\n  - {linear: 10}\n"
    with pytest.raises(SpecError) as info:
        archbench.loads(text, "bad.yaml")
    message = str(info.value)
    assert "bad.yaml:4 at body[0].kernal: unknown field 'kernal' for a conv (did you mean 'kernel'?)" in message
    assert "bad.yaml:5 at body[1].strid: unknown field 'strid' for a conv (did you mean 'stride'?)" in message


@pytest.mark.parametrize("text, kind, limit", [
    ("1.5GFLOPs", "flops", 1.5e9), ("1.5gflops", "flops", 1.5e9), ("1.5GFLOP", "flops", 1.5e9),
    ("300mmacs", "flops", 3e8), ("2TFLOPS", "flops", 2e12), ("6M", "params", 6e6), ("6mparams", "params", 6e6),
    ("25Mparams", "params", 25e6), ("20ms", "latency", 20.0), ("512MB", "memory", 512e6),
])
def test_budget_units_of_counts_read_in_any_case(text: str, kind: str, limit: float):
    budget = parse_budget(text)
    assert budget.kind == kind and math.isclose(budget.limit, limit)


@pytest.mark.parametrize("text", ["6m", "1.5Gb", "20 parsecs", "512mb"])
def test_ambiguous_or_unknown_units_are_refused(text: str):
    with pytest.raises(ArchbenchError, match="unknown unit"):
        parse_budget(text)


def test_an_uninstalled_package_in_a_target_says_so():
    from typer.testing import CliRunner

    from archbench.cli.app import app

    result = CliRunner().invoke(app, ["profile", "no_such_package_xyz.models:net", "--no-latency", "--no-memory"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "No module named 'no_such_package_xyz'" in message
    assert "installed in this environment" in message and "./file.py:net" in message


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_chance_of_a_large_spearman_is_exact(n: int):
    """Against a direct count over all orders with scipy-free ranks (no ties)."""
    count = 0
    orders = list(itertools.permutations(range(n)))
    for p in orders:
        mean = (n - 1) / 2
        cov = sum((i - mean) * (x - mean) for i, x in enumerate(p))
        var = sum((i - mean) ** 2 for i in range(n))
        count += abs(cov / var) > 0.5
    assert chance_above(n, 0.5) == pytest.approx(count / len(orders))
    assert chance_above(4, 0.5) == pytest.approx(10 / 24)  # 4 networks: 42% by chance alone


SHAPE_SPEC = """name: shape
input: 3x64x64
body:
  - {conv: 32, kernel: 3, stride: 2, name: stem}
  - block: mixed
    branches:
      - [{conv: 32, kernel: 1}]
      - [{maxpool: 3, stride: 1}, {conv: 32, kernel: 1}]
head: [{global_pool: avg}, {linear: classes}]
"""


def test_validate_gives_a_shape_error_its_line_and_path_in_the_file(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from archbench.cli.app import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "shape.yaml").write_text(SHAPE_SPEC)
    (tmp_path / "derived.yaml").write_text("base: shape.yaml\nname: derived\nwidth_multiplier: 0.5\n")
    result = CliRunner().invoke(app, ["validate", "--json", "shape.yaml", "derived.yaml"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    import json

    own, derived = json.loads(result.output)
    assert own["problems"] == ["shape.yaml:5 at body[1] (mixed): branches cannot be concatenated (their spatial "
                               "sizes differ): branch0 gives 32x32x32, branch1 gives 32x30x30"]
    # the layer is written in another file: no line of this one is claimed
    assert derived["problems"][0].startswith("mixed: branches cannot be concatenated")


@pytest.mark.parametrize("extra, named", [(["--batch", "8"], "--batch"), (["--dtype", "bf16"], "--dtype"),
                                          (["--device", "cpu", "--threads", "1"], "--device, --threads")])
def test_profile_paper_refuses_measurement_options_it_would_ignore(extra: list[str], named: str):
    from typer.testing import CliRunner

    from archbench.cli.app import app

    result = CliRunner().invoke(app, ["profile", "googlenet", "--paper", *extra], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{named} do not apply" in " ".join(result.output.split())
    ok = CliRunner().invoke(app, ["profile", "googlenet", "--paper", "--input", "299", "--json"], env={"COLUMNS": "300"})
    assert ok.exit_code == 0, ok.output
