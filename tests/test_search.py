"""Search: budgets, repair, spaces, studies (determinism, resume after SIGKILL, workers), reports."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

import archbench
from archbench.cli.app import app
from archbench.cost import analyze
from archbench.errors import ArchbenchError
from archbench.search import objectives as objectives_module
from archbench.search.budget import price, repair
from archbench.search.report import write_report
from archbench.search.runner import SearchConfig, run_search
from archbench.search.space import load_space, space_names
from archbench.units import parse_budget

TINY_SPACE = str(Path(__file__).parent / "spaces" / "tiny.yaml")
runner = CliRunner()


@pytest.mark.parametrize("text,kind,limit", [
    ("1.5GFLOPs", "flops", 1.5e9), ("1.5GMACs", "flops", 1.5e9), ("300MFLOPs", "flops", 3e8),
    ("6M", "params", 6e6), ("6Mparams", "params", 6e6), ("20ms", "latency", 20.0), ("0.5s", "latency", 500.0),
    ("512MB", "memory", 512e6), ("1GiB", "memory", 2**30),
])
def test_budget_units(text: str, kind: str, limit: float):
    budget = parse_budget(text)
    assert (budget.kind, budget.limit) == (kind, pytest.approx(limit))


@pytest.mark.parametrize("text", ["1.5Gflips", "fast", "-3ms", "12 parsecs"])
def test_bad_budget_units_list_the_valid_ones(text: str):
    with pytest.raises(ArchbenchError) as info:
        parse_budget(text)
    assert "GFLOPs" in str(info.value) or "positive" in str(info.value)


@pytest.mark.parametrize("name", space_names())
def test_shipped_spaces_load_and_their_defaults_are_the_base_network(name: str):
    space = load_space(name)
    base = analyze(archbench.load_spec(space.base))
    default = analyze(space.spec(space.defaults))
    assert (default.params(), default.flops) == (base.params(), base.flops)
    assert price(space.spec(space.defaults), [parse_budget(space.budget)]).feasible  # documented budget fits


def test_repair_lands_in_the_budget_band_for_random_candidates():
    space = load_space("inception_v1")
    budgets = [parse_budget("1.5GFLOPs")]
    rng = random.Random(1234)
    usages = []
    for _ in range(40):
        values = {}
        for p in space.params:
            values[p.name] = (rng.uniform(p.low, p.high) if p.kind == "float" else
                              rng.randint(int(p.low), int(p.high)) if p.kind == "int" else rng.choice(p.choices))
        priced = repair(space.spec(values), budgets, space.min_width)
        usages.append(priced.tightest)
        assert priced.feasible
        assert priced.flops == analyze(priced.spec).flops
    assert sum(0.9 <= u <= 1.0 for u in usages) >= 0.95 * len(usages)


def test_impossible_budget_is_a_user_error(tmp_path: Path):
    result = runner.invoke(app, ["search", "--budget", "1MFLOPs", "--results", str(tmp_path)])
    assert result.exit_code == 2
    assert "impossible budget" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "inception_v1").exists()  # no study was created


def _params_sequence(study) -> list[dict]:
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def test_same_seed_same_trials(tmp_path: Path):
    runs = [run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=8, seed=7,
                                    results=str(tmp_path / str(i)))) for i in range(2)]
    assert _params_sequence(runs[0]) == _params_sequence(runs[1])
    other = run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=8, seed=8, results=str(tmp_path / "x")))
    assert _params_sequence(other) != _params_sequence(runs[0])


def test_warm_start_and_duplicate_cache(tmp_path: Path):
    study = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=3, results=str(tmp_path)))
    first = study.trials[0]
    assert first.params == load_space(TINY_SPACE).defaults  # the base network is trial 0
    study.enqueue_trial(first.params)  # the same architecture again: must not be evaluated twice
    # --trials is the study's size: one more trial than the 3 it holds
    again = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=4, results=str(tmp_path)))
    last = again.trials[-1]
    assert last.user_attrs["cached_from"] == first.number and last.values == first.values


def test_failing_objective_fails_that_trial_only(tmp_path: Path, monkeypatch):
    calls = {"n": 0}

    def flaky(model, input_shape):
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise RuntimeError("boom")
        return float("nan") if calls["n"] % 3 == 0 else 1.0 * calls["n"]

    monkeypatch.setitem(objectives_module.OBJECTIVES, "naswot",
                        objectives_module.Objective("naswot", "maximize", True, flaky, "flaky"))
    study = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=6, results=str(tmp_path)))
    states = [t.state.name for t in study.trials]
    assert len(states) == 6 and "FAIL" in states and "COMPLETE" in states


def test_report_regenerates_outputs_and_best_specs_profile(tmp_path: Path):
    run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot", "flops"], trials=5, results=str(tmp_path)))
    folder = tmp_path / "tiny"
    for name in ("trials.csv", "trials.md", "pareto.csv", "pareto.png"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "best", ignore_errors=True)
    result = runner.invoke(app, ["report", "tiny", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (folder / "trials.csv").read_text().count("\n") == 6
    assert (folder / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    best = sorted((folder / "best").glob("*.yaml"))
    assert best
    profiled = runner.invoke(app, ["profile", str(best[0]), "--no-latency", "--no-memory"])
    assert profiled.exit_code == 0, profiled.output
    assert runner.invoke(app, ["report", "nope", "--results", str(tmp_path)]).exit_code == 2


def test_two_workers_share_one_journal_study(tmp_path: Path):
    study = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=6, workers=2, results=str(tmp_path)))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 6
    assert all(t.state.name == "COMPLETE" for t in finished)


SLOW_SEARCH = """
import sys, time
from pathlib import Path
from archbench.search import objectives as o
from archbench.search.runner import SearchConfig, run_search

calls = 0

def slow(model, shape):
    # The 4th evaluation blocks after saying so: the test kills this process at a known point
    # (three trials finished, one RUNNING with all its parameters), however loaded the machine.
    global calls
    calls += 1
    if calls == 4:
        Path(sys.argv[2], "blocked").write_text("")
        time.sleep(3600)
    return 1.0
o.OBJECTIVES["naswot"] = o.Objective("naswot", "maximize", True, slow, "slow")
run_search(SearchConfig(space=sys.argv[1], objectives=["naswot"], trials=200, results=sys.argv[2]))
"""


def test_sigkill_loses_no_finished_trial_and_resume_retries_the_running_one(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SEARCH, TINY_SPACE, str(tmp_path)], cwd=Path(__file__).parent.parent)
    deadline = time.time() + 600  # a bound for a stuck process, not a wait the test relies on
    while not (tmp_path / "blocked").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "blocked").exists(), "the search did not reach its fourth evaluation"
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "tiny" / "study.journal")))
    killed = optuna.load_study(study_name="tiny", storage=storage).trials
    done = [t for t in killed if t.state.name == "COMPLETE"]
    assert len(done) >= 3, "the search did not get going"
    complete_before = {t.number for t in killed if t.state.name == "COMPLETE"}
    running = [t for t in killed if t.state.name == "RUNNING"]
    assert running
    # --trials is the study's size: two more than the finished ones (the killed trial does not count);
    # the same objective as the killed run (a study refuses another): here the real naswot
    resumed = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=len(complete_before) + 2,
                                      results=str(tmp_path)))
    by_number = {t.number: t for t in resumed.trials}
    assert complete_before <= {n for n, t in by_number.items() if t.state.name == "COMPLETE"}
    assert all(by_number[t.number].state.name == "FAIL" for t in running)
    retried = [t for t in resumed.trials if t.number > max(by_number) - 2]
    assert any(t.params == running[0].params for t in retried)


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        if (candidate / "initdb").exists():
            return candidate
    return None


@pytest.fixture
def postgres_url():
    pg = _postgres_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not found (.ci/run installs Debian's postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg (PostgreSQL driver) is not installed")
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="archbench-pg-"))  # outside pytest's root-only tmp tree
    user = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
    prefix = ["runuser", "-u", user, "--"] if user else []
    if user:
        shutil.chown(home, user)
    data = home / "data"
    port = str(54000 + os.getpid() % 1000)
    try:
        subprocess.run([*prefix, str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "archbench"], check=True,
                       capture_output=True)
        subprocess.run([*prefix, str(pg / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {home} -h 127.0.0.1",
                        "-w", "start", "-l", str(home / "log")], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"could not start PostgreSQL: {exc}")
    yield f"postgresql://archbench@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def test_two_workers_on_postgresql(postgres_url: str, tmp_path: Path):
    study = run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=6, workers=2,
                                    storage=postgres_url, results=str(tmp_path)))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 6 and all(t.state.name == "COMPLETE" for t in finished)
