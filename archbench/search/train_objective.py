"""The ``train`` objective: validation accuracy measured after a short training run.

Each trial trains its candidate for a few epochs (optionally capped at a number of steps per
epoch) on the user's data and reports validation top-1 after every epoch, so hopeless candidates
are stopped early:

- in a single-objective study the reports go to Optuna's pruner (``median`` or ``hyperband``)
  through ``trial.report`` / ``trial.should_prune``;
- Optuna does not support ``trial.report`` in multi-objective studies, so there archbench applies
  the median stopping rule itself, on the accuracy alone: a trial whose accuracy after epoch *e*
  is below the median of the completed trials' accuracy after epoch *e* is pruned (once
  ``STARTUP_TRIALS`` have completed), as Optuna's ``MedianPruner`` decides. Every
  trial stores its per-epoch accuracies as user attributes (``val_top1_epoch{e}``) for that.

The candidate is adapted to the data before it is built (classes and input size; see
:func:`archbench.train.adapt_spec`). Budgets are still priced on the space's own input size:
``1.5GFLOPs`` means GoogLeNet's budget at 224x224, whatever the resolution of the data.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError

PRUNERS = ("median", "hyperband", "none")
STARTUP_TRIALS = 4  # finished trials needed before the median rule may prune (Optuna's default is 5)


@dataclass(frozen=True)
class TrainSettings:
    """How each trial trains: short on purpose (the ranking matters, not the final accuracy)."""

    data: str
    image_size: int | None = None
    val_fraction: float = 0.2
    epochs: int = 3
    max_steps: int | None = None  # per epoch; None trains on the whole training set
    batch_size: int = 64
    lr: float = 0.05
    pruner: str = "median"
    seed: int = 0  # seeds the data split, the weights of every candidate and the training order
    aux: bool = True  # train the aux heads (weighted 0.3); off when they do not fit small images

    def __post_init__(self) -> None:
        if self.pruner not in PRUNERS:
            raise ArchbenchError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.epochs < 1:
            raise ArchbenchError("--train-epochs must be at least 1")


def make_pruner(settings: TrainSettings | None) -> Any:
    """The Optuna pruner of a single-objective study; ``NopPruner`` when there is nothing to prune."""
    import optuna

    if settings is None or settings.pruner == "none":
        return optuna.pruners.NopPruner()
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=settings.epochs)
    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0)


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
        return TrainConfig(epochs=s.epochs, max_steps=s.max_steps, batch_size=s.batch_size, lr=s.lr, seed=s.seed,
                           out_dir=out_dir)

    def check(self, spec: Any) -> None:
        """User errors before the study starts: bad data, bad training options, a network that
        does not fit the data's image size (checked on ``spec``, the space's base network)."""
        from ..train import adapt_spec

        self.config()  # TrainConfig validates batch size, steps, learning rate
        adapt_spec(spec, self.data, aux=self.settings.aux)

    def model(self, spec: Any) -> tuple[Any, Any]:
        """The candidate adapted to the data and built with weights drawn from the search's seed,
        so an architecture's accuracy does not depend on which trials ran before it."""
        from ..train import model_for_data

        return model_for_data(spec, self.data, aux=self.settings.aux, seed=self.settings.seed)

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

        def on_epoch(metrics: Any) -> None:
            trial.set_user_attr(f"val_top1_epoch{metrics.epoch}", metrics.val_top1)
            if multi:
                if self.settings.pruner != "none" and below_median(trial, metrics.epoch, metrics.val_top1):
                    raise optuna.TrialPruned(f"val top-1 {metrics.val_top1:.3f} below the median at epoch {metrics.epoch}")
                return
            trial.report(metrics.val_top1, metrics.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {metrics.epoch} (val top-1 {metrics.val_top1:.3f})")

        return self.accuracy(priced.spec, on_epoch)
