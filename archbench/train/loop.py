"""The training loop: a plain, correct supervised loop with checkpoints, resume and metrics.

One step: ``model.train()``, forward (under autocast when AMP is on), cross-entropy on the
logits plus ``aux_weight`` x cross-entropy of every aux head's logits when the model returns
them (:class:`archbench.nn.NetOutput`, or torchvision's ``(logits, aux...)`` tuples), backward,
optional gradient clipping, optimizer step. The learning rate is set before every step from a
pure function of the step number (warm-up, then cosine / step / constant), so resuming needs
only the step count. After every epoch the model is evaluated on the validation set (loss,
top-1, top-5), a row goes to ``metrics.csv`` and ``last.pt`` is written (``best.pt`` too when
top-1 improves); then ``on_epoch`` is called, and whatever it raises propagates (the search
raises ``optuna.TrialPruned`` there).

Determinism: on the CPU, a seed gives identical metrics. The global torch RNG is forked for the
duration of :func:`fit` and seeded with ``config.seed`` (dropout draws from it; the caller's RNG
is restored afterwards), and each epoch's shuffling comes from its own generator seeded with
``(seed, epoch)``, so an epoch's batches do not depend on how the run got there. That, plus
the model, optimizer, grad-scaler and RNG states in ``last.pt``, is why a resumed run matches an
uninterrupted one exactly on the CPU. On CUDA, cuDNN autotuning (``cudnn.benchmark``, restored
afterwards) and atomics make runs close but not bit-identical.

Nothing here prints unless ``progress=True`` (a rich progress bar on stderr, when that is a
terminal), and nothing process-wide is changed for longer than the call.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from itertools import islice
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from ..errors import ArchbenchError, CandidateError
from ..files import atomic_open, check_output, check_output_dir
from ..nn.device import autocast, half_dtype, resolve_device
from ..nn.layers import split_output
from .data import Batch, Data

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "none")
DEFAULT_LR = {"sgd": 0.05, "adamw": 2e-3}  # for batch 64; sgd uses Nesterov momentum
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
STEP_MILESTONES = (0.5, 0.75)  # "step": lr x 0.1 at half and at three quarters of training
STEP_GAMMA = 0.1
CHECKPOINT_FORMAT = "archbench-train/1"
STATS_EVERY = 10  # progress bar: refresh the running loss every N steps (each refresh syncs the GPU)
# Options a resumed run may change. epochs: a run may be extended (the schedule then stretches
# to the new length). The others choose where and how fast the same steps run, not which steps:
# the device (and AMP / memory layout, whose defaults follow it), loader workers, the validation
# batch size, and the output folder. Every other option defines the run and must match last.pt.
RESUME_MAY_CHANGE = ("epochs", "device", "amp", "channels_last", "num_workers", "val_batch_size", "out_dir")
RESULT_FILES = ("last.pt", "best.pt", "metrics.csv")  # a finished or interrupted run's results


class NonFiniteLoss(CandidateError):
    """The loss became NaN or infinite: training stopped, the last good checkpoint is kept.

    A candidate failure in a search (it fails only its trial), a user-facing error elsewhere."""


def check_out_dir(out_dir: str | Path | None, resume: bool = False, overwrite: bool = False) -> None:
    """Before any work: ``out_dir`` can be written, and an earlier run's results in it are never
    replaced silently (``resume`` continues them, ``overwrite`` replaces them)."""
    if out_dir is None:
        return
    out = Path(out_dir)
    check_output_dir(out, "--out")
    if out.is_dir():  # a folder or a read-only file where a result goes ends the run after an epoch
        for name in (*RESULT_FILES, "spec.yaml"):
            check_output(out / name, None, "--out")
    existing = [name for name in RESULT_FILES if (out / name).exists()]
    if existing and not resume and not overwrite:
        raise ArchbenchError(f"{out}: holds the results of an earlier run ({', '.join(existing)}); "
                             "--resume continues it, --overwrite replaces it, or choose another --out")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults suit small images on a CPU or one GPU; each says why it is what it is."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd" (momentum, Nesterov) or "adamw"
    lr: float | None = None  # None: 0.05 for sgd, 0.002 for adamw (peak, after warm-up)
    momentum: float = 0.9  # sgd only
    weight_decay: float | None = None  # None: 5e-4 sgd, 0.05 adamw; never on biases or norm weights
    schedule: str = "cosine"  # "cosine" (to zero), "step" (x0.1 at 50% and 75%), "none"
    warmup_epochs: float = 0.0  # linear warm-up from lr/warmup_steps to lr, in epochs (fractions allowed)
    label_smoothing: float = 0.0
    aux_weight: float | None = 0.3  # GoogLeNet's weight for each aux head's loss; None: the spec's per head
    grad_clip: float | None = None  # max gradient norm; None: no clipping
    max_steps: int | None = None  # cap on training steps *per epoch* (keeps search trials short)
    max_val_steps: int | None = None  # cap on validation batches per epoch; None: the whole set
    val_batch_size: int | None = None  # None: 2 x batch_size (no gradients, so more fits)
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1"
    amp: bool | None = None  # autocast (bf16, or fp16 with a grad scaler): None = on for CUDA only
    channels_last: bool | None = None  # None = on for CUDA only (faster convs with AMP)
    num_workers: int | None = None  # None: 0 for in-memory data, else min(4, CPUs - 1)
    out_dir: str | None = None  # metrics.csv, last.pt, best.pt; None: write nothing

    def __post_init__(self) -> None:
        """Reject bad values here, with the option's name, not as a crash epochs later: a
        ``max_steps`` of 2.5 or a NaN warm-up would otherwise fail deep inside the loop, and a
        bool passes ``isinstance(x, int)`` (``True`` epochs is not a number of epochs)."""
        def bad(name: str, expected: str) -> ArchbenchError:
            return ArchbenchError(f"training option {name}: expected {expected}, got {getattr(self, name)!r}")

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        for name in ("epochs", "batch_size"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        for name in ("max_steps", "max_val_steps", "val_batch_size"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or value < 1):
                raise bad(name, "a positive integer or None")
        if self.num_workers is not None and (not is_int(self.num_workers) or self.num_workers < 0):
            raise bad("num_workers", "an integer >= 0 or None")
        if not is_int(self.seed) or not 0 <= self.seed < 2 ** 63:
            raise bad("seed", "an integer in [0, 2**63)")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", " or ".join(OPTIMIZERS))
        if self.schedule not in SCHEDULES:
            raise bad("schedule", ", ".join(SCHEDULES))
        for name in ("lr", "weight_decay", "aux_weight", "grad_clip"):
            value = getattr(self, name)
            positive = name in ("lr", "grad_clip")
            if value is not None and (not is_number(value) or value < 0 or (positive and value == 0)):
                raise bad(name, "a positive number" if positive else "a number >= 0")
        if not is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise bad("momentum", "a number in [0, 1)")
        if not is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "a number in [0, 1)")
        if not is_number(self.warmup_epochs) or self.warmup_epochs < 0:
            raise bad("warmup_epochs", "a number >= 0")
        for name in ("amp", "channels_last"):
            if not (getattr(self, name) is None or isinstance(getattr(self, name), bool)):
                raise bad(name, "True, False or None")
        if not isinstance(self.device, str):
            raise bad("device", "a string (auto, cpu, cuda or cuda:N)")

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else DEFAULT_WEIGHT_DECAY[self.optimizer]


@dataclass(frozen=True)
class EpochMetrics:
    """One row of ``metrics.csv``. Accuracies are fractions in [0, 1]; losses are per image."""

    epoch: int  # 1-based
    train_loss: float  # the minimised objective: cross-entropy (+ weighted aux losses), label smoothing included
    train_top1: float  # main classifier, on the training batches as they were trained (dropout on)
    val_loss: float  # plain cross-entropy of the main classifier (no smoothing), eval mode
    val_top1: float
    val_top5: float  # top-k with k = min(5, classes)
    lr: float  # learning rate of the epoch's last step
    images_per_s: float  # training throughput: images / seconds of the training phase (data loading included)
    seconds: float  # wall time of the whole epoch, evaluation and checkpoint included
    steps: int  # optimizer steps in this epoch


COLUMNS = [f.name for f in fields(EpochMetrics)]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`fit` returns: every epoch's metrics and where the files went."""

    history: list[EpochMetrics]
    best_top1: float
    best_epoch: int
    images_per_s: float  # mean training throughput over the epochs run by this call
    out_dir: Path | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    metrics_csv: Path | None = None

    @property
    def final(self) -> EpochMetrics | None:
        return self.history[-1] if self.history else None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`: still a KeyboardInterrupt, carrying what was saved.

    ``last.pt`` always holds the last *completed* epoch (it is replaced atomically), so
    ``fit(..., resume=True)`` continues from ``epoch + 1``.
    """

    def __init__(self, epoch: int, checkpoint: Path | None, result: TrainResult):
        super().__init__(f"training interrupted after epoch {epoch}")
        self.epoch, self.checkpoint, self.result = epoch, checkpoint, result


def lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total`` steps."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "none":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return STEP_GAMMA ** sum(progress >= m for m in STEP_MILESTONES)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW; weight decay only on weights with 2+ dimensions (not biases, not BN)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": config.decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.peak_lr, momentum=config.momentum,
                               nesterov=config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.peak_lr)


def _collate(batch: Any) -> Any:
    """In-memory datasets hand over whole batches (``__getitems__``); others need collating."""
    if isinstance(batch, Batch):
        return batch.x, batch.y
    return default_collate(batch)


def _seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's RNGs in a loader worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2 ** 32
    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                pin_memory: bool = False, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling (and worker seeds) come only from ``seed``."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      collate_fn=_collate, pin_memory=pin_memory, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed), worker_init_fn=_seed_worker)


def _model_device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _clean_worker_error(exc: ArchbenchError) -> ArchbenchError:
    """An error raised in a loader worker arrives with the worker's traceback; keep the message."""
    text = str(exc)
    if "Original Traceback" not in text:
        return exc
    last = text.rstrip().splitlines()[-1]
    return ArchbenchError(last.split("ArchbenchError: ", 1)[-1])


def evaluate(model: nn.Module, data: Dataset | Iterable, batch_size: int = 128, device: torch.device | str | None = None,
             max_steps: int | None = None, amp: bool = False, channels_last: bool = False,
             num_workers: int = 0) -> tuple[float, float, float]:
    """``(loss, top1, top5)`` of ``model`` on a dataset or an iterable of ``(x, y)`` batches.

    The loss is plain cross-entropy per image; accuracies are fractions; top-5 is top-k with
    k = min(5, classes). Runs in eval mode under ``no_grad`` and restores the model's mode.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    loader = make_loader(data, batch_size, num_workers=num_workers) if isinstance(data, Dataset) else data
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    top1 = torch.zeros((), dtype=torch.long, device=device)
    top5 = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    try:
        with torch.no_grad():
            for x, y in islice(loader, max_steps):
                x = x.to(device, non_blocking=True, memory_format=fmt)
                y = y.to(device, non_blocking=True)
                with autocast(device, "auto" if amp else "fp32"):
                    logits, _ = split_output(model(x))
                logits = logits.float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
                k = min(5, logits.shape[1])
                hits = logits.topk(k, dim=1).indices == y.unsqueeze(1)
                top1 += hits[:, 0].sum()
                top5 += hits.any(1).sum()
                seen += y.shape[0]
    except ArchbenchError as exc:
        raise _clean_worker_error(exc) from None
    finally:
        model.train(was_training)
    if seen == 0:
        return math.nan, math.nan, math.nan
    return loss_sum.item() / seen, top1.item() / seen, top5.item() / seen


def fit(model: nn.Module, data: Data, config: TrainConfig | None = None,
        on_epoch: Callable[[EpochMetrics], Any] | None = None, resume: bool = False, progress: bool = False,
        meta: dict[str, Any] | None = None, overwrite: bool = False) -> TrainResult:
    """Train ``model`` (in place) on ``data.train``, evaluating on ``data.val`` after every epoch.

    ``on_epoch(metrics)`` runs after each epoch's checkpoint; anything it raises propagates.
    ``resume=True`` continues from ``config.out_dir/last.pt`` at the next epoch. ``meta`` is
    stored in the checkpoints (the CLI stores the spec there). Ctrl-C raises
    :class:`TrainingInterrupted` (a KeyboardInterrupt) after the last completed epoch's
    checkpoint is safe. A NaN or infinite loss raises :class:`NonFiniteLoss` without saving
    that epoch, so ``last.pt`` and ``best.pt`` stay the last good ones. Results already in
    ``out_dir`` are refused unless ``resume`` or ``overwrite``. Returns with the model in eval
    mode holding the last epoch's weights.
    """
    config = config or TrainConfig()
    check_out_dir(config.out_dir, resume, overwrite)
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    rng_devices = [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
    previous_benchmark = torch.backends.cudnn.benchmark
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(config.seed)
        try:
            if cuda:
                torch.backends.cudnn.benchmark = True
            return _Run(model, data, config, device, on_epoch, progress, meta or {}).run(resume)
        finally:
            torch.backends.cudnn.benchmark = previous_benchmark


@dataclass
class _Run:
    model: nn.Module
    data: Data
    config: TrainConfig
    device: torch.device
    on_epoch: Callable[[EpochMetrics], Any] | None
    progress: bool
    meta: dict[str, Any]
    history: list[EpochMetrics] = field(default_factory=list)
    saved: int = 0  # epochs completed in last.pt

    def __post_init__(self) -> None:
        c, cuda = self.config, self.device.type == "cuda"
        self.amp = c.amp if c.amp is not None else cuda
        self.channels_last = c.channels_last if c.channels_last is not None else cuda
        self.fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        in_memory = callable(getattr(self.data.train, "__getitems__", None))
        self.workers = c.num_workers if c.num_workers is not None else (
            0 if in_memory else min(4, max(0, (os.cpu_count() or 1) - 1)))
        self.model.to(self.device, memory_format=self.fmt)
        self.optimizer = make_optimizer(self.model, c)
        fp16 = self.amp and half_dtype(self.device) == "fp16"  # bf16 needs no grad scaler
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        n_train = len(self.data.train)  # type: ignore[arg-type]
        self.drop_last = n_train > c.batch_size  # no tiny last batch (BatchNorm), unless it is the only one
        full = n_train // c.batch_size if self.drop_last else 1
        self.steps_per_epoch = min(full, c.max_steps) if c.max_steps else full
        self.total_steps = self.steps_per_epoch * c.epochs
        self.warmup = round(c.warmup_epochs * self.steps_per_epoch)
        self.out = Path(c.out_dir) if c.out_dir else None
        self.aux_weights = dict(getattr(self.model, "aux_weights", {}) or {})

    # -- files ---------------------------------------------------------------------------

    def path(self, name: str) -> Path | None:
        return self.out / name if self.out is not None else None

    def state(self, epoch: int) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "scheduler": {"schedule": self.config.schedule, "step": epoch * self.steps_per_epoch,
                              "total_steps": self.total_steps, "warmup_steps": self.warmup},
                "rng": rng, "config": asdict(self.config), "history": [asdict(m) for m in self.history],
                "classes": list(self.data.classes), "input_shape": list(self.data.input_shape),
                "mean": list(self.data.mean), "std": list(self.data.std), "data": _data_record(self.data),
                "meta": self.meta}

    def save(self, epoch: int, best: bool) -> None:
        """metrics.csv (rewritten whole, so a resumed run has no stray rows), last.pt, best.pt."""
        out = self.out
        if out is None:
            return
        with atomic_open(out / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(asdict(m) for m in self.history)
        state = self.state(epoch)
        if best:
            keep = ("format", "epoch", "model", "config", "history", "classes", "input_shape", "mean", "std", "meta")
            _atomic_save({k: state[k] for k in keep}, out / "best.pt")
        _atomic_save(state, out / "last.pt")
        self.saved = epoch

    def restore(self) -> int:
        """Load ``last.pt``; return the number of epochs it completed."""
        path = self.path("last.pt")
        if path is None:
            raise ArchbenchError("resume needs an output directory (out_dir) holding last.pt")
        if not path.is_file():
            raise ArchbenchError(f"{path}: no checkpoint to resume from (train without --resume first)")
        state = load_checkpoint(path)
        if state.get("classes") != list(self.data.classes) or state.get("input_shape") != list(self.data.input_shape):
            raise ArchbenchError(f"{path}: was trained on other data ({len(state.get('classes') or [])} classes, input "
                                 f"{state.get('input_shape')}); resume with the same --data and --image-size")
        other = _other_network(state.get("meta") or {}, self.meta)  # before any weights are loaded
        if other:
            raise ArchbenchError(f"{path}: holds a run of {other}; resume in that run's folder, or choose another --out")
        changed = self.changes_since(state)
        if changed:
            lines = "\n".join(f"  {name}: {old!r} -> {new!r}" for name, old, new in changed)
            raise ArchbenchError(f"{path}: was trained with other options, so resuming would not continue the same run:\n"
                                 f"{lines}\nResume with the options it was trained with (only "
                                 f"{', '.join(RESUME_MAY_CHANGE)} may change), or start over without resume.")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ArchbenchError(f"{path}: was written for a different network or options "
                                 f"({_state_dict_mismatch(self.model, state['model'], exc)}); resume in that run's "
                                 "folder, or choose another --out") from None
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.history = [EpochMetrics(**m) for m in state["history"]]
        self.saved = int(state["epoch"])
        return self.saved

    def changes_since(self, state: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        """``(option, saved, now)`` for every run-defining option that differs from ``state``'s.

        Compared: the config (effective values, so an explicit ``lr=0.05`` equals the sgd
        default), apart from :data:`RESUME_MAY_CHANGE`; the data's source and split sizes (a
        different validation fraction or image set) when the checkpoint records them; and, only
        when nothing else explains it, the scheduler block's steps per epoch and warm-up steps.
        Options a checkpoint does not record (an older format) are not compared.
        """
        saved, now = _run_options(state.get("config") or {}), _run_options(asdict(self.config))
        changed = [(k, saved[k], now[k]) for k in now if k in saved and saved[k] != now[k]]
        before, after = state.get("data"), _data_record(self.data)
        if isinstance(before, dict):
            for key, old in before.items():
                new = after.get(key)
                if key in after and old != new and not (key == "source" and _same_path(old, new)):
                    changed.append((f"data {key.replace('_', ' ')}", old, new))
        scheduler, epoch = state.get("scheduler"), int(state.get("epoch") or 0)
        if not changed and isinstance(scheduler, dict) and epoch > 0:
            derived = (("steps per epoch", int(scheduler.get("step", 0)) // epoch, self.steps_per_epoch),
                       ("warm-up steps", scheduler.get("warmup_steps"), self.warmup))
            changed += [d for d in derived if d[1] is not None and d[1] != d[2]]
        return changed

    # -- training ------------------------------------------------------------------------

    def run(self, resume: bool) -> TrainResult:
        start = self.restore() if resume else 0
        started = len(self.history)
        bar = _progress_bar() if self.progress else None
        try:
            with bar or contextlib.nullcontext():
                for epoch in range(start, self.config.epochs):
                    metrics = self.epoch(epoch, bar)
                    self.check_finite(metrics)
                    best = all(metrics.val_top1 > m.val_top1 for m in self.history)
                    self.history.append(metrics)
                    if self.out is not None:
                        self.save(epoch + 1, best)
                    if self.on_epoch is not None:
                        self.on_epoch(metrics)
        except KeyboardInterrupt:
            done = self.saved if self.out is not None else len(self.history)
            last = self.path("last.pt") if self.saved else None
            raise TrainingInterrupted(done, last, self.result(started)) from None
        finally:
            self.model.eval()
        return self.result(started)

    def check_finite(self, metrics: EpochMetrics) -> None:
        """Stop on a NaN or infinite loss before the epoch is saved: its weights are garbage, and
        saving them would replace the last good ``last.pt`` (and could even become ``best.pt``)."""
        bad = [name for name in ("train_loss", "val_loss") if not math.isfinite(getattr(metrics, name))]
        if not bad or (bad == ["val_loss"] and not len(self.data.val)):  # type: ignore[arg-type]
            return
        kept = (f"the last good checkpoint is {self.path('last.pt')} (epoch {self.saved})" if self.saved
                else "nothing was saved")
        raise NonFiniteLoss(f"epoch {metrics.epoch}: the {' and '.join(n.replace('_', ' ') for n in bad)} became "
                            f"{getattr(metrics, bad[0])}; training stopped and {kept}. Check the data for NaN or "
                            "infinite values, or lower --lr")

    def result(self, started: int) -> TrainResult:
        ran = self.history[started:]
        best = max(self.history, key=lambda m: m.val_top1, default=None)
        have = self.out is not None and bool(self.history)
        return TrainResult(
            history=list(self.history), best_top1=best.val_top1 if best else math.nan, best_epoch=best.epoch if best else 0,
            images_per_s=sum(m.images_per_s for m in ran) / len(ran) if ran else math.nan, out_dir=self.out,
            last_checkpoint=self.path("last.pt") if have else None, best_checkpoint=self.path("best.pt") if have else None,
            metrics_csv=self.path("metrics.csv") if have else None)

    def aux_weight(self, name: str) -> float:
        if self.config.aux_weight is not None:
            return self.config.aux_weight
        return self.aux_weights.get(name, 0.3)

    def epoch(self, epoch: int, bar: Any) -> EpochMetrics:
        c, model, device = self.config, self.model, self.device
        t0 = time.perf_counter()
        loader = make_loader(self.data.train, c.batch_size, shuffle=True, seed=_epoch_seed(c.seed, epoch),
                             num_workers=self.workers, pin_memory=device.type == "cuda", drop_last=self.drop_last)
        task = bar.add_task("", total=self.steps_per_epoch, epoch=f"{epoch + 1}/{c.epochs}", stats="") if bar else None
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen, steps, lr = 0, 0, c.peak_lr
        try:
            for step, (x, y) in enumerate(islice(loader, self.steps_per_epoch)):
                lr = c.peak_lr * lr_factor(c.schedule, epoch * self.steps_per_epoch + step, self.total_steps, self.warmup)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                x = x.to(device, non_blocking=True, memory_format=self.fmt)
                y = y.to(device, non_blocking=True)
                logits, loss = self.step(x, y)
                loss_sum += loss.detach().double() * y.shape[0]
                correct += (logits.detach().argmax(1) == y).sum()
                seen += y.shape[0]
                steps += 1
                if bar is not None:
                    stats = None
                    if (step + 1) % STATS_EVERY == 0 or step + 1 == self.steps_per_epoch:
                        stats = f"loss {loss_sum.item() / seen:.3f}  acc {100 * correct.item() / seen:.1f}%"
                    bar.update(task, advance=1, **({"stats": stats} if stats else {}))
        except ArchbenchError as exc:
            raise _clean_worker_error(exc) from None
        train_loss, train_top1 = loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1)  # syncs the GPU
        train_s = time.perf_counter() - t0
        if bar is not None:
            bar.update(task, stats=f"loss {train_loss:.3f}  acc {100 * train_top1:.1f}%  · evaluating")
        val_loss, val_top1, val_top5 = evaluate(
            model, self.data.val, batch_size=c.val_batch_size or 2 * c.batch_size, device=device,
            max_steps=c.max_val_steps, amp=self.amp, channels_last=self.channels_last, num_workers=self.workers)
        if bar is not None:
            bar.update(task, stats=f"loss {train_loss:.3f}  acc {100 * train_top1:.1f}%  · val {100 * val_top1:.1f}%")
        return EpochMetrics(epoch=epoch + 1, train_loss=train_loss, train_top1=train_top1, val_loss=val_loss,
                            val_top1=val_top1, val_top5=val_top5, lr=lr, images_per_s=seen / train_s if train_s else 0.0,
                            seconds=time.perf_counter() - t0, steps=steps)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step; returns the main logits and the total loss."""
        c = self.config
        with autocast(self.device, "auto" if self.amp else "fp32"):
            logits, aux = split_output(self.model(x))
            loss = F.cross_entropy(logits.float(), y, label_smoothing=c.label_smoothing)
            for name, aux_logits in aux.items():
                weight = self.aux_weight(name)
                if weight:
                    loss = loss + weight * F.cross_entropy(aux_logits.float(), y, label_smoothing=c.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if c.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return logits, loss


def _run_options(config: dict[str, Any]) -> dict[str, Any]:
    """A stored or current config's run-defining options, with defaults resolved (lr, weight decay)."""
    options = {k: v for k, v in config.items() if k not in RESUME_MAY_CHANGE}
    optimizer = options.get("optimizer")
    if "lr" in options and options["lr"] is None and optimizer in DEFAULT_LR:
        options["lr"] = DEFAULT_LR[optimizer]
    if "weight_decay" in options and options["weight_decay"] is None and optimizer in DEFAULT_WEIGHT_DECAY:
        options["weight_decay"] = DEFAULT_WEIGHT_DECAY[optimizer]
    return options


def _data_record(data: Data) -> dict[str, Any]:
    """What identifies the split a run trained on, beyond classes and input shape (stored apart):
    the source, and the sizes a different validation fraction changes."""
    return {"source": data.source, "train_images": len(data.train),  # type: ignore[arg-type]
            "val_images": len(data.val)}  # type: ignore[arg-type]


def _same_path(a: Any, b: Any) -> bool:
    """Two spellings of one data folder or file (relative vs absolute) are the same source."""
    try:
        return isinstance(a, str) and isinstance(b, str) and Path(a).exists() and Path(a).samefile(b)
    except OSError:
        return False


def _other_network(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """How the checkpoint's network differs from this run's ('' when the same or unknown): the
    adapted specs when both have one (a spec's file may be spelled two ways), else the targets."""
    name = saved.get("target")
    if saved.get("spec") is not None and now.get("spec") is not None:
        if saved["spec"] != now["spec"]:
            return f"another network ({name!r}, its spec differs from this run's)"
        return ""
    if name is not None and now.get("target") is not None and name != now["target"]:
        return f"another network ({name!r}, not {now['target']!r})"
    return ""


def _state_dict_mismatch(model: nn.Module, saved: Any, exc: Exception) -> str:
    """A one-line reason instead of PyTorch's many-line "Error(s) in loading state_dict"."""
    if not isinstance(saved, dict):
        return f"{type(exc).__name__}"
    ours = model.state_dict()
    missing, unexpected = set(ours) - set(saved), set(saved) - set(ours)
    resized = [k for k in set(ours) & set(saved) if getattr(ours[k], "shape", None) != getattr(saved[k], "shape", None)]
    parts = [f"{len(missing)} tensors missing" if missing else "", f"{len(unexpected)} unexpected" if unexpected else "",
             f"{len(resized)} of other shapes (e.g. {sorted(resized)[0]})" if resized else ""]
    return ", ".join(p for p in parts if p) or str(exc).strip().splitlines()[0]


def _epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of one epoch: independent of every other epoch, so resume reproduces it."""
    return (seed * 1_000_003 + epoch) % 2 ** 63


def _atomic_save(obj: Any, path: Path) -> None:
    """Write to a temporary file, then rename: a Ctrl-C never leaves a half-written checkpoint,
    and a full disk is one :class:`~archbench.files.FileError` naming the checkpoint."""
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def _progress_bar() -> Any:
    """The per-epoch bar on stderr, or None when stderr is not a terminal (``2>file``, a CI log):
    as every other command's progress display (``archbench.cli.progress``), so logs stay clean;
    rich would otherwise print the finished bar into the file."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`fit` (``last.pt`` or ``best.pt``), on the CPU."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArchbenchError(f"{path}: no such checkpoint") from None
    except Exception as exc:
        raise ArchbenchError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ArchbenchError(f"{path}: not an archbench training checkpoint")
    return state


__all__ = ["TrainConfig", "EpochMetrics", "TrainResult", "TrainingInterrupted", "fit", "evaluate", "lr_factor",
           "make_optimizer", "make_loader", "split_output", "load_checkpoint"]
