"""Zero-cost proxies (snip, grad_norm, jacob_cov, the ensemble vote), calibration intervals and
margins, the default objective from the shipped calibration, and parameter importance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn
from typer.testing import CliRunner

from archbench.cli.app import app
from archbench.search import defaults
from archbench.search.calibrate import _spearman_rows, add_ensemble, correlations, summary
from archbench.search.objectives import OBJECTIVES, PROXIES, get_objectives, prefers, vote_score
from archbench.search.report import param_importances
from archbench.search.runner import SearchConfig, run_search
from archbench.search.space import load_space

TINY_SPACE = str(Path(__file__).parent / "spaces" / "tiny.yaml")
runner = CliRunner()


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5))


def _batch(seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 3, 2, 2, generator=g), torch.randint(5, (6,), generator=g)


def _cross_entropy_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """dL/dW of mean cross-entropy for a linear layer, by the formula (softmax - onehot)^T x / B."""
    lin = model[1]
    w, b = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
    flat = x.reshape(x.shape[0], -1).double().numpy()
    logits = flat @ w.T + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y.numpy()] -= 1.0
    return p.T @ flat / len(y)


def test_snip_and_grad_norm_of_a_linear_layer_match_the_formula():
    model, (x, y) = _linear(), _batch()
    grad = _cross_entropy_grad(model, x, y)
    w = model[1].weight.detach().double().numpy()
    snip = OBJECTIVES["snip"].fn(model, (3, 2, 2), inputs=x, labels=y)
    norm = OBJECTIVES["grad_norm"].fn(model, (3, 2, 2), inputs=x, labels=y)
    assert snip == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)
    assert norm == pytest.approx(np.sqrt((grad ** 2).sum()), rel=1e-5)


def test_jacob_cov_of_a_linear_layer_is_the_closed_form():
    # The input Jacobian of sum(Wx + b) is the column sums of W for every image: all rows alike,
    # a correlation matrix of ones with eigenvalues B, 0, ..., 0.
    model, (x, _) = _linear(), _batch()
    k, batch = 1e-5, x.shape[0]
    expected = -((math.log(batch + k) + 1 / (batch + k)) + (batch - 1) * (math.log(k) + 1 / k))
    assert OBJECTIVES["jacob_cov"].fn(model, (3, 2, 2), inputs=x) == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_of_a_relu_network_matches_an_independent_jacobian():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    x, _ = _batch()
    rows = [torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)).sum(), image).reshape(-1).double()
            for image in x]
    corr = np.corrcoef(torch.stack(rows).numpy())
    eig = np.linalg.eigvalsh(corr).clip(min=0)
    expected = -np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5))
    assert OBJECTIVES["jacob_cov"].fn(model, (3, 2, 2), inputs=x) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", PROXIES)
def test_proxies_are_seeded_and_leave_the_module_as_it_was(name: str):
    from archbench.nn import build

    spec = load_space(TINY_SPACE).spec(load_space(TINY_SPACE).defaults)
    torch.manual_seed(0)
    model = build(spec).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = OBJECTIVES[name].fn(model, spec.input)
    torch.rand(7)  # the global RNG moves on between calls
    assert OBJECTIVES[name].fn(model, spec.input) == first and math.isfinite(first)
    after = model.state_dict()
    assert any("running_mean" in k for k in before)  # batch-norm statistics, which a training-mode pass moves
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.modules())  # still in eval mode
    assert all(p.grad is None for p in model.parameters())
    if name in ("snip", "grad_norm", "jacob_cov"):  # their batch comes from the seed
        assert OBJECTIVES[name].fn(model, spec.input, seed=1) != first


@pytest.mark.parametrize("a,b,expected", [
    ({"synflow": 2, "jacob_cov": 2, "snip": 2}, {"synflow": 1, "jacob_cov": 1, "snip": 1}, 1.0),
    ({"synflow": 2, "jacob_cov": 0, "snip": 2}, {"synflow": 1, "jacob_cov": 1, "snip": 1}, 1.0),  # 2 of 3
    ({"synflow": 2, "jacob_cov": 0, "snip": 0}, {"synflow": 1, "jacob_cov": 1, "snip": 1}, 0.0),
    ({"synflow": 2, "jacob_cov": 0, "snip": 1}, {"synflow": 1, "jacob_cov": 1, "snip": 1}, 0.5),  # snip abstains
    ({"synflow": 2, "jacob_cov": math.nan, "snip": 1}, {"synflow": 1, "jacob_cov": 1, "snip": 1}, 1.0),
])
def test_majority_vote_of_a_pair(a, b, expected):
    assert prefers(a, b) == expected
    assert prefers(b, a) == 1.0 - expected


def test_vote_score_is_the_fraction_of_others_beaten():
    population = [{"synflow": v, "jacob_cov": v, "snip": v} for v in (1, 2, 3, 4)]
    assert vote_score(population[2], population[:2] + population[3:]) == pytest.approx(2 / 3)
    assert vote_score(population[0], []) == 0.5
    frame = add_ensemble(pd.DataFrame(population))
    assert list(frame["ensemble"]) == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_ensemble_objective_votes_against_the_studys_earlier_candidates(tmp_path):
    study = run_search(SearchConfig(space=TINY_SPACE, objectives=["ensemble"], trials=5, seed=2, results=str(tmp_path)))
    scored = []
    for t in sorted(study.trials, key=lambda t: t.number):
        if "cached_from" in t.user_attrs:
            continue
        own = {n: t.user_attrs[f"proxy_{n}"] for n in ("synflow", "jacob_cov", "snip")}
        assert t.value == pytest.approx(vote_score(own, scored))  # against those finished before it
        scored.append(own)
    assert study.trials[0].value == 0.5 and len(scored) >= 3


def test_new_objectives_are_registered():
    assert [o.name for o in get_objectives(["snip", "grad_norm", "jacob_cov", "ensemble"])] == \
        ["snip", "grad_norm", "jacob_cov", "ensemble"]


def test_vectorized_bootstrap_spearman_equals_scipy():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 2, 9)).round(1)  # rounding makes ties
    values[3, 0] = 1.0  # a constant row: undefined
    rho = _spearman_rows(values)
    for i in (0, 1, 2, 4):
        assert rho[i] == pytest.approx(stats.spearmanr(values[i, 0], values[i, 1])[0])
    assert math.isnan(rho[3])


def test_intervals_and_margins_say_which_signal_beats_the_baselines():
    rng = np.random.default_rng(1)
    accuracy = rng.normal(size=24)
    frame = pd.DataFrame({"accuracy": accuracy, "snip": accuracy + 0.1 * rng.normal(size=24),
                          "naswot": rng.normal(size=24), "params": rng.normal(size=24),
                          "flops": accuracy + 3 * rng.normal(size=24)})
    table = correlations(frame).set_index("objective")
    snip = table.loc["snip"]
    assert snip["spearman_low"] <= snip["spearman"] <= snip["spearman_high"]
    assert snip["spearman_low"] > 0.5  # near-perfect ranking
    assert snip["margin_params"] == pytest.approx(snip["spearman"] - table.loc["params", "spearman"])
    assert snip["margin_params_low"] > 0 and snip["margin_flops_low"] > 0
    assert "beats params and flops" in snip["verdict"]
    assert table.loc["naswot", "spearman_low"] < 0 < table.loc["naswot", "spearman_high"]
    naswot = table.loc["naswot"]
    assert ("beats params" in naswot["verdict"]) == (naswot["margin_params_low"] > 0)
    assert "beats flops" not in naswot["verdict"] and naswot["margin_flops_low"] <= 0
    assert math.isnan(table.loc["params", "margin_params"])
    assert summary(table.reset_index()).startswith("Beat the params and FLOPs baselines (paired bootstrap, 95%): snip.")


def _row(name, rho, low, margin_low=None):
    return {"objective": name, "spearman": rho, "spearman_low": low,
            "margin_params_low": margin_low, "margin_flops_low": margin_low}


@pytest.mark.parametrize("rows,expected", [
    ([_row("snip", 0.8, 0.5, 0.1), _row("synflow", 0.7, 0.4, 0.05), _row("params", 0.2, -0.2)], "synflow"),  # cheaper
    ([_row("snip", 0.8, 0.5, -0.1), _row("params", 0.5, 0.2), _row("flops", 0.6, 0.3)], "flops"),
    ([_row("snip", 0.3, -0.1, -0.2), _row("params", 0.1, -0.3), _row("flops", 0.0, -0.4)], "params"),
    ([_row("ensemble", 0.9, 0.7, 0.2), _row("snip", 0.8, 0.5, 0.1), _row("params", 0.2, -0.2)], "snip"),
])
def test_default_is_the_cheapest_supported_signal(rows, expected):
    seconds = {"synflow": 1.0, "snip": 3.0, "jacob_cov": 3.0}
    assert defaults.choose_default(rows, seconds)[0] == expected


def test_the_shipped_calibration_is_measured_and_its_default_follows_from_it():
    document = defaults.shipped_calibration()
    assert document["measured"] and "calibrat" in document["command"]
    assert document["recipe"]["epochs"] >= 1 and document["samples"] >= 12
    names = {row["objective"] for row in document["objectives"]}
    assert set(PROXIES) | {"ensemble", "params", "flops"} <= names
    chosen = defaults.default_objective()
    assert chosen == document["default"] and chosen in OBJECTIVES
    assert SearchConfig().objectives == [chosen]


def test_search_summary_reports_how_far_its_objective_tracks_accuracy(tmp_path):
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "params", "--trials", "3",
                                 "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "params: Spearman" in text and "shipped calibration" in text
    assert "archbench calibrate" in text and "--objective train" in text
    assert (tmp_path / "tiny" / "importance.png").stat().st_size > 0


def _synthetic_study(objectives: list[str], value) -> optuna.Study:
    """A study over the tiny space whose objectives are known functions of its parameters."""
    space = load_space(TINY_SPACE)
    directions = ["maximize"] * len(objectives)
    study = optuna.create_study(directions=directions, sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("space", TINY_SPACE)
    study.set_user_attr("objectives", objectives)
    study.optimize(lambda trial: value(space.sample(trial)), n_trials=40)
    return study


def test_importance_finds_the_parameter_each_objective_depends_on(tmp_path):
    study = _synthetic_study(["a", "b"], lambda v: (float(v["depth"]), v["w_3x3"]))
    table = param_importances(study).set_index("parameter")
    assert table["a"].idxmax() == "depth" and table["b"].idxmax() == "w_3x3"
    assert table["a"].sum() == pytest.approx(1.0) and table["b"].sum() == pytest.approx(1.0)
    assert set(table.index) == {p.name for p in load_space(TINY_SPACE).params}


def test_importance_is_undefined_for_a_constant_objective():
    study = _synthetic_study(["c"], lambda v: 1.0)
    assert param_importances(study)["c"].isna().all()


def test_warm_up_with_the_ensemble_votes_within_its_sample():
    from archbench.search.train_objective import TrainObjective, TrainSettings
    from archbench.search.warmup import WarmUp, score_candidates
    from archbench.units import parse_budget

    objective = TrainObjective(TrainSettings(data="synthetic:10:32:60", epochs=1))
    space = load_space(TINY_SPACE)
    ranked = score_candidates(space, [parse_budget("2MFLOPs")], WarmUp(samples=4, top=2, signal="ensemble"), objective)
    scores = [s for s, _ in ranked]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    # a Borda count over 4 candidates: the pairwise votes sum to one per pair, 6 pairs, 3 others each
    assert sum(scores) * 3 == pytest.approx(6.0)
