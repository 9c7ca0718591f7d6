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
