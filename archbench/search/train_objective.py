"""The ``train`` objective: validation accuracy measured after a short training run.

Each trial trains its candidate for a few epochs (optionally capped at a number of steps per
epoch) on the user's data and reports validation top-1 after every epoch, so hopeless candidates
are stopped early:

- in a single-objective study the reports go to Optuna's pruner through ``trial.report`` /
  ``trial.should_prune``: ``sh`` (successive halving, the default: Optuna's
  ``SuccessiveHalvingPruner``, asynchronous as in ASHA), ``hyperband`` (several successive-halving
  brackets) or ``median``;
- Optuna does not support ``trial.report`` in multi-objective studies, so there archbench applies
  the rule itself, on the accuracy alone. ``sh``: the same asynchronous successive-halving rule
  as Optuna's pruner (:func:`halving_prunes`): at the rungs (epochs ``1, eta, eta^2, ...``) a trial
  goes on only if its accuracy is among the best ``1/eta`` of every trial's accuracy at that
  rung. ``median``: a trial whose accuracy after epoch *e* is below the median of the completed
  trials' accuracy after epoch *e* is pruned (once ``STARTUP_TRIALS`` have completed), as
  Optuna's ``MedianPruner`` decides. Every trial stores its per-epoch accuracies as user
  attributes (``val_top1_epoch{e}``) for that.

Every trial also stores ``train_steps`` (optimizer steps it took), so a study's training compute is
known whatever was pruned; the multi-fidelity benchmark compares studies by it.

The candidate is adapted to the data before it is built (classes and input size; see
:func:`archbench.train.adapt_spec`). Budgets are still priced on the space's own input size:
``1.5GFLOPs`` means GoogLeNet's budget at 224x224, whatever the resolution of the data.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError

PRUNERS = ("sh", "hyperband", "median", "none")
STARTUP_TRIALS = 4  # finished trials needed before the median rule may prune (Optuna's default is 5)
REDUCTION_FACTOR = 3  # successive halving keeps the best third at each rung (Li et al.'s Hyperband default)


@dataclass(frozen=True)
class TrainSettings:
    """How each trial trains: short on purpose (the ranking matters, not the final accuracy)."""

    data: str
    image_size: int | None = None
    val_fraction: float = 0.2
    epochs: int = 4  # the shipped recipe's (RECIPE below): enough to rank, short enough to search
    max_steps: int | None = None  # per epoch; None trains on the whole training set
    max_val_steps: int | None = None  # validation batches per epoch; None validates on the whole set
    batch_size: int = 32
    lr: float | None = None  # None: TrainConfig's default for the optimizer (0.002 adamw, 0.05 sgd)
    optimizer: str = "adamw"  # AdamW learns in a few hundred steps where SGD has barely started (recipe below)
    pruner: str = "sh"
    seed: int = 0  # seeds the data split, the weights of every candidate and the training order
    # the aux heads (weighted 0.3) help deep ImageNet training; the small-image (CIFAR) versions of these
    # networks have none, and in a few epochs they cost time without changing the ranking: off by default
    aux: bool = False
    stem: str = "auto"  # "auto", "imagenet" or "small" (see archbench.train.stem)
    channels_last: bool | None = None  # None: TrainConfig's default (CUDA only); on CPU it helps Inception nets

    def __post_init__(self) -> None:
        if self.pruner not in PRUNERS:
            raise ArchbenchError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.epochs < 1:
            raise ArchbenchError("--train-epochs must be at least 1")
        if self.optimizer not in ("adamw", "sgd"):
            raise ArchbenchError(f"--optimizer: expected adamw or sgd, got {self.optimizer!r}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ArchbenchError(f"--lr: expected a positive number, got {self.lr}")
        if not (math.isfinite(self.val_fraction) and 0 < self.val_fraction < 1):
            raise ArchbenchError(f"--val-fraction: expected a number between 0 and 1, got {self.val_fraction}")
        from ..train.stem import check_stem

        check_stem(self.stem)


# The shipped ground-truth recipe (docs/training.md, "A ground truth that separates architectures";
# measured in benchmarks/bench_signal.py). 16x16 images as NAS-Bench-201's ImageNet16-120 and
# Chrabaszcz et al.'s downsampled ImageNet, the small-image stem, AdamW with a cosine schedule,
# no aux heads (the CIFAR versions have none), at the budget RECIPE_BUDGET of the inception_v1 space.
# The training half of it (epochs, batch, optimizer, schedule, no aux) is TrainSettings' defaults, so
# `search --objective train --data PATH` and `calibrate --data PATH` train with it on a user's data.
RECIPE = TrainSettings(data="synthetic:classes=10,size=16,count=3000", val_fraction=0.5, epochs=4, batch_size=32,
                       optimizer="adamw", stem="small", aux=False, channels_last=True, pruner="sh")
RECIPE_BUDGET = "0.15GFLOPs"


def make_pruner(settings: TrainSettings | None) -> Any:
    """The Optuna pruner of a single-objective study; ``NopPruner`` when there is nothing to prune."""
    import optuna

    if settings is None or settings.pruner == "none":
        return optuna.pruners.NopPruner()
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=settings.epochs,
                                              reduction_factor=REDUCTION_FACTOR)
    if settings.pruner == "sh":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR,
                                                      min_early_stopping_rate=0)
    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0)


def rung_of(epoch: int, eta: int = REDUCTION_FACTOR) -> int | None:
    """The successive-halving rung that ends at ``epoch`` (epochs 1, eta, eta^2, ...), or None."""
    rung, resource = 0, 1
    while resource < epoch:
        rung, resource = rung + 1, resource * eta
    return rung if resource == epoch else None


def halving_prunes(value: float, others: list[float], eta: int = REDUCTION_FACTOR) -> bool:
    """Asynchronous successive halving at one rung, as Optuna's ``SuccessiveHalvingPruner`` decides:
    with ``n`` values there (``others`` plus this one), the trial goes on only if it is among the
    best ``max(1, n // eta)``. The first trial to reach a rung always goes on (nothing to compare)."""
    values = sorted([*others, value], reverse=True)
    keep = max(1, len(values) // eta)
    return value < values[keep - 1]


def halving_rule(trial: Any, epoch: int, value: float) -> bool:
    """archbench's successive halving for multi-objective studies (Optuna has none there): compare
    the trial's accuracy at a rung with every other trial's at that rung, pruned ones included."""
    from optuna.trial import TrialState

    if rung_of(epoch) is None:
        return False
    key = f"val_top1_epoch{epoch}"
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    others = [t.user_attrs[key] for t in trial.study.get_trials(deepcopy=False, states=states)
              if t.number != trial.number and key in t.user_attrs]
    return halving_prunes(value, others)


def below_median(trial: Any, epoch: int, value: float) -> bool:
    """The median stopping rule over the per-epoch accuracies stored by other finished trials."""
    from optuna.trial import TrialState

    key = f"val_top1_epoch{epoch}"
    others = [t.user_attrs[key] for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if key in t.user_attrs]  # completed trials only, as Optuna's MedianPruner
    return len(others) >= STARTUP_TRIALS and value < statistics.median(others)


class TrainObjective:
    """Callable objective ``(priced, trial) -> best validation top-1`` (loads the data once)."""

    def __init__(self, settings: TrainSettings):
        self.settings = settings
        self._data: Any = None

    @property
    def data(self) -> Any:
        if self._data is None:
            from ..train import load_data

            s = self.settings
            self._data = load_data(s.data, image_size=s.image_size, val_fraction=s.val_fraction, seed=s.seed)
        return self._data

    def config(self, out_dir: str | None = None) -> Any:
        from ..train import TrainConfig

        s = self.settings
        return TrainConfig(epochs=s.epochs, max_steps=s.max_steps, max_val_steps=s.max_val_steps,
                           batch_size=s.batch_size, optimizer=s.optimizer, lr=s.lr, seed=s.seed,
                           channels_last=s.channels_last, out_dir=out_dir)

    def check(self, spec: Any) -> None:
        """User errors before the study starts: bad data, bad training options, a network that
        does not fit the data's image size (checked on ``spec``, the space's base network)."""
        self.config()  # TrainConfig validates batch size, steps, learning rate
        self.adapt(spec)

    def adapt(self, spec: Any) -> Any:
        """The candidate as it trains: adapted to the data's image size and classes, with the
        stem and aux heads of the settings (what ``search --price-at data`` prices)."""
        from ..train import adapt_spec

        return adapt_spec(spec, self.data, aux=self.settings.aux, stem=self.settings.stem)

    def model(self, spec: Any) -> tuple[Any, Any]:
        """The candidate adapted to the data and built with weights drawn from the search's seed,
        so an architecture's accuracy does not depend on which trials ran before it."""
        from ..train import model_for_data

        return model_for_data(spec, self.data, aux=self.settings.aux, seed=self.settings.seed, stem=self.settings.stem)

    def accuracy(self, spec: Any, on_epoch: Any = None, model: Any = None) -> float:
        """Train ``spec`` (adapted to the data; or ``model``, already built) and return its best
        validation top-1."""
        from ..train import fit

        if model is None:
            model, _ = self.model(spec)
        result = fit(model, self.data, self.config(), on_epoch=on_epoch)
        return float(result.best_top1)

    def __call__(self, priced: Any, trial: Any) -> float:
        import optuna

        multi = len(trial.study.directions) > 1
        rule = {"sh": halving_rule, "median": below_median}.get(self.settings.pruner)
        steps = {"n": 0}

        def on_epoch(metrics: Any) -> None:
            steps["n"] += metrics.steps
            trial.set_user_attr("train_steps", steps["n"])
            trial.set_user_attr(f"val_top1_epoch{metrics.epoch}", metrics.val_top1)
            if multi:
                if rule is not None and rule(trial, metrics.epoch, metrics.val_top1):
                    raise optuna.TrialPruned(f"val top-1 {metrics.val_top1:.3f} pruned at epoch {metrics.epoch} "
                                             f"({self.settings.pruner})")
                return
            trial.report(metrics.val_top1, metrics.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {metrics.epoch} (val top-1 {metrics.val_top1:.3f})")

        model, adapted = self.model(priced.spec)
        if adapted is not None:  # budgets are priced at the space's input size; this is what trains
            from ..cost import analyze

            trained = analyze(adapted)
            trial.set_user_attr("flops_trained", trained.flops)
            trial.set_user_attr("params_trained", trained.params())
        return self.accuracy(priced.spec, on_epoch, model=model)
