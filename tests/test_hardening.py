"""Bad input of every class: one clear message and exit 2 (130 for Ctrl-C), never a traceback,
a hang or lost work.

The classes of issue 11: files that cannot be read or written, non-finite numbers, sizes that
would hang or exhaust memory (checked analytically), work that would be overwritten, interrupts,
internal errors hidden as failed trials, and reports that depend on files that may change.
Spec files live in tests/bad_inputs/ (first line ``# expect: <text in the message>``); add a
case by adding a file.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

from archbench.cli.app import app
from archbench.errors import ArchbenchError
from archbench.files import FileError, is_network_filesystem, read_text
from archbench.search import objectives as objectives_module
from archbench.search.runner import SearchConfig, counted_trials, run_search
from archbench.spec import architecture_hash, loads
from archbench.spec.limits import layer_count

HERE = Path(__file__).parent
ROOT = HERE.parent
BAD_SPECS = sorted((HERE / "bad_inputs").glob("*.yaml"))
TINY_SPACE = str(HERE / "spaces" / "tiny.yaml")
TINY_TRAIN = ["--data", "synthetic:4:32:96", "--max-steps", "1", "--batch-size", "32", "--device", "cpu",
              "--epochs", "1", "--no-aux"]
runner = CliRunner()


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, args, env={"COLUMNS": "200", **(env or {})})
    return result.exit_code, result.output


def assert_one_message(code: int, output: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code, output
    assert "Traceback" not in output, output
    assert fragment in " ".join(output.split()), output


# ---------------------------------------------------------------------------- spec files
def test_corpus_covers_every_limit_and_number_class():
    expects = {p.read_text().splitlines()[0] for p in BAD_SPECS}
    for text in ("ARCHBENCH_MAX_LAYERS", "ARCHBENCH_MAX_PARAMS", "ARCHBENCH_MAX_FLOPS", "ARCHBENCH_MAX_YAML_NODES",
                 "finite number"):
        assert any(text in e for e in expects), text


@pytest.fixture
def no_hang():
    """Fail a test that runs past two minutes instead of stalling the suite (a hang guard for the
    expanding-repeat and alias-bomb cases, not a speed test: they take milliseconds)."""
    def stuck(signum, frame):
        raise TimeoutError("hung: still running after 120 s")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("path", BAD_SPECS, ids=[p.stem for p in BAD_SPECS])
@pytest.mark.parametrize("command", ["validate", "show", "cost", "profile"])
def test_bad_spec_exits_2_with_one_message(path: Path, command: str, no_hang):
    expected = path.read_text().splitlines()[0].removeprefix("# expect:").strip()
    if command in ("show", "cost") and ("MAX_PARAMS" in expected or "MAX_FLOPS" in expected):
        pytest.skip("show and cost are analytic: a huge network is priced, not built")
    args = [command, str(path)] + (["--no-latency", "--no-memory"] if command == "profile" else [])
    code, output = run_cli(args)
    assert_one_message(code, output, 2, expected)


def test_limits_can_be_raised_and_lowered_by_environment():
    code, output = run_cli(["validate", "googlenet"], env={"ARCHBENCH_MAX_LAYERS": "10"})
    assert_one_message(code, output, 2, "over the limit of 10;")
    spec = "name: deep\ninput: 3x16x16\nbody:\n  - block: b\n    repeat: 200000\n    branches: [[{conv: 4, kernel: 1}]]\n"
    with pytest.raises(ArchbenchError, match="200,000, over the limit"):
        loads(spec)
    os.environ["ARCHBENCH_MAX_LAYERS"] = "300000"
    try:
        assert layer_count(loads(spec)) == 200_000  # counted, never expanded
    finally:
        del os.environ["ARCHBENCH_MAX_LAYERS"]


FACTORIZED = "name: f\ninput: 3x16x16\nfactorize: {modes}\nbody:\n  - block: b\n    repeat: {repeat}\n" \
             "    branches: [[{{conv: 4, kernel: 5}}], [{{conv: 4, kernel: 7}}]]\n"


@pytest.mark.parametrize("modes, per_block", [("[]", 2), ("[5x5]", 3), ("[nxn]", 4), ("[5x5, nxn]", 6)])
def test_layer_count_is_of_the_network_after_factorization(modes: str, per_block: int, monkeypatch):
    """5x5 -> two 3x3 (the 7x7 stays), nxn -> 1xn + nx1 for both; 5x5 then nxn: four convs for the 5x5.
    The count equals the built model's convs (counted by torch), and the limit applies to it."""
    import torch

    from archbench import build

    spec = loads(FACTORIZED.format(modes=modes, repeat=3))
    model = build(spec)
    assert layer_count(spec) == 3 * per_block == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    monkeypatch.setenv("ARCHBENCH_MAX_LAYERS", str(2 * 40_000))  # the unfactorized network fits exactly
    big = FACTORIZED.format(modes=modes, repeat=40_000)
    if per_block == 2:
        assert layer_count(loads(big)) == 80_000
    else:
        with pytest.raises(ArchbenchError, match=f"after factorization, repeats and the depth multiplier is "
                                                 f"{per_block * 40_000:,}, over the limit of 80,000;"):
            loads(big)


@pytest.mark.parametrize("name, message", [
    ("repeat_huge.yaml", "the number of layers after factorization, repeats and the depth multiplier is 100,000,002, "
                         "over the limit of 100,000; if you mean it, raise the limit with ARCHBENCH_MAX_LAYERS=N in "
                         "the environment"),
    ("conv_huge.yaml", "the number of parameters is 9,000,041,000,010, over the limit of 10,000,000,000; if you "
                       "mean it, raise the limit with ARCHBENCH_MAX_PARAMS=N in the environment"),
    ("binary.yaml", "not a UTF-8 text spec file (byte 0 is 0x89); is it a binary file?"),
])
def test_validate_names_the_file_once(tmp_path: Path, name: str, message: str):
    """`validate` starts each line with the file; the error after it must not name it again."""
    path = HERE / "bad_inputs" / name
    if name == "binary.yaml":
        path = tmp_path / name
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    code, output = run_cli(["validate", str(path)])
    assert code == 2
    assert output == f"✗ {path}: {message}\n"


@pytest.mark.parametrize("op", ["flatten", "identity"])
@pytest.mark.parametrize("value, accepted", [("true", True), ("", True), ("false", False), ("0", False), ("1", False)])
def test_flag_ops_take_true_or_nothing_as_docs_grammar_says(op: str, value: str, accepted: bool):
    """docs/grammar.md section 4.4: `flatten: true` / `identity: true` (or empty); `false` is an error."""
    text = f"name: f\ninput: 3x8x8\nbody:\n  - {{{op}: {value}}}\n" + ("  - {flatten: true}\n" if op == "identity" else "") \
        + "  - {linear: 10}\n"
    if accepted:
        assert layer_count(loads(text)) == 2 + (op == "identity")
    else:
        with pytest.raises(ArchbenchError, match=f"write '{op}: true'"):
            loads(text)
    row = next(line for line in (ROOT / "docs" / "grammar.md").read_text().splitlines() if line.startswith(f"| `{op}: true`"))
    assert f"`{op}: false` is an error" in row and "not read" not in row


@pytest.mark.parametrize("content, fragment", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 20, "not a UTF-8 text spec file"),
    (None, "is a folder"),
], ids=["binary", "folder"])
def test_unreadable_spec_file_is_one_message(tmp_path: Path, content: bytes | None, fragment: str):
    path = tmp_path / "net.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    for command in ("validate", "show", "profile"):
        code, output = run_cli([command, str(path)])
        assert_one_message(code, output, 2, fragment)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_spec_without_read_permission(tmp_path: Path):
    path = tmp_path / "net.yaml"
    path.write_text("base: googlenet\n")
    path.chmod(0)
    with pytest.raises(FileError, match="cannot read"):
        read_text(path)


# ---------------------------------------------------------------------------- outputs and numbers
@pytest.mark.parametrize("args, fragment", [
    (["profile", "googlenet", "--out", "{tmp}/results.xyz"], "unknown format '.xyz'"),
    (["profile", "googlenet", "--out", "{tmp}/no/such/dir/x.csv"], "does not exist"),
    (["profile", "googlenet", "--out", "{tmp}/file.txt/x.csv"], "does not exist"),
    (["profile", "googlenet", "--out", "{tmp}"], "is a folder"),
    (["compare", "googlenet", "alexnet", "--out", "{tmp}/c.docx"], "unknown format '.docx'"),
    (["compare", "googlenet", "alexnet", "--plot", "{tmp}/c.gif"], "unknown format '.gif'"),
    (["profile", "googlenet", "--threads", "0"], "--threads: expected a positive number"),
    (["compare", "googlenet", "alexnet", "--threads", "-1"], "--threads: expected a positive number"),
    (["show", "googlenet", "--depth", "-1"], "--depth: expected at least 1"),
    (["search", "--budget", "1e400GFLOPs", "--results", "{tmp}"], "not a finite number"),
    (["search", "--study", "../escape", "--results", "{tmp}"], "--study '../escape': expected a plain name"),
    (["search", "--study", "a/b", "--results", "{tmp}"], "expected a plain name"),
    (["search", "--space", TINY_SPACE, "--results", "{tmp}/file.txt/r"], "file.txt"),
    (["report", "x", "--results", "{tmp}", "--top", "0"], "--top: expected at least 1"),
    (["report", "../x", "--results", "{tmp}"], "expected a plain name"),
    (["train", "googlenet", "--out", "{tmp}/file.txt/run", *TINY_TRAIN], "file.txt"),
    (["train", "googlenet", "--data", "{tmp}/nan.npz", "--out", "{tmp}/nanrun"], "NaN or infinite values"),
    (["search", "--space", str(HERE / "bad_inputs" / "spaces" / "inf_bound.yaml"), "--results", "{tmp}"],
     "expected finite [low, high]"),
    (["search", "--space", TINY_SPACE, "--seed", "-1", "--results", "{tmp}"], "--seed: expected an integer from 0"),
], ids=["suffix", "missing-parent", "parent-is-file", "out-is-folder", "compare-suffix", "plot-suffix",
        "threads-0", "threads-negative", "depth-negative", "budget-inf", "study-escape", "study-slash",
        "results-under-file", "top-0", "report-escape", "train-out-under-file", "nan-data", "space-inf-bound",
        "seed-negative"])
def test_bad_option_exits_2_before_any_work(tmp_path: Path, args: list[str], fragment: str):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    x = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
    x[3, 1, 4, 4] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(8) % 2)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, output = run_cli(args)
    assert_one_message(code, output, 2, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # refused before anything was written
    assert not (tmp_path.parent / "escape").exists()


AS_ROOT = os.geteuid() == 0  # chmod does not stop root: those cases use a path under a regular file instead


@pytest.mark.parametrize("command", ["profile", "compare", "compare-plot", "report", "train", "search"])
def test_unwritable_output_exits_2_naming_the_path_before_any_work(tmp_path: Path, command: str):
    """Each command's output under a regular file (fails for root too) or, as a user, in a
    read-only folder: one message naming the path, exit 2, nothing written."""
    study = tmp_path / "study"
    if command == "report":  # report needs a study to read; its tables' folder is the output
        run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=2, results=str(study)))
    blocked = tmp_path / "blocked"
    if AS_ROOT:
        blocked.write_text("a regular file: nothing can be created under it")
    else:
        blocked.mkdir()
    target = blocked / "results"
    args = {"profile": ["profile", "googlenet", "--no-latency", "--no-memory", "--out", f"{target}.csv"],
            "compare": ["compare", "googlenet", "alexnet", "--no-latency", "--out", f"{target}.md"],
            "compare-plot": ["compare", "googlenet", "alexnet", "--no-latency", "--plot", f"{target}.png"],
            "report": ["report", "tiny", "--out", str(study)],
            "train": ["train", "lenet5", *TINY_TRAIN, "--out", str(target)],
            "search": ["search", "--space", TINY_SPACE, "--objective", "params", "--trials", "2", "--out", str(target)]
            }[command]
    if command == "report":
        named = study / "tiny"
        if AS_ROOT:
            named = study / "tiny" / "trials.csv"
            named.mkdir()  # a folder where the table goes: fails for root too
        else:
            named.chmod(0o555)
    elif not AS_ROOT:
        blocked.chmod(0o555)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    try:
        code, output = run_cli(args)
    finally:
        for path in (study / "tiny", blocked):
            if path.exists():
                path.chmod(0o755)
    assert_one_message(code, output, 2, str(named if command == "report" else blocked))
    assert output.strip().count("\n") == 0, output  # one line
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # refused before anything was written


def test_a_table_or_plot_that_is_a_folder_stops_the_search_before_its_first_trial(tmp_path: Path):
    (tmp_path / "tiny" / "pareto.png").mkdir(parents=True)
    code, output = run_cli(["search", "--space", TINY_SPACE, "--objective", "params", "--trials", "2",
                            "--out", str(tmp_path)])
    assert_one_message(code, output, 2, f"{tmp_path / 'tiny' / 'pareto.png'}: is a folder")
    assert not (tmp_path / "tiny" / "study.journal").exists()


def test_train_refuses_a_checkpoint_path_that_is_a_folder_before_training(tmp_path: Path):
    (tmp_path / "run" / "best.pt").mkdir(parents=True)
    code, output = run_cli(["train", "lenet5", *TINY_TRAIN, "--out", str(tmp_path / "run"), "--overwrite"])
    assert_one_message(code, output, 2, f"{tmp_path / 'run' / 'best.pt'}: is a folder")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt"]


def test_study_journal_that_is_a_folder_is_one_message(tmp_path: Path):
    (tmp_path / "tiny" / "study.journal").mkdir(parents=True)
    code, output = run_cli(["search", "--space", TINY_SPACE, "--objective", "params", "--trials", "2",
                            "--out", str(tmp_path)])
    assert_one_message(code, output, 2, f"{tmp_path / 'tiny' / 'study.journal'}: is not a regular file")


@pytest.mark.parametrize("damage,line,fragment", [
    ("garbage{\n", 1, "not an Optuna journal entry"),         # a bad line: Optuna fails once anything follows it
    (None, 2, "not an Optuna journal entry"),                  # a good entry, then a bad one
    ("{\"op_code\": 0", 1, "an incomplete entry"),              # a write cut short: Optuna would append to it
])
def test_damaged_study_journal_is_one_message_and_left_as_it_was(tmp_path: Path, damage, line, fragment):
    search = ["search", "--space", TINY_SPACE, "--objective", "params", "--trials", "2", "--out", str(tmp_path)]
    journal = tmp_path / "tiny" / "study.journal"
    if damage is None:
        assert run_cli(search)[0] == 0
        damage = journal.read_text().splitlines()[0] + "\nnot json\n"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(damage)
    for command in (search, ["report", "tiny", "--out", str(tmp_path)]):
        code, output = run_cli(command)
        assert_one_message(code, output, 2, f"{journal}, line {line}: {fragment}")
    assert journal.read_text() == damage  # nothing appended to it


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", ["text", "csv", "markdown", "json", "plot", "checkpoint"])
def test_full_disk_is_one_error_naming_the_file_and_keeps_the_old_one(tmp_path: Path, writer: str, monkeypatch):
    """Every writer goes through archbench.files: a write that fails midway (here: disk full) is
    a FileError naming the file, the file keeps its earlier content and no temporary is left."""
    import pandas as pd
    import torch

    from archbench.files import write_text
    from archbench.report import export_table, write_json
    from archbench.report.plots import plot_importance
    from archbench.train.loop import _atomic_save

    frame = pd.DataFrame({"parameter": ["width"], "params": [1.0]})
    path, write = {
        "text": ("a.yaml", lambda p: write_text(p, "x: 1\n")),
        "csv": ("t.csv", lambda p: export_table(frame, p)),
        "markdown": ("t.md", lambda p: export_table(frame, p)),
        "json": ("t.json", lambda p: write_json({"a": 1}, p)),
        "plot": ("t.png", lambda p: plot_importance(frame, p)),
        "checkpoint": ("last.pt", lambda p: _atomic_save({"w": torch.zeros(3)}, p)),
    }[writer]
    path = tmp_path / path
    path.write_bytes(b"earlier")
    monkeypatch.setattr(os, "replace", _full_disk)  # the last step of every atomic write
    with pytest.raises(FileError, match=f"^{re.escape(str(path))}: cannot write: No space left on device$"):
        write(path)
    assert path.read_bytes() == b"earlier" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("writer", ["csv", "plot", "checkpoint"])
def test_writing_over_a_folder_is_one_error_naming_it(tmp_path: Path, writer: str):
    import pandas as pd
    import torch

    from archbench.report import export_table
    from archbench.report.plots import plot_importance
    from archbench.train.loop import _atomic_save

    frame = pd.DataFrame({"parameter": ["width"], "params": [1.0]})
    path = tmp_path / {"csv": "t.csv", "plot": "t.png", "checkpoint": "last.pt"}[writer]
    path.mkdir()
    write = {"csv": lambda: export_table(frame, path), "plot": lambda: plot_importance(frame, path),
             "checkpoint": lambda: _atomic_save({"w": torch.zeros(3)}, path)}[writer]
    with pytest.raises(FileError, match=f"^{re.escape(str(path))}: cannot write: Is a directory$"):
        write()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_network_file_system_is_recognised():
    mounts = "server:/export /mnt/shared nfs4 rw 0 0\n/dev/sda1 / ext4 rw 0 0\n"
    assert is_network_filesystem("/mnt/shared/results/x", mounts) == "nfs4"
    assert is_network_filesystem("/tmp/results", mounts) is None


# ---------------------------------------------------------------------------- work never lost
def test_train_never_overwrites_an_earlier_run(tmp_path: Path, tiny_net: Path):
    out = tmp_path / "run"
    args = ["train", str(tiny_net), *TINY_TRAIN, "--out", str(out)]
    code, output = run_cli(args)
    assert code == 0, output
    saved = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = run_cli(args)
    assert_one_message(code, output, 2, "holds the results of an earlier run (last.pt, best.pt, metrics.csv)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved  # untouched
    code, output = run_cli([*args, "--overwrite"])
    assert code == 0, output


def test_resume_into_another_networks_folder_is_one_line(tmp_path: Path, tiny_net: Path):
    out = tmp_path / "run"
    assert run_cli(["train", str(tiny_net), *TINY_TRAIN, "--out", str(out)])[0] == 0
    code, output = run_cli(["train", "lenet5", *TINY_TRAIN, "--epochs", "2", "--out", str(out), "--resume"])
    assert_one_message(code, output, 2, "holds a run of another network")
    assert "Error(s) in loading state_dict" not in output


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path: Path, tiny_net: Path):
    import torch

    from archbench import build
    from archbench.train import TrainConfig, fit, load_data
    from archbench.train.adapt import adapt_spec
    from archbench.train.loop import NonFiniteLoss, load_checkpoint

    data = load_data("synthetic:4:32:96", seed=0)
    model = build(adapt_spec(tiny_net, data))

    def poison(metrics):  # after epoch 1 is saved, the weights go bad (as a too-high lr makes them)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))

    config = TrainConfig(epochs=3, max_steps=1, batch_size=32, device="cpu", out_dir=str(tmp_path))
    with pytest.raises(NonFiniteLoss, match="epoch 2: the train loss and val loss became nan") as info:
        fit(model, data, config, on_epoch=poison)
    assert f"the last good checkpoint is {tmp_path / 'last.pt'} (epoch 1)" in str(info.value)
    for name in ("last.pt", "best.pt"):
        state = load_checkpoint(tmp_path / name)
        assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2  # header + epoch 1


@pytest.fixture
def tiny_net(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    shutil.copy(HERE / "spaces" / "tiny_net.yaml", path)
    return path


# ---------------------------------------------------------------------------- search
def test_resumed_search_continues_its_sampler_and_counts_to_trials(tmp_path: Path):
    first = run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=5, sampler="random",
                                    results=str(tmp_path)))
    points = [t.params for t in first.trials]
    assert counted_trials(first) == 5
    again = run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=5, sampler="random",
                                    results=str(tmp_path)))
    assert len(again.trials) == 5  # the study already holds --trials: nothing ran
    more = run_search(SearchConfig(space=TINY_SPACE, objectives=["params"], trials=9, sampler="random",
                                   results=str(tmp_path)))
    assert len(more.trials) == 9
    assert not any(t.params in points for t in more.trials[5:])  # new points, not the first run's again


def test_internal_error_stops_the_search(tmp_path: Path, monkeypatch):
    def buggy(model, input_shape):
        raise TypeError("a bug in archbench")

    monkeypatch.setitem(objectives_module.OBJECTIVES, "naswot",
                        objectives_module.Objective("naswot", "maximize", True, buggy, "buggy"))
    with pytest.raises(TypeError, match="a bug in archbench"):
        run_search(SearchConfig(space=TINY_SPACE, objectives=["naswot"], trials=5, results=str(tmp_path)))
    study = optuna.load_study(study_name="tiny", storage=_journal(tmp_path / "tiny"))
    assert [t.state.name for t in study.trials] == ["FAIL"]  # stopped at the first, not five warnings
    result = runner.invoke(app, ["search", "--space", TINY_SPACE, "--objective", "naswot", "--results", str(tmp_path / "cli"), "--trials", "3"])
    assert result.exit_code == 1 and isinstance(result.exception, TypeError)


def test_candidate_failure_is_recorded_in_the_trials_table(tmp_path: Path, monkeypatch):
    def oom(model, input_shape):
        raise MemoryError("out of memory for this candidate")

    monkeypatch.setitem(objectives_module.OBJECTIVES, "naswot",
                        objectives_module.Objective("naswot", "maximize", True, oom, "oom"))
    code, output = run_cli(["search", "--space", TINY_SPACE, "--objective", "naswot", "--results", str(tmp_path), "--trials", "3"])
    assert code == 0, output
    table = (tmp_path / "tiny" / "trials.csv").read_text()
    assert table.count("MemoryError: out of memory for this candidate") == 3


def _journal(folder: Path):
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / "study.journal")))


def test_report_exports_the_evaluated_specs_even_when_the_space_file_changed(tmp_path: Path):
    space = tmp_path / "space"
    shutil.copytree(HERE / "spaces", space)
    results = tmp_path / "results"
    run_search(SearchConfig(space=str(space / "tiny.yaml"), objectives=["params"], trials=4, results=str(results)))
    (space / "tiny_net.yaml").write_text((space / "tiny_net.yaml").read_text().replace("conv: 16, kernel: 3, stride: 2",
                                                                                       "conv: 64, kernel: 5, stride: 2"))
    code, output = run_cli(["report", "tiny", "--results", str(results)])
    assert code == 0, output
    study = optuna.load_study(study_name="tiny", storage=_journal(results / "tiny"))
    by_number = {t.number: t for t in study.trials}
    best = sorted((results / "tiny" / "best").glob("*.yaml"))
    assert best
    for path in best:
        number = int(path.stem.split("trial")[1])
        assert architecture_hash(loads(path.read_text())) == by_number[number].user_attrs["arch_hash"]


INTERRUPTED_SEARCH = """
import signal, sys, time
# Ctrl-C as in a terminal: a process started in the background (CI runners, `cmd &`) inherits an
# ignored SIGINT, and Python then never raises KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from archbench.search import objectives as o
from archbench.cli.app import main

calls = 0
space, results = sys.argv[1], sys.argv[2]

def slow(model, shape):
    global calls
    calls += 1
    if calls == 3:  # says where it is, then waits for the test's Ctrl-C
        Path(results, "waiting").write_text("")
        time.sleep(3600)
    return float(calls)
o.OBJECTIVES["naswot"] = o.Objective("naswot", "maximize", True, slow, "slow")
sys.argv = ["archbench", "search", "--space", space, "--objective", "naswot", "--results", results, "--trials", "5"]
main()
"""


def test_ctrl_c_in_search_writes_the_tables_exits_130_and_the_same_command_finishes(tmp_path: Path, monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_SEARCH, TINY_SPACE, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600  # a bound for a stuck process, not a wait the test relies on
    while not (tmp_path / "waiting").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert err.count("interrupted") == 1 and "run the same command to finish the search" in err
    study = optuna.load_study(study_name="tiny", storage=_journal(tmp_path / "tiny"))
    finished = [t for t in study.trials if t.state.is_finished()]
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) == 1 and counted_trials(study) == len(finished) - 1 >= 2
    table = (tmp_path / "tiny" / "trials.csv").read_text().splitlines()
    assert len(table) == 1 + len(finished) and table[-1].endswith(",interrupted")  # the tables of what finished

    def quick(model, shape):
        return 1.0

    monkeypatch.setitem(objectives_module.OBJECTIVES, "naswot",
                        objectives_module.Objective("naswot", "maximize", True, quick, "quick"))
    code, output = run_cli(["search", "--space", TINY_SPACE, "--objective", "naswot", "--results", str(tmp_path), "--trials", "5"])
    assert code == 0, output
    study = optuna.load_study(study_name="tiny", storage=_journal(tmp_path / "tiny"))
    assert counted_trials(study) == 5
    assert any(t.params == interrupted[0].params and t.state.name == "COMPLETE" for t in study.trials)


PARALLEL_SEARCH = """
import os, signal, sys, time
from pathlib import Path
from archbench.search import objectives as o

# The workers get the parent's rewritten sys.argv: they read the results folder from the environment.
results = os.environ.setdefault("PARALLEL_SEARCH_RESULTS", sys.argv[-1])
calls = 0

def slow(model, shape):
    # Each worker process (spawned: it imports this file again) finishes its first evaluation,
    # then says where it is and waits for the test's Ctrl-C, unless the test released it.
    global calls
    calls += 1
    if calls > 1 and not Path(results, "release").exists():
        Path(results, f"waiting-{os.getpid()}").write_text("")
        time.sleep(3600)
    return float(calls)
o.OBJECTIVES["naswot"] = o.Objective("naswot", "maximize", True, slow, "slow")

if __name__ == "__mp_main__" and os.environ.get("PARALLEL_SEARCH_AT") == "start":
    # a worker still starting up (importing its modules): it waits here for the test's Ctrl-C
    Path(results, f"starting-{os.getpid()}").write_text("")
    while not Path(results, "release").exists():
        time.sleep(0.05)

if __name__ == "__main__":
    # Ctrl-C as in a terminal: a background process inherits an ignored SIGINT (see INTERRUPTED_SEARCH).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from archbench.cli.app import main

    if os.environ.get("PARALLEL_SEARCH_AT") == "launch":
        # Ctrl-C in the moment the workers are being launched: sent just before the first starts
        import multiprocessing.context

        Path(results, "release").write_text("")
        start = multiprocessing.context.SpawnProcess.start

        def start_after_ctrl_c(self):
            os.kill(os.getpid(), signal.SIGINT)
            start(self)

        multiprocessing.context.SpawnProcess.start = start_after_ctrl_c

    sys.argv = ["archbench", "search", "--space", sys.argv[1], "--objective", "naswot", "--results", results,
                "--trials", "8", "--workers", "2"]
    main()
"""


@pytest.mark.parametrize("at", ["mid-trial", "start"])
def test_ctrl_c_in_a_two_worker_search_keeps_every_finished_trial_and_the_rerun_finishes(tmp_path: Path, at: str):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while both workers are
    mid-trial, or still starting up: one line, exit 130, the tables of every finished trial; the
    same command again completes the study, the interrupted trials among those it runs."""
    script = tmp_path / "parallel_search.py"
    script.write_text(PARALLEL_SEARCH)
    results = tmp_path / "results"
    results.mkdir()
    command = [sys.executable, str(script), TINY_SPACE, str(results)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PARALLEL_SEARCH_AT": at},
                            start_new_session=True)  # its own process group: the SIGINT reaches only the search
    journal = results / "tiny" / "study.journal"

    def finished_trials() -> dict[int, tuple]:
        if not journal.exists():
            return {}
        study = optuna.load_study(study_name="tiny", storage=_journal(results / "tiny"))
        return {t.number: (t.state.name, t.values) for t in study.trials if t.state.is_finished()}

    def ready() -> bool:
        if at == "start":
            return len(list(results.glob("starting-*"))) == 2
        return len(list(results.glob("waiting-*"))) == 2 and bool(finished_trials())

    deadline = time.time() + 600  # a bound for a stuck process, not a wait the test relies on
    while proc.poll() is None and time.time() < deadline and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    finished = finished_trials()  # every one of these must survive the interrupt and the rerun
    os.killpg(proc.pid, signal.SIGINT)
    if at == "start":
        (results / "release").write_text("")  # the workers go on starting, with a Ctrl-C pending
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, out + err
    assert err.strip().count("\n") == 0 and "run the same command to finish the search" in err, err
    study = optuna.load_study(study_name="tiny", storage=_journal(results / "tiny"))
    after = {t.number: (t.state.name, t.values) for t in study.trials if t.state.is_finished()}
    assert finished.items() <= after.items()  # no finished trial lost or changed
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) == (2 if at == "mid-trial" else 0)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    rows = (results / "tiny" / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + len(after)  # the tables of what finished, interrupted trials marked
    assert sum(row.endswith(",interrupted") for row in rows) == len(interrupted)

    (results / "release").write_text("")  # the same command again, now without waiting
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    study = optuna.load_study(study_name="tiny", storage=_journal(results / "tiny"))
    assert counted_trials(study) == 8
    assert finished.items() <= {t.number: (t.state.name, t.values) for t in study.trials}.items()
    complete = [t.params for t in study.trials if t.state.name == "COMPLETE"]
    assert all(t.params in complete for t in interrupted)  # evaluated again, not lost


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="blocking a signal needs POSIX threads")
def test_ctrl_c_while_the_workers_are_launched_is_not_lost(tmp_path: Path):
    """The launch ignores SIGINT (so that no worker dies with a traceback while importing); a
    Ctrl-C in that moment used to vanish and the search ran on. It now stops the search: one
    line, exit 130, and the same command again completes the study."""
    script = tmp_path / "parallel_search.py"
    script.write_text(PARALLEL_SEARCH)
    results = tmp_path / "results"
    results.mkdir()
    command = [sys.executable, str(script), TINY_SPACE, str(results)]
    env = {**os.environ, "PARALLEL_SEARCH_AT": "launch"}
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
                          start_new_session=True)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "run the same command to finish the search" in proc.stderr
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert counted_trials(optuna.load_study(study_name="tiny", storage=_journal(results / "tiny"))) == 8


@pytest.mark.parametrize("command", [["validate", "googlenet"], ["show", "googlenet"], ["cost", "googlenet"]])
def test_ctrl_c_in_any_command_is_one_line_and_130(monkeypatch, command: list[str]):
    import archbench.spec

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(archbench.spec, "read_raw", interrupted)
    for module in ("archbench.cli.validate", "archbench.cli.show", "archbench.cli.cost"):
        monkeypatch.setattr(f"{module}.load_spec", interrupted, raising=False)
    code, output = run_cli(command)
    assert code == 130 and "Traceback" not in output and output.strip().count("\n") == 0, output
