"""What the user sees and gets: the paper table in every output, unsqueezed tables in files and
pipes, file modes of the outputs, quiet stderr when it is not a terminal, readable numbers."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from archbench.cli.app import app
from archbench.cli.common import OutputConsole, megabytes, rate
from archbench.files import write_text
from archbench.report import export_table

runner = CliRunner()
NO_COLUMNS = {"COLUMNS": None}  # as a pipe or a file without $COLUMNS: CliRunner's stdout is not a terminal


# -- 1. profile --paper honours --out and --json ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".md", ".tex", ".html", ".json"])
def test_paper_table_is_written_to_out(tmp_path: Path, suffix: str):
    out = tmp_path / f"paper{suffix}"
    result = runner.invoke(app, ["profile", "googlenet", "--paper", "--out", str(out)], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "inception3a" in result.output  # the table is still shown
    text = out.read_text()
    if suffix == ".csv":
        row = pd.read_csv(out).set_index("name").loc["inception3a"]
        assert (row["#1x1"], row["#3x3 reduce"], row["pool proj"], row["params"]) == (64, 96, 32, 155_872)
    elif suffix == ".json":
        rows = {r["name"]: r for r in json.loads(text)["rows"]}
        assert rows["inception3a"]["#5x5"] == 32 and rows["conv1"]["#1x1"] is None
        assert rows["conv1"]["ops"] == 118_013_952
    else:
        assert "inception3a" in text and "155,872" in text and "118,013,952" in text


def test_paper_table_as_json_on_stdout():
    result = runner.invoke(app, ["profile", "googlenet", "--paper", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["target"] == "googlenet" and document["input"] == [3, 224, 224]
    row = next(r for r in document["rows"] if r["name"] == "inception3a")
    assert (row["output"], row["depth"], row["#3x3"], row["params"]) == ("28x28x256", 2, 128, 155_872)


def test_paper_table_of_python_code_is_a_user_error(tmp_path: Path):
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["profile", "tests.models_for_tests:tiny_net", "--paper", "--out", str(out)])
    assert result.exit_code == 2 and "--paper needs a zoo name or a spec file" in result.output
    assert not out.exists()


# -- 3. files and pipes get whole tables ---------------------------------------------------------------------


def test_output_console_is_wide_off_a_terminal_unless_columns_says(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert OutputConsole(file=io.StringIO()).width >= 500
    monkeypatch.setenv("COLUMNS", "90")
    assert OutputConsole(file=io.StringIO()).width == 90
    assert OutputConsole(file=io.StringIO(), width=70).width == 70


def test_paper_table_in_a_file_is_whole():
    result = runner.invoke(app, ["profile", "resnet50", "--paper"], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    assert "to fit the terminal" not in result.output
    fc = next(line for line in result.output.splitlines() if line.lstrip().startswith("fc "))
    assert "2,049,000" in fc and "linear" in fc  # exact params, and the type column is there


def test_validate_in_a_pipe_keeps_one_line_per_spec():
    examples = sorted(str(p) for p in (Path(__file__).parent.parent / "docs" / "examples").glob("*.yaml"))
    result = runner.invoke(app, ["validate", *examples], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(examples) and all(line.endswith(tuple("0123456789")) for line in lines)


# -- 2. train draws no progress display when stderr is not a terminal -------------------------------------


def test_train_leaves_no_progress_bar_in_redirected_stderr(tmp_path: Path):
    result = runner.invoke(app, ["train", "lenet5", "--data", "synthetic:4:32:64", "--epochs", "2", "--max-steps", "2",
                                 "--batch-size", "8", "--loader-workers", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "epoch 1/2" not in result.stderr and "━" not in result.stderr
    assert "best val top-1" in result.stdout


# -- 4. outputs get the mode open() would give them, not mkstemp's 0o600 ----------------------------------


@pytest.fixture
def umask_022() -> Any:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("suffix", [".csv", ".md", ".tex", ".html", ".json"])
def test_exports_get_the_umask_mode(tmp_path: Path, umask_022: None, suffix: str):
    out = tmp_path / f"t{suffix}"
    export_table(pd.DataFrame({"a": [1, 2]}), out)
    assert _mode(out) == 0o644


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path: Path):
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text(kept, "new")
    assert _mode(kept) == 0o640 and kept.read_text() == "new"
    old = os.umask(0o077)
    try:
        write_text(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "private.txt") == 0o600


def test_train_results_and_checkpoints_get_the_umask_mode(tmp_path: Path, umask_022: None):
    result = runner.invoke(app, ["train", "lenet5", "--data", "synthetic:4:32:64", "--epochs", "1", "--max-steps", "1",
                                 "--batch-size", "8", "--loader-workers", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("metrics.csv", "last.pt", "best.pt", "spec.yaml"):
        assert _mode(tmp_path / name) == 0o644, name


# -- 6. the footnote says what the table counts --------------------------------------------------------------


def test_pooling_footnote_matches_the_counted_global_average_pool():
    result = runner.invoke(app, ["profile", "googlenet", "--no-latency", "--no-memory"], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    avgpool = next(line for line in result.output.splitlines() if line.lstrip().startswith("avgpool "))
    assert "50.176 k" in avgpool  # 1024 x 7 x 7 input elements, counted
    assert "; pooling, additions and activations count zero" not in result.output
    assert "average pooling counts one FLOP per input element" in " ".join(result.output.split())
    document = json.loads(runner.invoke(app, ["profile", "googlenet", "--no-latency", "--no-memory", "--json"]).stdout)
    assert "max/avg pooling" not in document["convention"]["uncounted"]


# -- 9. a bad ARCHBENCH_MAX_* is refused by every command, also those that never check that limit ----------


@pytest.mark.parametrize(("env", "fragment"), [
    ({"ARCHBENCH_MAX_FLOPS": "abc"}, "ARCHBENCH_MAX_FLOPS='abc': expected a positive number"),
    ({"ARCHBENCH_MAX_PARAMS": "-1"}, "ARCHBENCH_MAX_PARAMS='-1': expected a positive number"),
    ({"ARCHBENCH_MAX_FLOP": "1e9"}, "ARCHBENCH_MAX_FLOP: no such limit; the limits are ARCHBENCH_MAX_LAYERS"),
])
@pytest.mark.parametrize("command", [["cost", "googlenet"], ["show", "googlenet"], ["zoo"]])
def test_bad_limit_variable_is_a_user_error(env: dict[str, str], fragment: str, command: list[str]):
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert fragment in result.output


def test_good_limit_variable_is_accepted():
    assert runner.invoke(app, ["cost", "googlenet"], env={"ARCHBENCH_MAX_FLOPS": "2e13"}).exit_code == 0


# -- 7. one readable number format; show's --depth and per-op FLOPs ---------------------------------------


def test_human_rates_and_memory_are_rounded_one_way():
    assert rate(14126.3) == "14,126" and rate(3.44) == "3.4"
    assert megabytes(26_500_000) == "26.5 MB" and megabytes(1_234_567_890) == "1,234.6 MB"


def test_profile_and_cost_print_memory_alike():
    profiled = runner.invoke(app, ["profile", "googlenet", "--no-latency"], env=NO_COLUMNS)
    costed = runner.invoke(app, ["cost", "googlenet"], env=NO_COLUMNS)
    assert profiled.exit_code == 0 and costed.exit_code == 0, profiled.output + costed.output
    assert "params 26.5 MB" in profiled.output and "params 26.5 MB" in costed.output
    assert "26.500 MB" not in profiled.output


def test_profile_throughput_has_thousands_separators():
    result = runner.invoke(app, ["profile", "lenet5", "--no-memory", "--batch", "256"], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "img/s" in line)
    assert re.search(r"→ (\d{1,3}(,\d{3})+|\d{1,3}) img/s", line), line  # 14,126 img/s, never 14126.3


def test_show_depth_above_3_is_a_user_error():
    result = runner.invoke(app, ["show", "googlenet", "--depth", "4"])
    assert result.exit_code == 2 and "--depth: expected at most 3" in result.output


def test_show_gives_every_op_its_flops():
    result = runner.invoke(app, ["show", "googlenet"], env=NO_COLUMNS)
    assert result.exit_code == 0, result.output
    op = next(line for line in result.output.splitlines() if "conv 3x3 p1 → 128 (bn+relu)  ⇒ 128x28x28" in line)
    assert "110,848 params" in op and "86.704 MFLOPs" in op
    tree = json.loads(runner.invoke(app, ["show", "googlenet", "--json"]).stdout)
    block = next(layer for layer in tree["layers"] if layer["name"] == "inception3a")
    ops = [o for part in block["parts"] for o in part["ops"]]
    assert sum(o["flops"] for o in ops) == block["flops"]  # the ops add up to their block


# -- 8. plots: every label inside its axes, the zoo marker above the base network's star -------------------


@pytest.fixture
def kept_figure(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figure a plot function would write (drawn, not written, not closed)."""
    from archbench.report import plots

    figures: list[Any] = []

    def keep(plt: Any, fig: Any, path: Any) -> Path:
        fig.tight_layout()
        fig.canvas.draw()
        figures.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _labels_inside_axes(ax: Any) -> list[str]:
    renderer = ax.figure.canvas.get_renderer()
    area = ax.get_window_extent(renderer)
    outside = []
    for text in ax.texts:
        box = text.get_window_extent(renderer)
        if not (area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1):
            outside.append(text.get_text())
    return outside


def test_compare_plot_keeps_the_corner_label_inside(kept_figure: list[Any]):
    from archbench.report.plots import plot_comparison

    frame = pd.DataFrame({"network": ["googlenet", "inception_v3", "vgg16", "resnet50", "alexnet"],
                          "params": [6.6e6, 23.8e6, 138.4e6, 25.6e6, 61.1e6],
                          "flops": [1.50e9, 5.71e9, 15.47e9, 4.09e9, 0.71e9],
                          "latency_ms": [float("nan")] * 5, "batch": [1] * 5, "device": ["cpu"] * 5})
    plot_comparison(frame, "x.png")
    ax = kept_figure[0].axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(frame["network"])
    assert _labels_inside_axes(ax) == []


def test_study_plot_shows_the_zoo_network_under_the_base_star(kept_figure: list[Any]):
    from archbench.report.plots import plot_study

    trials = pd.DataFrame({"number": [0, 1, 2], "feasible": [True, True, True],
                           "flops": [1_498_426_368, 1_406_213_528, 1_450_000_000],
                           "params": [6_624_904, 6_755_968, 6_870_000]})
    plot_study(trials, "flops", "params", {1, 2}, "p.png", "study", base=0)
    ax = kept_figure[0].axes[0]
    star = next(line for line in ax.lines if line.get_marker() == "*")
    zoo = next(c for c in ax.collections if c.get_label() == "zoo networks")
    assert zoo.get_zorder() > star.get_zorder()  # drawn over the star, so the diamond shows
    assert "googlenet" in [t.get_text() for t in ax.texts]
    assert _labels_inside_axes(ax) == []
