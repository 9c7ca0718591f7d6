"""The ``train`` search objective (pruning, multi-objective) and ``archbench calibrate``."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from archbench.cli.app import app
from archbench.errors import ArchbenchError
from archbench.search import train_objective
from archbench.search.calibrate import CHEAP, CalibrationConfig, calibrate, correlations
from archbench.search.objectives import OBJECTIVES, get_objectives
from archbench.search.runner import SearchConfig, run_search
from archbench.search.train_objective import TrainSettings

TINY_SPACE = str(Path(__file__).parent / "spaces" / "tiny.yaml")
runner = CliRunner()
FAST = dict(data="synthetic:10:32:600", epochs=2, max_steps=4, batch_size=32)


def test_train_objective_needs_data():
    with pytest.raises(ArchbenchError, match="needs --data"):
        get_objectives(["train"])
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "train", "--trials", "1"])
    assert result.exit_code == 2 and "--data" in result.output and "Traceback" not in result.output


def test_bad_data_or_training_options_stop_the_search_before_it_starts(tmp_path):
    for extra in (["--data", str(tmp_path / "nowhere")], ["--data", "synthetic:10:32:200", "--train-batch", "0"],
                  # aux heads are off by default (the recipe's); asked for, v3's cannot run on 32x32 images
                  ["--space", "inception_v3", "--data", "synthetic:10:32:200", "--aux"]):
        result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "train", "--trials", "2",
                                     "--results", str(tmp_path), *extra])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and not any(tmp_path.iterdir())  # no study was created


@pytest.mark.parametrize("extra,message", [
    (["--data", "synthetic"], "add --objective train"),  # data given but nothing trains on it
    (["--objective", "train", "--objective", "flops", "--data", "synthetic", "--pruner", "hyperband"], "one objective"),
], ids=["data-without-train", "hyperband-multi"])
def test_inconsistent_training_options_are_user_errors(tmp_path, extra, message):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--trials", "1", "--results", str(tmp_path), *extra])
    assert result.exit_code == 2 and message in result.output and not any(tmp_path.iterdir())


def test_unknown_pruner_is_a_user_error():
    with pytest.raises(ArchbenchError, match="--pruner"):
        TrainSettings(data="synthetic", pruner="sometimes")


@dataclass
class _Epoch:
    epoch: int
    val_top1: float
    steps: int = 10  # optimizer steps in the epoch, as in the real EpochMetrics


def _scripted_fit(epochs_run: list[int], accuracy_of):
    """A stand-in for archbench.train.fit: reports scripted accuracies (epochs count from 1, as
    in the real loop) and records, call by call, how many epochs ran before it returned or raised."""

    def fit(model, data, config, on_epoch=None, **_):
        epochs_run.append(0)
        for epoch in range(1, config.epochs + 1):
            epochs_run[-1] = epoch
            on_epoch(_Epoch(epoch, accuracy_of(model)))

        class Result:
            best_top1 = accuracy_of(model)
        return Result()

    return fit


@pytest.mark.parametrize("objectives,pruner", [(["train"], "median"), (["train", "flops"], "median"),
                                               (["train"], "hyperband"), (["train"], "sh"), (["train", "flops"], "sh")],
                         ids=["single-median", "multi-median", "single-hyperband", "single-sh", "multi-sh"])
def test_pruning_stops_bad_trials_early(monkeypatch, tmp_path, objectives, pruner):
    """Pruned trials stop training early; with the median rule, below the median of earlier ones.

    fit is scripted (accuracy grows with the parameter count) so the test is about the pruning
    plumbing: Optuna's pruners for one objective, archbench's median rule for several.
    """
    import archbench

    epochs_run: list[int] = []
    accuracy = lambda model: sum(p.numel() for p in model.parameters()) / 1e6  # noqa: E731
    monkeypatch.setattr("archbench.train.fit", _scripted_fit(epochs_run, accuracy))
    monkeypatch.setattr(train_objective.TrainObjective, "data", property(lambda self: _FakeData()))
    monkeypatch.setattr("archbench.train.adapt_spec", lambda spec, data, aux=True, **_: spec)
    monkeypatch.setattr("archbench.train.model_for_data",
                        lambda spec, data, aux=True, seed=None, **_: (archbench.build(spec), spec))
    config = SearchConfig(space=TINY_SPACE, objectives=objectives, trials=16, results=str(tmp_path), seed=3,
                          sampler="random", repair=False, budgets=["1GFLOPs"],
                          train=TrainSettings(data="synthetic", epochs=4, pruner=pruner))
    study = run_search(config)
    trained = [t for t in study.trials if "val_top1_epoch1" in t.user_attrs]  # fit ran, in this order
    assert len(trained) == len(epochs_run)
    pruned = [t for t in trained if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, f"no trial was pruned: {[t.state.name for t in study.trials]}"
    completed = [t for t in trained if t.state == optuna.trial.TrialState.COMPLETE]
    assert completed and all(epochs_run[trained.index(t)] == 4 for t in completed)
    for t in pruned:
        ran = epochs_run[trained.index(t)]
        assert ran < 4  # the training loop itself stopped, not only the bookkeeping
        assert sorted(k for k in t.user_attrs if k.startswith("val_top1_epoch")) == \
            [f"val_top1_epoch{e}" for e in range(1, ran + 1)]
        if pruner == "median":
            key = f"val_top1_epoch{ran}"
            earlier = [o.user_attrs[key] for o in completed if o.number < t.number]
            assert len(earlier) >= 4 and t.user_attrs[key] < statistics.median(earlier)
        if pruner == "sh":  # pruned at a rung (epochs 1, 3), outside the best third of the trials there before it
            key = f"val_top1_epoch{ran}"
            assert ran in (1, 3)
            earlier = [o.user_attrs[key] for o in trained if o.number < t.number and key in o.user_attrs]
            keep = max(1, (len(earlier) + 1) // 3)
            assert t.user_attrs[key] < sorted([*earlier, t.user_attrs[key]], reverse=True)[keep - 1]
    for t in trained:  # every trial records the optimizer steps it took (10 per epoch in the script)
        assert t.user_attrs["train_steps"] == 10 * epochs_run[trained.index(t)]


@pytest.mark.parametrize("epoch,rung", [(1, 0), (2, None), (3, 1), (4, None), (8, None), (9, 2), (27, 3)])
def test_rungs_of_successive_halving(epoch, rung):
    assert train_objective.rung_of(epoch) == rung  # epochs 1, 3, 9, 27 with eta = 3


def test_halving_matches_optunas_successive_halving_rule():
    """archbench's multi-objective rule decides exactly as Optuna's SuccessiveHalvingPruner would."""
    import random

    from optuna.pruners._successive_halving import _is_trial_promotable_to_next_rung
    from optuna.study import StudyDirection

    assert not train_objective.halving_prunes(0.2, [])  # the first trial at a rung goes on
    assert train_objective.halving_prunes(0.5, [0.6]) and not train_objective.halving_prunes(0.7, [0.6])
    # 6 values: the best 2 go on
    assert train_objective.halving_prunes(0.4, [0.9, 0.8, 0.3, 0.2, 0.1])
    assert not train_objective.halving_prunes(0.85, [0.9, 0.8, 0.3, 0.2, 0.1])
    rng = random.Random(0)
    for _ in range(500):
        others = [rng.choice([0.1, 0.2, 0.3, 0.4, 0.5]) for _ in range(rng.randrange(0, 12))]  # ties included
        value = rng.choice([0.1, 0.2, 0.3, 0.4, 0.5])
        for eta in (2, 3, 4):
            promoted = _is_trial_promotable_to_next_rung(value, [*others, value], eta, StudyDirection.MAXIMIZE)
            assert train_objective.halving_prunes(value, others, eta) == (not promoted)


def test_zero_cost_warm_up_trains_the_best_ranked_candidates_first(monkeypatch, tmp_path):
    """After the base network, the search trains the warm-up's top candidates by the cheap signal, best first."""
    import archbench
    from archbench.search.space import load_space
    from archbench.search.warmup import WarmUp, score_candidates
    from archbench.units import parse_budget

    epochs_run: list[int] = []
    monkeypatch.setattr("archbench.train.fit", _scripted_fit(epochs_run, lambda model: 0.5))
    monkeypatch.setattr(train_objective.TrainObjective, "data", property(lambda self: _FakeData()))
    monkeypatch.setattr("archbench.train.adapt_spec", lambda spec, data, aux=True, **_: spec)
    monkeypatch.setattr("archbench.train.model_for_data",
                        lambda spec, data, aux=True, seed=None, **_: (archbench.build(spec), spec))
    warm = WarmUp(samples=12, top=3, signal="params")
    settings = TrainSettings(data="synthetic", epochs=1, pruner="none")
    config = SearchConfig(space=TINY_SPACE, objectives=["train"], trials=5, results=str(tmp_path), seed=2,
                          budgets=["2MFLOPs"], train=settings, warmup=warm)
    study = run_search(config)
    space = load_space(TINY_SPACE)
    ranked = score_candidates(space, [parse_budget("2MFLOPs")], warm, train_objective.TrainObjective(settings), seed=2)
    assert len(ranked) >= 3 and [s for s, _ in ranked] == sorted((s for s, _ in ranked), reverse=True)
    assert study.trials[0].params == space.defaults
    assert [t.params for t in study.trials[1:4]] == [values for _, values in ranked[:3]]
    assert all(t.user_attrs["warmup_signal"] == "params" for t in study.trials[1:4])
    params = [t.user_attrs["params"] for t in study.trials[1:4]]
    assert params == sorted(params, reverse=True)  # the signal's order, repaired as the search repairs


@pytest.mark.parametrize("argv,message", [
    (["--warmup", "10"], "needs --objective train"),
    (["--objective", "train", "--data", "synthetic:4:32:40", "--warmup", "4", "--warmup-top", "5"], "top <= samples"),
    (["--objective", "train", "--data", "synthetic:4:32:40", "--warmup", "4", "--warmup-signal", "magic"],
     "--warmup-signal"),
], ids=["no-train", "top-over-samples", "bad-signal"])
def test_bad_warm_up_options_are_user_errors(tmp_path, argv, message):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--trials", "1", "--results", str(tmp_path), *argv])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


class _FakeData:
    classes = [str(i) for i in range(10)]
    input_shape = (3, 32, 32)


def test_search_with_the_train_objective_end_to_end(tmp_path):
    """A real (tiny) search: each trial trains on the synthetic data and reports accuracy per epoch."""
    config = SearchConfig(space=TINY_SPACE, objectives=["train", "flops"], trials=3, results=str(tmp_path), seed=0,
                          train=TrainSettings(**FAST, pruner="median", image_size=40))
    study = run_search(config)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3
    for t in done:
        accuracy, flops = t.values
        assert 0.0 <= accuracy <= 1.0 and flops == t.user_attrs["flops"]
        assert {"val_top1_epoch1", "val_top1_epoch2"} <= set(t.user_attrs)  # epochs count from 1
        assert max(t.user_attrs["val_top1_epoch1"], t.user_attrs["val_top1_epoch2"]) == pytest.approx(accuracy)
    from archbench.search.report import write_report
    import pandas as pd

    write_report(study, tmp_path / "report")
    table = pd.read_csv(tmp_path / "report" / "trials.csv")
    assert list(table["val_top1_epoch2"]) == pytest.approx([t.user_attrs["val_top1_epoch2"] for t in study.trials])
    # budgets price the space's network at its own input; the table also gives the network as trained
    from archbench.cost import analyze
    from archbench.search.report import evaluated_spec
    from archbench.train import adapt_spec, load_data

    data = load_data(FAST["data"], image_size=40)
    for t, row in zip(study.trials, table.to_dict("records")):
        trained = analyze(adapt_spec(evaluated_spec(study, t), data, aux=False))
        assert (row["flops_trained"], row["params_trained"]) == (trained.flops, trained.params())
        assert row["flops_trained"] > row["flops"]  # trained on 40x40 images, priced at the space's 32x32


def test_correlations_match_hand_computed_ranks():
    import pandas as pd

    frame = pd.DataFrame({"naswot": [1, 2, 3, 4, 5], "synflow": [5, 4, 3, 2, 1], "params": [1, 3, 2, 5, 4],
                          "flops": [1, 1, 1, 1, 1], "accuracy": [0.1, 0.2, 0.3, 0.4, 0.5]})
    table = correlations(frame).set_index("objective")
    assert table.loc["naswot", "spearman"] == pytest.approx(1.0)
    assert table.loc["naswot", "kendall"] == pytest.approx(1.0)
    assert table.loc["synflow", "spearman"] == pytest.approx(-1.0)
    # params ranks 1,3,2,5,4 against 1..5: d^2 = 0+1+1+1+1 = 4 -> rho = 1 - 6*4/(5*24) = 0.8;
    # concordant 8, discordant 2 of 10 pairs -> tau = 0.6
    assert table.loc["params", "spearman"] == pytest.approx(0.8)
    assert table.loc["params", "kendall"] == pytest.approx(0.6)
    assert math.isnan(table.loc["flops", "spearman"])  # a constant column has no ranking


def test_calibrate_gives_correlations_in_range_and_reproduces_with_a_seed():
    config = CalibrationConfig(space=TINY_SPACE, samples=4, seed=1, train=TrainSettings(**FAST, pruner="none"))
    first = calibrate(config)
    second = calibrate(config)
    assert len(first.samples) == 4
    assert first.samples.drop(columns=["synflow"]).equals(second.samples.drop(columns=["synflow"]))
    assert list(first.samples["synflow"].round(9)) == list(second.samples["synflow"].round(9))
    for column in ("spearman", "kendall"):
        values = first.correlations[column].dropna()
        assert len(values) >= 3 and ((values >= -1) & (values <= 1)).all()
    assert ((first.samples["accuracy"] >= 0) & (first.samples["accuracy"] <= 1)).all()


def test_calibrate_command_writes_its_outputs(tmp_path):
    result = runner.invoke(app, ["calibrate", "--space", TINY_SPACE, "--data", "synthetic:10:32:600", "--samples", "3",
                                 "--epochs", "1", "--max-steps", "3", "--batch-size", "32",
                                 "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "calibrate" / "tiny"
    for name in ("samples.csv", "correlations.csv", "correlations.md", "calibration.png", "calibration.json"):
        assert (folder / name).stat().st_size > 0
    assert "Spearman" in result.output
    assert "beat the params and flops baselines" in " ".join(result.output.split()).lower()
    written = json.loads((folder / "calibration.json").read_text())
    assert written["samples"] == 3 and written["recipe"]["max_steps"] == 3 and written["default"] in OBJECTIVES
    assert {row["objective"] for row in written["objectives"]} == set(CHEAP)


def test_calibrate_never_replaces_an_earlier_calibration_unless_asked(tmp_path):
    folder = tmp_path / "calibrate" / "tiny"
    folder.mkdir(parents=True)
    (folder / "samples.csv").write_text("earlier\n")
    command = ["calibrate", "--space", TINY_SPACE, "--data", "synthetic:10:32:300", "--samples", "3", "--epochs", "1",
               "--max-steps", "2", "--out", str(tmp_path)]
    refused = runner.invoke(app, command)
    assert refused.exit_code == 2 and "--overwrite" in refused.output and "Traceback" not in refused.output
    assert (folder / "samples.csv").read_text() == "earlier\n"  # refused before any training
    (folder / "samples.csv").unlink()
    (folder / "calibration.png").mkdir()  # a file it writes is a folder: refused before training, too
    blocked = runner.invoke(app, [*command, "--overwrite"])
    assert blocked.exit_code == 2 and "calibration.png" in blocked.output and "is a folder" in blocked.output
    (folder / "calibration.png").rmdir()
    (folder / "samples.csv").write_text("earlier\n")
    replaced = runner.invoke(app, [*command, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (folder / "samples.csv").read_text() != "earlier\n"


def test_calibrate_with_a_bad_data_path_is_a_user_error(tmp_path):
    result = runner.invoke(app, ["calibrate", "--space", TINY_SPACE, "--data", str(tmp_path / "nowhere"),
                                 "--samples", "3"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_search_command_with_warm_up_and_successive_halving(tmp_path):
    """The real thing, tiny: synflow ranks 6 candidates, the best 2 train right after the base network."""
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "train", "--data", "synthetic:10:32:300",
                                 "--train-epochs", "1", "--train-steps", "2", "--train-batch", "32", "--trials", "3",
                                 "--warmup", "6", "--warmup-top", "2", "--warmup-signal", "synflow",
                                 "--results", str(tmp_path), "--study", "w"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="w", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "w" / "study.journal"))))
    assert [t.user_attrs.get("warmup_signal") for t in study.trials] == [None, "synflow", "synflow"]
    assert all(t.user_attrs["train_steps"] == 2 for t in study.trials if t.state.name == "COMPLETE")


def test_warm_up_ranks_with_the_default_objective_unless_told(tmp_path):
    """The warm-up signal defaults to the search's default objective (the one the shipped calibration
    supports), not to a proxy the calibration found ranking against accuracy."""
    from archbench.search.defaults import default_objective

    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "train", "--data", "synthetic:10:32:300",
                                 "--train-epochs", "1", "--train-steps", "1", "--trials", "2", "--warmup", "4",
                                 "--warmup-top", "1", "--out", str(tmp_path), "--study", "d"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="d", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "d" / "study.journal"))))
    assert [t.user_attrs.get("warmup_signal") for t in study.trials] == [None, default_objective()]


def test_train_defaults_are_the_shipped_recipe_training():
    """`search --objective train --data PATH` and `calibrate --data PATH` train a user's data with the
    recipe the evidence was measured with: same epochs, batch, optimizer, schedule, no aux heads."""
    from archbench.search.train_objective import RECIPE

    plain = TrainSettings(data="x")
    for field in ("epochs", "batch_size", "optimizer", "lr", "aux", "pruner"):
        assert getattr(plain, field) == getattr(RECIPE, field), field
    # and the CLI's defaults are the dataclass's
    import inspect

    from archbench.cli.calibrate import calibrate
    from archbench.cli.search import search

    search_defaults = {k: v.default for k, v in inspect.signature(search).parameters.items()}
    assert (search_defaults["train_epochs"], search_defaults["batch_size"], search_defaults["train_aux"],
            search_defaults["optimizer"], search_defaults["lr"], search_defaults["val_fraction"]) == \
        (plain.epochs, plain.batch_size, plain.aux, plain.optimizer, plain.lr, plain.val_fraction)
    calibrate_defaults = {k: v.default for k, v in inspect.signature(calibrate).parameters.items()}
    assert (calibrate_defaults["epochs"], calibrate_defaults["batch_size"], calibrate_defaults["aux"],
            calibrate_defaults["optimizer"], calibrate_defaults["val_fraction"]) == \
        (plain.epochs, plain.batch_size, plain.aux, plain.optimizer, plain.val_fraction)


@pytest.mark.parametrize("flag,value,expected", [("--optimizer", "lion", "--optimizer"), ("--lr", "-1", "--lr"),
                                                 ("--lr", "nan", "--lr"), ("--val-fraction", "1.5", "--val-fraction"),
                                                 ("--val-fraction", "0", "--val-fraction")])
@pytest.mark.parametrize("command", ["search", "calibrate"])
def test_bad_training_options_are_user_errors(tmp_path, command, flag, value, expected):
    args = [command, "--space", TINY_SPACE, "--data", "synthetic:4:32:40", flag, value, "--out", str(tmp_path)]
    if command == "search":
        args += ["--objective", "train", "--trials", "1"]
    else:
        args += ["--samples", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_budgets_priced_on_the_network_as_trained(tmp_path):
    """``--price-at data``: every trial's FLOPs are those of the network adapted to the data (its
    image size, here 40 px against the space's 32), repaired into the budget (up to the width
    rounding's steps, which can leave no width in the 90-100% band); the stored spec is
    still the space's candidate, which the report and the training adapt the same way."""
    from archbench.cost import analyze
    from archbench.search.report import evaluated_spec
    from archbench.train import adapt_spec, load_data

    settings = TrainSettings(**FAST, pruner="none", image_size=40)
    config = SearchConfig(space=TINY_SPACE, budgets=["3MFLOPs"], objectives=["train"], trials=4, results=str(tmp_path),
                          seed=0, train=settings, price_at="data")
    study = run_search(config)
    data = load_data(FAST["data"], image_size=40)
    feasible = [t for t in study.trials if t.state.name == "COMPLETE" and not t.user_attrs.get("infeasible")]
    assert feasible and study.user_attrs["price_at"] == "data"
    for t in feasible:
        spec = evaluated_spec(study, t)
        as_trained = analyze(adapt_spec(spec, data, aux=False)).flops
        assert t.user_attrs["flops"] == t.user_attrs["flops_trained"] == as_trained
        assert t.user_attrs["budget_usage"] == pytest.approx(as_trained / 3e6) and as_trained <= 3e6
        assert analyze(spec).flops < as_trained  # priced at the space's 32x32 it would be cheaper


@pytest.mark.parametrize("argv,message", [
    (["--price-at", "data"], "needs --objective train and --data"),
    (["--price-at", "data", "--objective", "train", "--data", FAST["data"], "--budget", "5ms"], "latency budget"),
    (["--price-at", "input"], "expected space or data"),
    (["--price-at", "data", "--objective", "train", "--data", FAST["data"], "--budget", "1kFLOPs"],
     "as trained on the data"),
])
def test_bad_price_at_options_are_user_errors(tmp_path, argv, message):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--trials", "1", "--out", str(tmp_path), *argv])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_calibrate_samples_priced_on_the_network_as_trained():
    from archbench.cost import analyze
    from archbench.search.calibrate import sample_specs
    from archbench.search.space import load_space
    from archbench.train import adapt_spec, load_data

    settings = TrainSettings(**FAST, pruner="none", image_size=40)
    space = load_space(TINY_SPACE)
    data = load_data(FAST["data"], image_size=40)
    at_data = sample_specs(space, CalibrationConfig(space=TINY_SPACE, samples=4, budgets=("3MFLOPs",), train=settings,
                                                    price_at="data"))
    for _, spec in at_data:
        assert analyze(adapt_spec(spec, data, aux=False)).flops <= 3e6
    at_space = sample_specs(space, CalibrationConfig(space=TINY_SPACE, samples=4, budgets=("3MFLOPs",), train=settings))
    assert any(analyze(adapt_spec(spec, data, aux=False)).flops > 3e6 for _, spec in at_space)  # the other pricing
    with pytest.raises(ArchbenchError, match="--price-at"):
        CalibrationConfig(price_at="pixels")


def test_validation_steps_cap_each_epochs_validation(monkeypatch, tmp_path):
    """``--val-steps`` reaches the training loop of every trial: validation stops after that many
    batches (counted here at the evaluation the loop calls)."""
    from archbench.train import loop

    seen = []
    real = loop.evaluate

    def counting(model, batches, *args, max_steps=None, **kwargs):
        seen.append(max_steps)
        return real(model, batches, *args, max_steps=max_steps, **kwargs)

    monkeypatch.setattr(loop, "evaluate", counting)
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "train", "--data", FAST["data"],
                                 "--train-epochs", "1", "--train-steps", "2", "--val-steps", "3", "--trials", "2",
                                 "--pruner", "none", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen and set(seen) == {3}


def test_proxies_beside_the_train_objective_score_the_network_as_trained(monkeypatch, tmp_path):
    """With ``--price-at data`` a proxy objective next to ``train`` sees the network adapted to the
    data (its input size), as the budgets do; without it, the space's network at its own input."""
    seen = []

    def record(model, shape):
        seen.append(tuple(shape))
        return 1.0

    monkeypatch.setitem(OBJECTIVES, "naswot", OBJECTIVES["naswot"].__class__("naswot", "maximize", True, record, "x"))
    for price_at, expected in (("data", (3, 40, 40)), ("space", (3, 32, 32))):
        seen.clear()
        config = SearchConfig(space=TINY_SPACE, budgets=["3MFLOPs"], objectives=["train", "naswot"], trials=2,
                              results=str(tmp_path / price_at), seed=0, price_at=price_at,
                              train=TrainSettings(**FAST, pruner="none", image_size=40))
        run_search(config)
        assert seen and set(seen) == {expected}
