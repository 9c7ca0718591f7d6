"""Running a search: one Optuna study, one or many worker processes, resumable.

Storage: by default a journal file ``results/<study>/study.journal`` (Optuna's
``JournalFileBackend``: an append-only log with file locking, safe for several processes on one
machine, where SQLite is not); ``--storage URL`` takes an RDB URL (PostgreSQL) shared by workers
on several machines. Each finished trial is in the storage as soon as it completes, so Ctrl-C or a
killed worker loses nothing finished; trials left RUNNING by a dead worker are failed and their
parameters re-enqueued when the search is resumed from the same file storage.

``trials`` is the size of the study, not of one run: running the same command again runs only
the trials still missing (none when the study is complete), so a search interrupted by Ctrl-C
or a killed machine is finished by repeating its command. A resumed run continues its sampler
(its seed is mixed with the number of trials already in the study) instead of proposing the
first run's random points again. Trials interrupted or killed mid-evaluation do not count and
are evaluated again.

Failures: a candidate that cannot be evaluated (out of memory, a non-finite objective or loss,
a shape the repair produced that does not fit, a torch error in its forward pass) fails its
own trial, with the reason in the trial's ``failure`` attribute, and the search goes on. Any
other exception is a bug in archbench: it stops the search with its traceback.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArchbenchError, CandidateError, ShapeError, SpecError
from ..files import check_file, ensure_dir, is_network_filesystem, read_text
from ..spec.canonical import architecture_hash, dump_yaml
from ..units import Budget
from .budget import BAND, check_possible, price, repair
from .defaults import default_objective
from .objectives import Objective, get_objectives
from .report import check_report_folder
from .space import SearchSpace, load_space
from .train_objective import TrainSettings, make_pruner
from .warmup import WarmUp, warm_up


@dataclass
class SearchConfig:
    space: str = "inception_v1"
    budgets: list[str] = field(default_factory=list)
    objectives: list[str] = field(default_factory=lambda: [default_objective()])  # from the shipped calibration
    trials: int = 50
    study: str | None = None
    storage: str | None = None
    workers: int = 1
    seed: int = 0
    repair: bool = True
    results: str = "results"
    sampler: str = "tpe"  # "tpe" | "random"
    timeout: float | None = None
    train: TrainSettings | None = None  # data and schedule of the `train` objective
    warmup: WarmUp | None = None  # zero-cost warm-up of a train-objective search (archbench.search.warmup)
    price_at: str = "space"  # "space": budgets priced at the space's own input; "data": as trained on the data


PRICE_AT = ("space", "data")


_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NOT_COUNTED = ("interrupted", "killed")  # user attributes of trials that are evaluated again


class NonFiniteObjective(CandidateError):
    """An objective gave NaN or infinity for one candidate."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a search; ``study`` holds every trial that finished (for the tables)."""

    def __init__(self, study: Any):
        super().__init__()
        self.study = study


def check_study_name(name: str) -> str:
    """A study name is also a folder under ``--results``: one plain path component, so
    ``--study ../escape`` cannot write outside it."""
    if not _STUDY_NAME.match(name) or ".." in name:
        raise ArchbenchError(f"--study {name!r}: expected a plain name (letters, digits, '_', '-', '.'; "
                             "no '/' or '..'): it names the study's folder under --out")
    return name


def study_name(config: SearchConfig, space: SearchSpace) -> str:
    return check_study_name(config.study or f"{space.name}")


def storage_note(config: SearchConfig, name: str) -> str | None:
    """A warning when the journal file would sit on a network file system, whose file locks do
    not hold across machines (Optuna's JournalFileBackend relies on them)."""
    if config.storage:
        return None
    fs = is_network_filesystem(Path(config.results) / name)
    if fs is None:
        return None
    return (f"{config.results}/ is on a network file system ({fs}): the study's journal file relies on file locks "
            "that do not hold across machines there. Run workers on one machine only, or use "
            "--storage postgresql://... for workers on several machines.")


def storage_for(config: SearchConfig, name: str) -> Any:
    import optuna

    if config.storage:
        if config.storage.startswith(("postgresql", "mysql", "sqlite")):
            import warnings

            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna but long-standing
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # a worker that dies leaves its trial RUNNING; other workers fail it after the grace period
                return optuna.storages.RDBStorage(config.storage, heartbeat_interval=30, grace_period=120,
                                                  **_retry_stale_trials())
        raise ArchbenchError(f"--storage {config.storage!r}: expected an RDB URL such as postgresql://user@host/db")
    folder = ensure_dir(Path(config.results) / check_study_name(name))
    journal = check_file(folder / "study.journal", "study journal file")  # Optuna opens it itself
    from optuna.storages.journal import JournalFileBackend

    _check_journal(journal)
    try:  # the storage replays the whole journal here: a damaged one fails now, not mid-search
        return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:  # bad JSON, or entries Optuna cannot apply
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise ArchbenchError(f"{journal}: not a readable study journal ({reason}); {DAMAGED_JOURNAL}") from None


DAMAGED_JOURNAL = ("it was damaged or is not Optuna's. Move it away to start the study afresh, or restore it "
                   "from a copy")


def _check_journal(journal: Path) -> None:
    """Refuse a journal with a line that is not one of Optuna's log entries, before anything is
    appended to it. Optuna fails on a bad line followed by others, and appends its next entry to an
    incomplete last line (a write cut short), which makes that entry unreadable too."""
    if not journal.exists():
        return
    text = read_text(journal, "study journal file")
    if text and not text.endswith("\n"):
        time.sleep(0.2)  # another worker may be appending right now: look again before calling it cut short
        again = read_text(journal, "study journal file")
        if again == text:  # Optuna would append to that line and make both unreadable
            raise ArchbenchError(f"{journal}, line {text.count(chr(10)) + 1}: an incomplete entry (a write cut "
                                 "short); delete that last line and run again: the trials before it are kept")
        text = again
    lines = text.split("\n")[:-1]  # the part after the last newline may be a write in progress
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or "op_code" not in entry:
            raise ArchbenchError(f"{journal}, line {number}: not an Optuna journal entry; {DAMAGED_JOURNAL}")


def _retry_stale_trials() -> dict[str, Any]:
    """Retry a dead worker's trial once: Optuna >= 4.9 names this the heartbeat-stale callback."""
    import optuna

    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):
        return {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=1)}


def _sampler(config: SearchConfig, worker: int, multi: bool, resumed_at: int = 0) -> Any:
    """The sampler of one worker; ``resumed_at`` (trials already in the study) gives a resumed
    run its own random stream, so it does not propose the first run's points again."""
    import numpy as np
    import optuna

    seed = config.seed + worker
    if resumed_at:
        seed = int(np.random.SeedSequence([config.seed, worker, resumed_at]).generate_state(1)[0])
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE samples at random until n_startup_trials have finished (10 by default), which would make a
    # short (training) search a random one: start modelling after a quarter of the trials, 4 at least.
    startup = max(4, min(10, config.trials // 4))
    return optuna.samplers.TPESampler(seed=seed, multivariate=not multi, constant_liar=config.workers > 1,
                                      n_startup_trials=startup)


class Evaluator:
    """The objective Optuna calls: sample, price, repair, check, then evaluate (or reuse)."""

    def __init__(self, space: SearchSpace, budgets: list[Budget], objectives: list[Objective], repair_on: bool,
                 adapt: Any = None):
        self.space = space
        self.budgets = budgets
        self.objectives = objectives
        self.repair_on = repair_on
        self.adapt = adapt  # price the network as trained (see pricing_adapter)
        self.overhead_s: list[float] = []

    def __call__(self, trial: Any) -> Any:
        try:
            return self._evaluate(trial)
        except KeyboardInterrupt:
            # evaluated again when the search resumes; Optuna marks this trial failed
            trial.set_user_attr("interrupted", True)
            if trial.params:
                trial.study.enqueue_trial(trial.params, skip_if_exists=False)
            raise
        except (CandidateError, ShapeError, SpecError) as exc:
            trial.set_user_attr("failure", str(exc).splitlines()[0][:300])
            raise
        except (NotImplementedError, RecursionError):
            raise  # RuntimeErrors that are bugs, not failures of one candidate
        except (RuntimeError, MemoryError) as exc:  # torch's errors, CUDA out of memory among them
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
            trial.set_user_attr("failure", reason)
            raise CandidateError(reason) from exc

    def _evaluate(self, trial: Any) -> Any:
        t0 = time.perf_counter()
        values = self.space.sample(trial)
        spec = self.space.spec(values, name=f"{trial.study.study_name}_trial{trial.number}")
        priced = (repair(spec, self.budgets, self.space.min_width, adapt=self.adapt) if self.repair_on
                  else price(spec, self.budgets, self.adapt))
        trial.set_user_attr("flops", priced.flops)
        trial.set_user_attr("params", priced.params)
        if priced.memory is not None:  # analytic peak inference bytes at batch 1 (a memory budget)
            trial.set_user_attr("memory", priced.memory)
        trial.set_user_attr("width_multiplier", priced.spec.width_multiplier)
        trial.set_user_attr("budget_usage", priced.tightest)
        digest = architecture_hash(priced.spec)
        trial.set_user_attr("arch_hash", digest)
        trial.set_user_attr("spec", dump_yaml(priced.spec))  # what `report` exports: never re-derived
        for text, usage in priced.usage.items():
            trial.set_constraint(text, usage - 1.0)
        self.overhead_s.append(time.perf_counter() - t0)
        if not priced.feasible:
            mark_infeasible(trial, priced.usage)
            return self._worst()
        cached = self._cached(trial, digest)
        if cached is not None:
            return cached
        model, scored = None, priced.spec
        if any(o.needs_model for o in self.objectives) or any(b.kind == "latency" for b in self.budgets):
            from ..nn import build

            if self.adapt is not None:  # --price-at data: the proxies score the network as trained too
                scored = self.adapt(priced.spec)
            model = build(scored)
        measured = self._check_measured_budgets(trial, priced, model)
        if measured is None:
            return self._worst()
        results = []
        for objective in self.objectives:
            if objective.needs_trial:
                value = objective.fn(priced, trial)
            elif objective.name in measured:  # timed once already, for the latency budget
                value = measured[objective.name]
            elif objective.needs_model:
                value = objective.fn(model, scored.input)
            else:
                value = objective.fn(priced)
            if not math.isfinite(value):  # fails this trial only; the search goes on
                raise NonFiniteObjective(f"{objective.name} gave a non-finite value ({value})")
            results.append(value)
        return results[0] if len(results) == 1 else tuple(results)

    def _worst(self) -> Any:
        values = [-math.inf if o.direction == "maximize" else math.inf for o in self.objectives]
        return values[0] if len(values) == 1 else tuple(values)

    def _cached(self, trial: Any, digest: str) -> Any:
        from optuna.trial import TrialState

        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if other.user_attrs.get("arch_hash") == digest and not other.user_attrs.get("infeasible"):
                trial.set_user_attr("cached_from", other.number)
                return other.values[0] if len(other.values) == 1 else tuple(other.values)
        return None

    def _check_measured_budgets(self, trial: Any, priced: Any, model: Any) -> dict[str, float] | None:
        """Latency, the one budget that needs a built module (memory is priced analytically); it is
        checked, not repaired (the repair would build and time the network at every step). Records
        ``latency_ms`` and folds its usage into ``budget_usage``; returns the measured values by
        objective name, or None when the candidate is over a measured budget."""
        timed = [b for b in self.budgets if b.kind == "latency"]
        if not timed:
            return {}
        from .objectives import _latency

        value = _latency(model, priced.spec.input)
        trial.set_user_attr("latency_ms", value)
        usage = {b.text: value / b.limit for b in timed}
        for text, u in usage.items():
            trial.set_constraint(text, u - 1.0)
        all_usage = {**priced.usage, **usage}
        trial.set_user_attr("budget_usage", max(all_usage.values()))
        if max(usage.values()) > 1.0:
            mark_infeasible(trial, all_usage)
            return None
        return {"latency": value}


def mark_infeasible(trial: Any, usage: dict[str, float]) -> None:
    """An over-budget candidate: not evaluated, and the table's ``over_budget`` says which
    budgets it broke and by how much (its costs are in the table's cost columns)."""
    trial.set_user_attr("infeasible", True)
    trial.set_user_attr("over_budget", ", ".join(f"{text} ({u:.2f}x)" for text, u in usage.items() if u > 1.0))


def prepare(config: SearchConfig) -> tuple[SearchSpace, list[Budget], list[Objective]]:
    """Validate everything a search needs; user errors surface here, before any study exists."""
    from ..units import parse_budget

    space = load_space(config.space)
    texts = config.budgets or ([space.budget] if space.budget else [])
    budgets = [parse_budget(t) for t in texts]
    objectives = get_objectives(config.objectives, config.train)
    if config.trials < 1 or config.workers < 1:
        raise ArchbenchError("--trials and --workers must be at least 1")
    if not 0 <= config.seed < 2**32 - config.workers:  # numpy's seed range, one seed per worker
        raise ArchbenchError(f"--seed: expected an integer from 0 to {2**32 - 1 - config.workers}, got {config.seed}")
    check_price_at(config, budgets)
    check_possible(space.spec(space.smallest()), budgets, space.min_width, pricing_adapter(config, objectives))
    if config.train is not None and "train" not in config.objectives:
        raise ArchbenchError("--data is the training data of --objective train; add --objective train, or drop --data")
    if config.train is not None and config.train.pruner == "hyperband" and len(objectives) > 1:
        raise ArchbenchError("--pruner hyperband works with one objective; a multi-objective search prunes "
                             "on accuracy with successive halving (--pruner sh) or the median rule (--pruner median)")
    if config.warmup is not None and "train" not in config.objectives:
        raise ArchbenchError("--warmup ranks candidates before they are trained; it needs --objective train")
    for objective in objectives:
        if objective.name == "train":  # bad data or options: one message now, not a failure per trial
            objective.fn.check(space.spec(space.defaults))
    name = study_name(config, space)
    # the folder of the journal and the tables (written there with any storage) before the first trial
    check_report_folder(Path(config.results) / name, "--out")
    freeze_long_lived()
    return space, budgets, objectives


def check_price_at(config: SearchConfig, budgets: list[Budget]) -> None:
    if config.price_at not in PRICE_AT:
        raise ArchbenchError(f"--price-at: expected space or data, got {config.price_at!r}")
    if config.price_at == "data":
        if "train" not in config.objectives or config.train is None:
            raise ArchbenchError("--price-at data prices the network as trained on --data; it needs "
                                 "--objective train and --data")
        if any(b.kind == "latency" for b in budgets):
            raise ArchbenchError("--price-at data prices FLOPs, params and memory budgets on the network as "
                                 "trained; a latency budget is timed on the space's network at its own input: "
                                 "use --price-at space with it")


def pricing_adapter(config: SearchConfig, objectives: list[Objective]) -> Any:
    """What :func:`archbench.search.budget.price` prices a candidate as: ``None`` for the candidate
    at the space's own input size, or the train objective's adaptation to the data."""
    if config.price_at != "data":
        return None
    return next(o.fn.adapt for o in objectives if o.name == "train")


def freeze_long_lived() -> None:
    """Collect once, then move what exists now (libraries, the loaded space and its base document)
    out of the cyclic collector's generations: every trial allocates thousands of short-lived
    objects, and each full collection would otherwise scan all of these again. Pricing fresh
    GoogLeNet candidates ran 4-18% faster with it (``bench_cost.py`` on a quiet 2-core Xeon).
    Reference counting still frees frozen objects; only cycles among them stay until exit."""
    import gc

    gc.collect()
    gc.freeze()


def recover_stale(study: Any) -> int:
    """Fail trials left RUNNING by a dead worker and enqueue their parameters again."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study._storage.set_trial_user_attr(t._trial_id, "killed", True)  # not counted: evaluated again
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params, skip_if_exists=False)
    return len(stale)


def counted_trials(study: Any) -> int:
    """Trials that count towards ``--trials``: finished ones, except those interrupted or killed
    mid-evaluation (their parameters were enqueued again)."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state.is_finished() and not any(t.user_attrs.get(k) for k in NOT_COUNTED))


def remaining_trials(config: SearchConfig, study: Any) -> int:
    """How many trials this run adds: up to ``config.trials`` in the study as a whole."""
    return max(0, config.trials - counted_trials(study))


# The settings that decide what a trial's values mean, by the option that sets them: a study's
# trials are ranked together, so a resumed or extended study must keep every one of them.
SETTING_OPTIONS = {"space": "--space", "budgets": "--budget", "objectives": "--objective", "price_at": "--price-at"}
# The train objective's settings that change the accuracy it measures (the pruner only decides
# when a trial stops, and the memory layout how fast it runs: those may change).
TRAIN_OPTIONS = {"data": "--data", "image_size": "--image-size", "val_fraction": "--val-fraction",
                 "epochs": "--train-epochs", "max_steps": "--train-steps", "max_val_steps": "--val-steps",
                 "batch_size": "--batch-size", "lr": "--lr", "optimizer": "--optimizer", "seed": "--seed",
                 "aux": "--aux", "stem": "--stem"}


def study_settings(config: SearchConfig, budgets: list[Budget], objectives: list[Objective]) -> dict[str, Any]:
    """What a study records about its trials (user attributes, JSON) and a resumed run must repeat."""
    settings: dict[str, Any] = {"space": config.space, "budgets": [b.text for b in budgets],
                                "price_at": config.price_at, "objectives": [o.name for o in objectives]}
    if config.train is not None:
        settings["train"] = {key: getattr(config.train, key) for key in TRAIN_OPTIONS}
    return settings


def _same(key: str, recorded: Any, wanted: Any) -> bool:
    """Equal settings, also when written differently: ``1.5GFLOPs`` and ``1500MMACs``, or a space
    file named by another path."""
    from ..units import parse_budget

    if key == "budgets":
        def normal(texts: list[str]) -> list[tuple[str, float]]:
            return sorted((b.kind, b.limit) for b in map(parse_budget, texts))

        a, b = normal(recorded), normal(wanted)
        return len(a) == len(b) and all(k == l and math.isclose(x, y, rel_tol=1e-9) for (k, x), (l, y) in zip(a, b))
    if key == "space" and recorded != wanted:
        a, b = Path(recorded), Path(wanted)
        return a.is_file() and b.is_file() and a.resolve() == b.resolve()
    return recorded == wanted


def changed_settings(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(option, recorded, wanted)`` for each setting the study recorded that this run changes.
    Settings a study did not record (one written by an older archbench) are not compared."""
    changed = []
    for key, option in SETTING_OPTIONS.items():
        if key in recorded and key in wanted and not _same(key, recorded[key], wanted[key]):
            changed.append((option, recorded[key], wanted[key]))
    old, new = recorded.get("train"), wanted.get("train")
    if isinstance(old, dict) and isinstance(new, dict):
        changed += [(option, old[key], new[key]) for key, option in TRAIN_OPTIONS.items()
                    if key in old and old[key] != new[key]]
    return changed


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value)) if value else "(none)"
    return "(default)" if value is None else str(value)


def check_same_settings(name: str, recorded: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to add trials of other settings to a study (another budget would rank a network over
    the new budget as its best), as ``train --resume`` refuses changed options."""
    changed = changed_settings(recorded, wanted)
    if not changed:
        return
    lines = "\n".join(f"  {option}: {_shown(old)} (the study's) -> {_shown(new)} (this run's)"
                      for option, old, new in changed)
    raise ArchbenchError(f"study {name!r} was run with other settings; its trials and this run's would be ranked "
                         f"together:\n{lines}\nRun it with the study's settings to resume or extend it, or start a "
                         "new study for the new ones (--study NAME, or another --out).")


def open_study(config: SearchConfig, space: SearchSpace, objectives: list[Objective], worker: int = 0,
               budgets: list[Budget] | None = None) -> Any:
    """Create or load the study. With ``budgets``, an existing study whose recorded settings
    (:func:`study_settings`) differ from this run's is refused before anything is added to it."""
    import optuna

    name = study_name(config, space)
    directions = [o.direction for o in objectives]
    # Optuna's pruners serve single-objective studies; with several, the train objective applies
    # the median rule itself (see archbench.search.train_objective).
    pruner = make_pruner(config.train) if len(directions) == 1 else None
    multi = len(directions) > 1
    study = optuna.create_study(study_name=name, storage=storage_for(config, name), load_if_exists=True,
                                directions=directions, sampler=_sampler(config, worker, multi), pruner=pruner)
    if [d.name.lower() for d in study.directions] != directions:
        raise ArchbenchError(f"study {name!r} exists with objectives of directions "
                             f"{[d.name.lower() for d in study.directions]}; use another --study name")
    if budgets is not None:
        check_same_settings(name, study.user_attrs, study_settings(config, budgets, objectives))
    existing = len(study.get_trials(deepcopy=False))
    if existing:  # a resumed study: continue the sampler rather than repeat its first points
        study.sampler = _sampler(config, worker, multi, resumed_at=existing)
    return study


CANDIDATE_FAILURES = (CandidateError, ShapeError, SpecError)  # a failed trial; anything else stops the search


WORKER_GRACE_S = 60.0  # after Ctrl-C, how long the workers get to record their interrupted trials


def _worker(config: SearchConfig, worker: int, n_trials: int, stop: Any, interruptible: bool) -> None:
    """One worker process. It starts with SIGINT blocked (see :func:`_start_workers`), so that a
    Ctrl-C while it imports torch cannot end it with a traceback; ``stop``, set by the parent on
    Ctrl-C, ends a worker that was still starting then, before its first trial or after its current one."""
    import signal

    if interruptible:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if interruptible and hasattr(signal, "pthread_sigmask"):
            # a Ctrl-C that came while this process started (blocked, so pending) is delivered now
            # and ends it here, before any trial
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if stop.is_set():
            return
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        space, budgets, objectives = prepare(config)
        study = open_study(config, space, objectives, worker, budgets)
        study.optimize(Evaluator(space, budgets, objectives, config.repair, pricing_adapter(config, objectives)),
                       n_trials=n_trials,
                       catch=CANDIDATE_FAILURES, timeout=config.timeout,
                       callbacks=[lambda study, trial: study.stop() if stop.is_set() else None])
    except KeyboardInterrupt:  # Ctrl-C reaches every worker: the parent reports it, once
        pass


def _new_workers(config: SearchConfig, shares: list[int], stop: Any) -> list[Any]:
    """One worker process per non-empty share (not started yet)."""
    import signal
    import threading

    ctx = multiprocessing.get_context("spawn")
    main = threading.current_thread() is threading.main_thread()
    interruptible = not main or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # ignored stays ignored
    return [ctx.Process(target=_worker, args=(config, i, n, stop, interruptible)) for i, n in enumerate(shares) if n]


def _start_workers(procs: list[Any]) -> None:
    """Start the workers so that a Ctrl-C during the launch neither ends a worker with a traceback
    while it imports nor interrupts the launch itself, and is not lost.

    SIGINT is blocked in this thread meanwhile: a spawned process keeps the signal mask it was
    started with, and :func:`_worker` unblocks SIGINT once it can handle it (a Ctrl-C that came in
    between, pending, then ends that worker before its first trial). In this process a Ctrl-C
    during the launch (delivered to another thread, or pending here) is only recorded, and raised
    once every worker has started; ``run_search`` then stops them. Without ``pthread_sigmask``
    (Windows) SIGINT is ignored during the launch instead; a search that ignores SIGINT (started
    in the background) keeps ignoring it, in its workers too."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only it may set signal handlers
        for p in procs:
            p.start()
        return
    previous = signal.getsignal(signal.SIGINT)
    block = hasattr(signal, "pthread_sigmask") and previous is not signal.SIG_IGN
    interrupted: list[int] = []
    if block:
        signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    else:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for p in procs:
            p.start()
    finally:
        signal.signal(signal.SIGINT, previous)
        if block:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is raised here
    if interrupted:
        raise KeyboardInterrupt


def _stop_workers(procs: list[Any], stop: Any) -> None:
    """After Ctrl-C (which the terminal sent to every worker too): stop the workers that were still
    starting, and wait for the others to record their interrupted trials; one still running after
    the grace period is terminated, and its trial, left RUNNING, is evaluated again when the
    search resumes (:func:`recover_stale`)."""
    stop.set()
    deadline = time.monotonic() + WORKER_GRACE_S
    started = [p for p in procs if p.pid is not None]
    for p in started:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in started:
        if p.is_alive():
            p.terminate()
            p.join()


def run_search(config: SearchConfig, on_trial: Callable[[Any, Any], None] | None = None) -> Any:
    """Run (or resume) a search until the study holds ``config.trials`` counted trials; returns
    the study. ``on_trial(study, trial)`` after each trial. Ctrl-C raises
    :class:`SearchInterrupted` carrying the study (every finished trial is in it)."""
    import optuna

    # Optuna's own log would print a traceback per failed trial; failures are in the trials table
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space, budgets, objectives = prepare(config)
    study = open_study(config, space, objectives, budgets=budgets)
    if not config.storage:
        recover_stale(study)
    if not study.trials:
        study.enqueue_trial(space.defaults)  # the paper's design point, scaled to the budget
        if config.warmup is not None:  # then the cheap signal's favourites, before the sampler's picks
            train = next(o.fn for o in objectives if o.name == "train")
            warm_up(study, space, budgets, config.warmup, train, config.seed, config.repair,
                    pricing_adapter(config, objectives))
    for key, value in study_settings(config, budgets, objectives).items():
        study.set_user_attr(key, value)
    todo = remaining_trials(config, study)
    if not todo:
        return study
    callbacks = [lambda s, t: on_trial(s, t)] if on_trial else []
    if config.workers == 1:
        evaluator = Evaluator(space, budgets, objectives, config.repair, pricing_adapter(config, objectives))
        try:
            study.optimize(evaluator, n_trials=todo, catch=CANDIDATE_FAILURES, callbacks=callbacks,
                           timeout=config.timeout)
        except KeyboardInterrupt:
            raise SearchInterrupted(study) from None
        study.set_user_attr("overhead_ms_median", sorted(evaluator.overhead_s)[len(evaluator.overhead_s) // 2] * 1e3
                            if evaluator.overhead_s else None)
        return study
    shares = [todo // config.workers + (i < todo % config.workers) for i in range(config.workers)]
    stop = multiprocessing.get_context("spawn").Event()
    procs = _new_workers(config, shares, stop)
    try:
        _start_workers(procs)
        seen = len([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()])
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            trials = study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state.is_finished()]
            if on_trial and len(finished) > seen:
                for t in finished[seen:]:
                    on_trial(study, t)
                seen = len(finished)
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        _stop_workers(procs, stop)  # they got the same Ctrl-C; they record their trials, then the tables
        raise SearchInterrupted(study) from None
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise RuntimeError(f"{len(failed)} search worker(s) stopped with an error (exit codes {failed}); "
                           "see their traceback above")
    return study


def in_band(trial: Any) -> bool:
    usage = trial.user_attrs.get("budget_usage")
    return usage is not None and BAND[0] <= usage <= BAND[1]


__all__ = ["SearchConfig", "run_search", "prepare", "open_study", "Evaluator", "in_band", "SearchInterrupted",
           "check_study_name", "counted_trials", "storage_note"]
