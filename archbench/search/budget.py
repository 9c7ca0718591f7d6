"""Budgets on a candidate: analytic checks and the width repair, before anything is built.

FLOPs, params and memory budgets are checked with the analytic cost model, before anything is
built: FLOPs and params in a fraction of a millisecond, memory (peak inference memory at batch 1,
fp32, parameters and input included: :func:`archbench.cost.inference_peak_bytes`) in about a
millisecond more. A candidate outside ``[0.9, 1.0]`` of its tightest budget is *repaired*: its
width multiplier is scaled (every conv width through the grammar's one rounding rule, so branch
ratios are kept) until the tightest budget is 90-100% used. Latency is the one budget that needs a
built module; it is checked after the analytic ones (see :mod:`archbench.search.runner`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from ..cost import analyze, inference_peak_bytes
from ..errors import ArchbenchError
from ..spec.schema import Spec
from ..units import Budget

ANALYTIC = ("flops", "params", "memory")
Adapt = Callable[[Spec], Spec]  # the network a candidate becomes where it is used (see ``price``)
MEMORY_BATCH = 1  # a memory budget limits peak inference memory at batch 1, as latency is timed
BAND = (0.9, 1.0)


@dataclass(frozen=True)
class Priced:
    spec: Spec
    flops: int
    params: int
    usage: dict[str, float]  # budget text -> cost / limit (analytic budgets only)
    memory: int | None = None  # peak inference bytes at batch 1; priced only under a memory budget

    @property
    def tightest(self) -> float:
        return max(self.usage.values(), default=0.0)

    @property
    def feasible(self) -> bool:
        return self.tightest <= 1.0


def price(spec: Spec, budgets: list[Budget], adapt: Adapt | None = None) -> Priced:
    """The analytic costs of ``spec`` against ``budgets``; with ``adapt``, the costs of
    ``adapt(spec)`` (the network as trained on the data, ``search --price-at data``). The
    returned ``spec`` is always the candidate itself, which the search stores and trains."""
    costed = adapt(spec) if adapt is not None else spec
    report = analyze(costed)
    costs = {"flops": report.flops, "params": report.params()}
    if any(b.kind == "memory" for b in budgets):
        costs["memory"] = inference_peak_bytes(costed, batch=MEMORY_BATCH)
    usage = {b.text: costs[b.kind] / b.limit for b in budgets if b.kind in ANALYTIC}
    return Priced(spec, costs["flops"], costs["params"], usage, costs.get("memory"))


def repair(spec: Spec, budgets: list[Budget], min_width: float = 0.25, max_width: float = 4.0,
           steps: int = 24, adapt: Adapt | None = None) -> Priced:
    """Scale the width multiplier so the tightest analytic budget is 90-100% used.

    Costs grow roughly with the square of the width (FLOPs and params of convs; memory between
    linearly, for activations, and quadratically, for weights), so each step jumps by the square
    root of the missing ratio; rounding to multiples of 8 makes the cost a step function, so the
    search falls back to bisection between the best bounds seen. Returns
    the best feasible candidate found (which may be below 90% when rounding leaves no width in
    the band), or the unrepaired one when even ``min_width`` is over budget. ``adapt``: as in
    :func:`price`.
    """
    priced = price(spec, budgets, adapt)
    if not priced.usage or BAND[0] <= priced.tightest <= BAND[1]:
        return priced
    w0 = spec.width_multiplier
    lo, hi = min_width, max_width  # widths known to be under / over (after checks)
    best: Priced | None = priced if priced.feasible else None
    w = w0
    target = 0.95
    for _ in range(steps):
        ratio = priced.tightest
        if ratio > BAND[1]:
            hi = min(hi, w)
        else:
            lo = max(lo, w)
            if best is None or priced.tightest > best.tightest:
                best = priced
        if BAND[0] <= ratio <= BAND[1]:
            return priced
        guess = w * (target / ratio) ** 0.5 if ratio > 0 else hi
        w = guess if lo < guess < hi else (lo + hi) / 2
        if hi - lo < 1e-4:
            break
        priced = price(dataclasses.replace(spec, width_multiplier=w), budgets, adapt)
    if priced.feasible and (best is None or priced.tightest > best.tightest):
        best = priced
    return best if best is not None else priced


def check_possible(smallest: Spec, budgets: list[Budget], min_width: float, adapt: Adapt | None = None) -> None:
    """An impossible budget is a user error, before the study starts."""
    narrow = dataclasses.replace(smallest, width_multiplier=min_width * smallest.width_multiplier)
    priced = price(narrow, budgets, adapt)
    over = {text: u for text, u in priced.usage.items() if u > 1.0}
    if over:
        what = ", ".join(f"{text} (it needs {u:.2f}x that)" for text, u in over.items())
        memory = f" and {priced.memory / 1e6:.1f} MB of peak inference memory" if priced.memory is not None else ""
        raise ArchbenchError(
            f"impossible budget: the smallest network of the space (every parameter at its cheapest, width "
            f"multiplier {min_width}{', as trained on the data' if adapt is not None else ''}) costs "
            f"{priced.flops / 1e9:.3f} GFLOPs, {priced.params / 1e6:.2f} M params"
            f"{memory}, over {what}")
