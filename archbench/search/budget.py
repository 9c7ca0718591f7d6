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
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cost import analyze, inference_peak_bytes
from ..errors import ArchbenchError, ShapeError, SpecError
from ..spec.schema import Spec
from ..units import Budget

ANALYTIC = ("flops", "params", "memory")
Adapt = Callable[[Spec], Spec]  # the network a candidate becomes where it is used (see ``price``)
MEMORY_BATCH = 1  # a memory budget limits peak inference memory at batch 1, as latency is timed
BAND = (0.9, 1.0)
MAX_WIDTH = 4.0  # the widest width multiplier the repair may give a candidate


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


def repair(spec: Spec, budgets: list[Budget], min_width: float = 0.25, max_width: float = MAX_WIDTH,
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
        what = ", ".join(f"{text} (it needs {u:,.0f}x that)" if u >= 10 else f"{text} (it needs {u:.2f}x that)"
                         for text, u in over.items())
        memory = f" and {priced.memory / 1e6:.1f} MB of peak inference memory" if priced.memory is not None else ""
        raise ArchbenchError(
            f"impossible budget: the smallest network of the space (every parameter at its cheapest, width "
            f"multiplier {min_width}{', as trained on the data' if adapt is not None else ''}) costs "
            f"{priced.flops / 1e9:.3f} GFLOPs, {priced.params / 1e6:.2f} M params"
            f"{memory}, over {what}")


def largest_network(space: Any, budgets: list[Budget], width: float | None, adapt: Adapt | None = None) -> Priced:
    """The costliest network a trial may be: every number of the space at its high end, each
    categorical at its costliest choice (tried one parameter at a time, so a heuristic where
    choices interact), at width multiplier ``width`` (the repair's widest; None: the space's
    own). Priced against ``budgets`` (analytic ones)."""
    def priced(choices: dict[str, Any]) -> Priced | None:
        try:
            spec = space.spec(space.largest(choices))
        except (SpecError, ShapeError):  # a combination the space cannot build: not a candidate
            return None
        if width is not None:
            spec = dataclasses.replace(spec, width_multiplier=width)
        return price(spec, budgets, adapt)

    def cost(choices: dict[str, Any]) -> float:
        found = priced(choices)
        return -math.inf if found is None else max(found.usage.values(), default=0.0)

    chosen: dict[str, Any] = {}
    for p in space.params:
        if p.kind == "categorical" and p.active(space.largest(chosen)):
            chosen[p.name] = max(p.choices, key=lambda c: cost({**chosen, p.name: c}))
    return priced(chosen) or price(space.spec(space.largest()), budgets, adapt)


_SCALE = {"flops": (1e9, "GFLOPs"), "params": (1e6, "M params"), "memory": (1e6, "MB")}


def _si(value: float) -> str:
    """``1.5 G`` for 1.5e9: a count as the budget units write it."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:g} {prefix}"
    return f"{value:g}"


def unitless(budget: Budget) -> bool:
    """``1.5G``: a params budget written without a unit (maybe meant as FLOPs)."""
    return budget.kind == "params" and not budget.text.rstrip().lower().endswith(("param", "params"))


def loose_budget_notes(space: Any, budgets: list[Budget], repair_on: bool, adapt: Adapt | None = None) -> list[str]:
    """One warning per analytic budget that even the largest network of the space leaves more
    than 10% unused: legal, but no trial can reach the 90-100% band the repair promises. A
    unit-less number (read as params) says so and suggests a unit."""
    checked = [b for b in budgets if b.kind in ANALYTIC]
    if not checked:
        return []
    width = MAX_WIDTH if repair_on else None
    top = largest_network(space, checked, width, adapt)
    costs = {"flops": top.flops, "params": top.params, "memory": top.memory}
    notes = []
    for b in checked:
        used = top.usage[b.text]
        if used >= BAND[0]:
            continue
        scale, unit = _SCALE[b.kind]
        amount = costs[b.kind] / scale
        shown = f"{amount:,.0f}" if amount >= 1000 else f"{amount:.3g}"
        read = (f" reads as {_si(b.limit)} params (a number without a unit counts parameters; write "
                f"{b.text.strip()}FLOPs for FLOPs), far" if unitless(b) else " is far")
        widths = f"widths x{width:g}" if width is not None else "widest sampled widths"
        notes.append(f"--budget {b.text}{read} above the space: its largest network ({widths}, every choice at its "
                     f"costliest) has {shown} {unit}, {used * 100:.2g}% of it; "
                     + ("no trial can reach the 90-100% the repair aims for." if width is not None
                        else "no trial can use more."))
    return notes


def latency_note(budgets: list[Budget], repair_on: bool) -> str | None:
    """A latency budget is checked on the built network, never repaired: say so before a search."""
    timed = [b.text for b in budgets if b.kind == "latency"]
    if not timed or not repair_on:
        return None
    scaled = ("" if any(b.kind in ANALYTIC for b in budgets) else
              " Add a FLOPs budget beside it to have widths scaled down.")
    return (f"--budget {', '.join(timed)}: latency is timed on each built candidate and checked, not repaired "
            "(the repair scales widths into FLOPs, params and memory budgets only): a candidate over it is "
            f"infeasible (latency_ms and over_budget in the trials table).{scaled}")
