"""Zero-cost warm-up of a train-objective search: rank many candidates cheaply, train the best first.

Why. Training is the only signal here that is known to track accuracy, and it costs seconds to
minutes per candidate; a cheap signal (a training-free proxy, or params/FLOPs) costs milliseconds
and ranks candidates better than chance on many spaces (Abdelfattah et al. 2021 used exactly
this to warm up their searches). So: sample ``samples`` candidates uniformly from the space, repair
them into the budgets as the search would, score each with ``signal`` on the network that will be
trained (adapted to the data), and enqueue the best ``top`` with ``study.enqueue_trial``; the search
trains them first, then its sampler (TPE) takes over with those results in hand. A signal that
ranks badly on the user's data costs only the first ``top`` trials' choice, never correctness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError


@dataclass(frozen=True)
class WarmUp:
    samples: int  # candidates scored with the cheap signal
    top: int  # of those, the best enqueued to be trained first
    signal: str = "synflow"  # any non-train objective (see archbench.search.objectives)

    def __post_init__(self) -> None:
        from .objectives import OBJECTIVES

        if self.samples < 1 or not 1 <= self.top <= self.samples:
            raise ArchbenchError(f"--warmup {self.samples} --warmup-top {self.top}: need 1 <= top <= samples")
        if self.signal not in OBJECTIVES:
            raise ArchbenchError(f"--warmup-signal: expected one of {', '.join(OBJECTIVES)}, got {self.signal!r}")


def score_candidates(space: Any, budgets: list, warm: WarmUp, objective: Any, seed: int = 0,
                     repair_on: bool = True, adapt: Any = None) -> list[tuple[float, dict[str, Any]]]:
    """``(score, parameter values)`` of ``warm.samples`` random candidates, best first (NaN last);
    ``adapt``: price the budgets on the network as trained (as the search does, see ``price``)."""
    import optuna
    import torch

    from .budget import price, repair
    from .objectives import ENSEMBLE, OBJECTIVES, vote_score

    signal = OBJECTIVES[warm.signal]
    sign = 1.0 if signal.direction == "maximize" else -1.0
    sampling = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    scored = []
    for i in range(warm.samples):
        trial = sampling.ask()
        values = space.sample(trial)
        sampling.tell(trial, 0.0)
        spec = space.spec(values, name=f"{space.name}_warmup{i}")
        priced = (repair(spec, budgets, space.min_width, adapt=adapt) if repair_on
                  else price(spec, budgets, adapt))
        if not priced.feasible:
            continue
        model, adapted = objective.model(priced.spec)  # the network that would be trained
        try:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                if warm.signal == "ensemble":  # its voters now; the vote within the sample below
                    value = {name: OBJECTIVES[name].fn(model, adapted.input) for name in ENSEMBLE}
                else:
                    value = (signal.fn(model, adapted.input) if signal.needs_model
                             else signal.fn(price(adapted, [])))
        except ArchbenchError:
            value = math.nan if warm.signal != "ensemble" else {}
        scored.append((value if warm.signal == "ensemble" else sign * float(value), values))
    if warm.signal == "ensemble":  # each candidate's vote score against the other sampled candidates
        votes = [v for v, _ in scored]
        scored = [(vote_score(v, votes[:i] + votes[i + 1:]) if v else math.nan, values)
                  for i, (v, values) in enumerate(scored)]
    scored.sort(key=lambda item: (math.isnan(item[0]), -item[0] if not math.isnan(item[0]) else 0.0))
    return scored


def warm_up(study: Any, space: Any, budgets: list, warm: WarmUp, objective: Any, seed: int = 0,
            repair_on: bool = True, adapt: Any = None) -> list[dict[str, Any]]:
    """Enqueue the ``warm.top`` best-scored candidates in ``study``; returns their parameter values."""
    best = [values for score, values in score_candidates(space, budgets, warm, objective, seed, repair_on, adapt)
            if not math.isnan(score)][:warm.top]
    for values in best:
        study.enqueue_trial(values, user_attrs={"warmup_signal": warm.signal})
    return best
