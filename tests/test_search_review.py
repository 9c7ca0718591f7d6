"""Findings of a user review of `search` and `report`: what a study records and refuses, what its
tables and summary say, and the budgets that cannot be met in the way a user meant them."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from archbench.cli.app import app
from archbench.errors import ArchbenchError
from archbench.search.runner import SearchConfig, run_search
from archbench.search.train_objective import TrainSettings

HERE = Path(__file__).parent
TINY_SPACE = str(HERE / "spaces" / "tiny.yaml")
runner = CliRunner()


def run_cli(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def load(folder: Path) -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    return optuna.load_study(study_name=folder.name, storage=storage)


def search_args(out: Path, *more: str, trials: int = 3) -> list[str]:
    return ["search", "--space", TINY_SPACE, "--objective", "params", "--trials", str(trials), "--out", str(out), *more]


# ---------------------------------------------------------------------------- 1: settings of a resumed study
def test_resuming_with_another_budget_is_refused_and_names_both(tmp_path: Path):
    assert run_cli(search_args(tmp_path, "--budget", "2MFLOPs"))[0] == 0
    code, output = run_cli(search_args(tmp_path, "--budget", "1MFLOPs", trials=4))
    text = " ".join(output.split())
    assert code == 2 and "Traceback" not in output
    assert "--budget: 2MFLOPs (the study's) -> 1MFLOPs (this run's)" in text
    assert "--study NAME" in text
    study = load(tmp_path / "tiny")
    assert len(study.trials) == 3 and study.user_attrs["budgets"] == ["2MFLOPs"]  # nothing added to the study


def test_extending_with_the_same_settings_written_otherwise_is_allowed(tmp_path: Path):
    assert run_cli(search_args(tmp_path, "--budget", "2MFLOPs"))[0] == 0
    code, output = run_cli(search_args(tmp_path, "--budget", "2000kMACs", trials=5))  # the same budget
    assert code == 0, output
    code, output = run_cli(search_args(tmp_path, trials=6))  # the space's own budget is 2MFLOPs
    assert code == 0, output and "6 finished trials" in output


def test_resuming_with_another_objective_of_the_same_direction_is_refused(tmp_path: Path):
    assert run_cli(search_args(tmp_path))[0] == 0
    code, output = run_cli(["search", "--space", TINY_SPACE, "--objective", "flops", "--trials", "4",
                            "--out", str(tmp_path)])
    assert code == 2 and "--objective: params (the study's) -> flops (this run's)" in " ".join(output.split())


TRAIN = ["--objective", "train", "--data", "synthetic:10:32:64", "--train-epochs", "1", "--train-steps", "1",
         "--batch-size", "16", "--val-steps", "1"]


def test_a_train_study_refuses_other_training_settings_and_gives_no_advice_to_do_what_was_done(tmp_path: Path):
    args = ["search", "--space", TINY_SPACE, "--trials", "1", "--out", str(tmp_path), "--objective", "flops", *TRAIN]
    code, output = run_cli(args)
    assert code == 0, output
    assert "--objective train" not in output and "Spearman" not in output  # finding 6: it was a train search
    code, output = run_cli([*args, "--train-epochs", "2"])  # the last --train-epochs counts
    assert code == 2 and "--train-epochs: 1 (the study's) -> 2 (this run's)" in " ".join(output.split())


def test_settings_an_older_study_did_not_record_are_not_compared():
    from archbench.search.runner import changed_settings

    now = {"space": TINY_SPACE, "budgets": ["2MFLOPs"], "price_at": "space", "objectives": ["train"],
           "train": {"data": "synthetic", "epochs": 1, "seed": 0}}
    assert changed_settings({"objectives": ["train"], "budgets": ["2000kFLOPs"]}, now) == []
    assert changed_settings({**now, "train": {"data": "synthetic", "seed": 0}}, now) == []


def test_library_search_refuses_another_space_file_but_not_another_path_to_it(tmp_path: Path, monkeypatch):
    run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=2, results=str(tmp_path)))
    monkeypatch.chdir(HERE)
    again = run_search(SearchConfig(space="spaces/tiny.yaml", objectives=["params"], trials=3,
                                    results=str(tmp_path)))
    assert len(again.trials) == 3
    other = tmp_path / "other"
    shutil.copytree(HERE / "spaces", other)  # another space file (it may have been edited since)
    with pytest.raises(ArchbenchError, match="--space: .*tiny.yaml \\(the study's\\) -> .*other/tiny.yaml"):
        run_search(SearchConfig(space=str(other / "tiny.yaml"), objectives=["params"], trials=4,
                                results=str(tmp_path)))


# ---------------------------------------------------------------------------- 2: latency budgets
def _fixed_latency(monkeypatch, ms: float) -> None:
    """Every candidate times at ``ms``: the measurement is the one thing a test cannot control."""
    from archbench.search import objectives

    monkeypatch.setattr(objectives, "_latency", lambda model, shape: ms)


@pytest.mark.parametrize("budget,feasible,usage", [("20ms", False, 1.5), ("50ms", True, 0.6)])
def test_latency_budget_is_in_the_table_and_in_budget_usage(tmp_path: Path, monkeypatch, budget, feasible, usage):
    import pandas as pd

    _fixed_latency(monkeypatch, 30.0)
    code, output = run_cli(search_args(tmp_path, "--budget", budget, trials=2))
    assert code == 0, output
    table = pd.read_csv(tmp_path / "tiny" / "trials.csv")
    assert list(table["latency_ms"]) == [30.0, 30.0]
    assert list(table["budget_usage"]) == pytest.approx([usage, usage])
    assert list(table["feasible"]) == [feasible, feasible]
    assert table["params"].notna().all() and table["flops"].notna().all()  # measured, feasible or not
    if not feasible:
        assert list(table["over_budget"]) == ["20ms (1.50x)"] * 2
        assert "over_budget" in " ".join(output.split())  # the summary says where to look
        caption = (tmp_path / "tiny" / "pareto.md").read_text().splitlines()[0]
        assert caption == "study tiny: no feasible trial (params maximised)"
    text = " ".join(output.split())
    assert "latency is timed on each built candidate and checked, not repaired" in text


def test_an_infeasible_trial_shows_the_objective_values_it_measured(tmp_path: Path, monkeypatch):
    import pandas as pd

    _fixed_latency(monkeypatch, 30.0)
    args = ["search", "--space", TINY_SPACE, "--objective", "latency", "--objective", "params", "--trials", "2",
            "--budget", "20ms", "--out", str(tmp_path)]
    assert run_cli(args)[0] == 0
    table = pd.read_csv(tmp_path / "tiny" / "trials.csv")
    assert list(table["latency"]) == [30.0, 30.0] and not table["feasible"].any()
    assert (table["params"] > 0).all()


# ---------------------------------------------------------------------------- 3: loose budgets
def test_a_unitless_budget_far_above_the_space_warns_how_it_was_read(tmp_path: Path):
    from archbench.search.budget import largest_network
    from archbench.search.space import load_space
    from archbench.units import parse_budget

    space = load_space(TINY_SPACE)
    top = largest_network(space, [parse_budget("1G")], 4.0)
    code, output = run_cli(search_args(tmp_path, "--budget", "1G", trials=1))
    text = " ".join(output.split())
    assert code == 0, output
    assert "--budget 1G reads as 1 G params" in text and "write 1GFLOPs for FLOPs" in text
    assert f"has {top.params / 1e6:.3g} M params" in text
    assert top.params < 0.9e9 and top.spec.width_multiplier == 4.0
    # every trial of the search is within what the warning said the largest network costs
    assert max(t.user_attrs["params"] for t in load(tmp_path / "tiny").trials) <= top.params


def test_a_huge_flops_budget_warns_and_a_fitting_one_does_not(tmp_path: Path):
    code, output = run_cli(search_args(tmp_path, "--budget", "1TFLOPs", trials=1))
    text = " ".join(output.split())
    assert code == 0 and "--budget 1TFLOPs is far above the space" in text and "reads as" not in text
    code, output = run_cli(search_args(tmp_path / "fits", "--budget", "2MFLOPs", trials=1))
    assert code == 0 and "far above" not in output


# ---------------------------------------------------------------------------- 4: found specs' metadata
def test_found_specs_carry_no_metadata_of_the_base_network(tmp_path: Path):
    from archbench.spec import load_spec

    study = run_search(SearchConfig(space="inception_v1", objectives=["params"], trials=2, results=str(tmp_path)))
    from archbench.search.report import write_report

    written = write_report(study, tmp_path / "inception_v1")
    spec = load_spec(written["best_1"])
    assert spec.meta == () and spec.reference == ""
    assert "derived from torchvision googlenet" in spec.description
    text = written["best_1"].read_text()
    assert "meta:" not in text and "reference:" not in text


# ---------------------------------------------------------------------------- 5: what was optimised
def test_search_summary_names_objective_direction_and_best_values(tmp_path: Path):
    code, output = run_cli(search_args(tmp_path, trials=4))
    assert code == 0, output
    study = load(tmp_path / "tiny")
    best = max((t for t in study.trials), key=lambda t: t.value)
    text = " ".join(output.split())
    assert "objective: params (maximised) under 2MFLOPs; 4 of 4 trials feasible" in text
    assert f"trial {best.number}: params {best.value:,.0f}; budget usage {best.user_attrs['budget_usage']:.0%}" in text
    assert text.index("best trials, best first") < text.index(f"01_trial{best.number}.yaml")


def test_pareto_md_of_one_objective_is_sorted_best_first_and_titled_so(tmp_path: Path):
    import pandas as pd

    assert run_cli(search_args(tmp_path, trials=6))[0] == 0
    table = pd.read_csv(tmp_path / "tiny" / "pareto.csv")
    assert list(table["params"]) == sorted(table["params"], reverse=True) and len(table) == 5
    first = (tmp_path / "tiny" / "pareto.md").read_text().splitlines()[0]
    assert first == "study tiny: the 5 best feasible trials by params maximised, best first"


# ---------------------------------------------------------------------------- 7: report
def test_report_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = run_cli(["report", "nope", "--storage", "sqlite:///nope.db"])
    assert code == 2 and "Traceback" not in output
    assert "no such study database" in " ".join(output.split())
    assert list(tmp_path.iterdir()) == []


def test_study_name_error_names_the_out_option(tmp_path: Path):
    code, output = run_cli(search_args(tmp_path, "--study", "../escape"))
    text = " ".join(output.split())
    assert code == 2 and "folder under --out" in text and "--results" not in text
