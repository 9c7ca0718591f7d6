"""The commands, through Typer's CliRunner and (for import cost) a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archbench.cli.app import app

runner = CliRunner()


def test_zoo_lists_every_network_with_reference_counts():
    result = runner.invoke(app, ["zoo"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "6,624,904" in result.output and "13,004,888" in result.output
    assert "googlenet" in result.output and "one multiply-add = one FLOP" in result.output


def test_show_prints_blocks_shapes_and_params():
    result = runner.invoke(app, ["show", "googlenet"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "inception4e  ⇒ 832x14x14  803,840 params" in result.output
    assert "params with aux heads: 13,004,888" in result.output


def test_show_input_override_changes_shapes():
    result = runner.invoke(app, ["show", "googlenet", "--input", "3x256x256", "--depth", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "inception5b  ⇒ 1024x8x8" in result.output


def test_show_unknown_target_exits_2():
    result = runner.invoke(app, ["show", "googlenet_v9"])
    assert result.exit_code == 2
    assert "zoo networks are" in result.output and "Traceback" not in result.output


def test_validate_accepts_good_specs(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("base: googlenet\nname: g2\nwidth_multiplier: 0.75\n")
    result = runner.invoke(app, ["validate", str(good), "googlenet"])
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 2


def test_validate_reports_each_bad_file_and_exits_2(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("base: googlenet\nname: g2\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: 3x32x32\nbody:\n  - {conv: 0, kernel: 3}\n")
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert "✓" in result.output and "body[0].conv: must be at least 1" in result.output


@pytest.mark.parametrize("argv,expected", [
    (["zoo"], []), (["cost", "googlenet"], []), (["profile", "--help"], []), (["--version"], []),
    (["search", "--budget", "1.5GFLOPs"], ["optuna"]),           # a params search needs no torch
    (["profile", "googlenet", "--no-latency"], ["fvcore", "torch"]),
])
def test_preload_imports_only_what_the_command_needs_and_leaves_collection_on(argv, expected):
    code = (f"import gc, sys; from archbench.cli.app import preload; preload({argv!r}); "
            "print(gc.isenabled(), *sorted(m for m in ('torch', 'fvcore', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", *expected]


def test_help_and_zoo_do_not_import_torch():
    code = ("import sys; from archbench.cli.app import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['zoo']); assert r.exit_code == 0, r.output; "
            "print('torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_show_json_is_the_tree_with_the_analytic_numbers():
    import json

    shown = json.loads(runner.invoke(app, ["show", "inception_v3", "--json"]).output)
    counted = json.loads(runner.invoke(app, ["cost", "inception_v3", "--json"]).output)
    assert shown["params"] == counted["params"] == 23_834_568 and shown["flops"] == counted["flops"]
    blocks = {b["name"]: b for b in counted["blocks"]}
    assert [x["name"] for x in shown["layers"]] == [b["name"] for b in counted["blocks"] if not b["aux"]]
    for layer in shown["layers"]:
        assert (layer["params"], layer["flops"]) == (blocks[layer["name"]]["params"], blocks[layer["name"]]["flops"])
    mixed = next(x for x in shown["layers"] if x["name"] == "Mixed_5b")
    assert mixed["merge"] and [p["segment"] for p in mixed["parts"]][:1] == ["branch0"]
    assert sum(op["params"] for part in mixed["parts"] for op in part["ops"]) == mixed["params"]
    shallow = json.loads(runner.invoke(app, ["show", "inception_v3", "--json", "--depth", "1"]).output)
    assert all("parts" not in x for x in shallow["layers"]) and shown["aux_heads"][0]["name"] == "AuxLogits"


def test_validate_json_gives_one_verdict_per_file_and_keeps_the_exit_code(tmp_path):
    import json

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninput: [3, 32, 32]\nbody:\n  - conv: 0\n")
    result = runner.invoke(app, ["validate", "googlenet", str(bad), "--json"])
    assert result.exit_code == 2
    good, broken = json.loads(result.stdout)
    assert good == {"target": "googlenet", "valid": True, "name": "googlenet", "params": 6_624_904,
                    "output_shape": [1000], "problems": []}
    assert not broken["valid"] and broken["spec_problems"] and "body[0].conv" in broken["problems"][0]
    assert runner.invoke(app, ["validate", "googlenet", "--json"]).exit_code == 0
