"""One option vocabulary: readable help, --version, --json where results are printed, old names as
aliases, module:callable from the current folder and from a file, objective directions, and what a
search says when nothing was feasible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archbench import __version__
from archbench.cli.app import app
from archbench.search.objectives import get_objectives

runner = CliRunner()
TINY_SPACE = str(Path(__file__).parent / "spaces" / "tiny.yaml")
ROOT = Path(__file__).parent.parent


def _entry_point(*args: str) -> str:
    """The output of the installed entry point (``archbench.cli.app:main``), not of CliRunner."""
    code = f"import sys; sys.argv = ['archbench', *{list(args)!r}]; from archbench.cli.app import main; main()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"COLUMNS": "150", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.parametrize("command", [[], ["profile"], ["compare"], ["search"], ["train"], ["cost"], ["report"]])
def test_help_has_no_type_placeholders(command: list[str]):
    text = _entry_point(*command, "--help")
    assert "<bool>" not in text and "<str>" not in text and "<int>" not in text and "{" not in text
    if command in (["profile"], ["train"], ["cost"]):
        assert f"archbench {command[0]} [OPTIONS] TARGET" in text


def test_version_and_shell_completion():
    assert _entry_point("--version").strip() == f"archbench {__version__}"
    assert "--install-completion" in _entry_point("--help")


def test_zoo_json_lists_every_network():
    data = json.loads(runner.invoke(app, ["zoo", "--json"]).output)
    googlenet = next(n for n in data["networks"] if n["name"] == "googlenet")
    assert googlenet["params"] == 6_624_904 and googlenet["flops"] == 1_498_426_368 and googlenet["input"] == [3, 224, 224]


def test_compare_json_and_input(tmp_path: Path):
    result = runner.invoke(app, ["compare", "lenet5", "tests.models_for_tests:tiny_net", "--input", "32",
                                 "--no-latency", "--no-memory", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["network"] for r in rows] == ["lenet5", "tests.models_for_tests:tiny_net"]
    assert rows[0]["params"] == 61_706 and rows[0]["depth"] == 5 and rows[0]["latency_ms"] is None
    assert rows[0]["input"] == "1x32x32" and rows[1]["input"] == "3x32x32"  # each network's channels


MYNETS = "from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))\n"


@pytest.mark.parametrize("target", ["mynets:build", "./mynets.py:build", "sub/mynets2.py:build"])
def test_module_callable_from_the_current_folder_and_from_a_file(tmp_path: Path, monkeypatch, target: str):
    (tmp_path / "sub").mkdir()
    (tmp_path / "mynets.py").write_text(MYNETS)
    (tmp_path / "sub" / "mynets2.py").write_text(MYNETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    result = runner.invoke(app, ["profile", target, "--input", "16", "--no-latency", "--no-memory", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["total"] == 3 * 4 * 9 + 4 + 4 * 2 + 2


def test_a_missing_file_target_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["profile", "./nowhere.py:build", "--no-latency", "--no-memory"])
    assert result.exit_code == 2 and "no such file './nowhere.py'" in result.output


@pytest.mark.parametrize("names,directions", [
    (["naswot", "flops"], ["maximize", "minimize"]),  # a cost beside another objective: minimised
    (["flops"], ["maximize"]),  # alone, a proxy: bigger is usually better
    (["naswot", "params:max"], ["maximize", "maximize"]),
    (["flops:min"], ["minimize"]),
])
def test_objective_directions(names: list[str], directions: list[str]):
    assert [o.direction for o in get_objectives(names)] == directions


def test_bad_direction_is_a_user_error(tmp_path: Path):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "flops:up", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "NAME:min or NAME:max" in result.output


def test_search_without_a_feasible_trial_says_so_and_writes_no_plot(tmp_path: Path):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "params", "--budget", "0.001ms",
                                 "--trials", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tiny"
    assert "no feasible trial" in result.output and "best/" not in result.output.split("no feasible")[0]
    assert not (folder / "pareto.png").exists() and not list(folder.glob("best/*.yaml"))
    assert (folder / "trials.csv").exists()


def test_search_json_summary_and_plot(tmp_path: Path):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "naswot", "--objective", "flops",
                                 "--trials", "4", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["directions"] == ["maximize", "minimize"] and data["finished_trials"] == 4
    assert Path(data["files"]["pareto_png"]).read_bytes()[:4] == b"\x89PNG"
    assert data["best"] and all(Path(b["spec"]).exists() for b in data["best"])


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "inception_resnet_v2"])
def test_paper_table_never_cuts_a_number_at_80_columns(name: str):
    result = runner.invoke(app, ["profile", name, "--paper"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and max(len(line) for line in result.output.splitlines()[:-2]) <= 80
    if name == "googlenet":
        assert "118.0M" in result.output  # conv1's ops, rounded to fit


def test_train_json(tmp_path: Path):
    result = runner.invoke(app, ["train", "lenet5", "--data", "synthetic:4:32:64", "--epochs", "1", "--max-steps", "2",
                                 "--batch-size", "8", "--loader-workers", "0", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [e["epoch"] for e in data["epochs"]] == [1] and data["epochs"][0]["steps"] == 2
    assert Path(data["metrics_csv"]).exists() and data["best_epoch"] == 1
