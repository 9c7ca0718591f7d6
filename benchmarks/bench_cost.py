"""Speed of the analytic cost model on search candidates, and the ratio to build + fvcore.

Goals (issue 12): candidates as the search makes them (random points of the shipped spaces:
width multiplier, per-branch widths, kernels, repeats, merges, scales) priced at
- GoogLeNet (space inception_v1): >= 5,000/s for the analytic costs of a parsed spec (params,
  FLOPs, activations: ``analyze`` and reading its totals), and >= 1,000/s including derivation and
  parsing from the base document already loaded (``SearchSpace.spec``, what every trial does);
- Inception-ResNet-v2 (the inception_resnet space's parameters on inception_resnet_v2): >= 1,000/s.
The unmodified zoo spec is timed beside them (issue 4: <= 0.2 ms for GoogLeNet), with
build + fvcore as the anchor. Memory: ``estimate_memory`` against the meta-device replay of
the built module, on the zoo spec and on sampled candidates (their peaks must be equal); the
peak inference memory a memory budget prices (``inference_peak_bytes``) is timed on candidates.

How candidates are timed: as a search meets them, one at a time, each a fresh random point
(none is priced twice, so no cache sees a candidate again), derived, parsed and priced before the
next is drawn. The first ``WARMUP`` candidates of each space are timed apart ("first"): the
parser and the placement keep the ops and nodes they made, which later candidates share. Each
step is timed around its own call with both clocks, so the derive and the pricing figures come
from the same candidates. CPU time (``time.process_time``) is the figure to read on a loaded
machine; wall time is printed beside it. The former method (200 candidates made first, then
priced in a loop, so every cache holds them) is printed last for comparison with older figures.
Like the search runner, the script freezes what is loaded before the candidates (``gc.freeze``),
so that the collector's full passes do not rescan the libraries and the base documents.

    python benchmarks/bench_cost.py [--quick]
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from importlib import resources
from pathlib import Path

import torch

import archbench
from archbench.cost import analyze, estimate_memory, inference_peak_bytes
from archbench.profile.counting import count
from archbench.profile.memory import estimate_on_meta
from archbench.search.runner import freeze_long_lived
from archbench.search.space import SearchSpace, load_space, parse_space
from archbench.spec.yaml_lines import load_yaml

from _common import machine

def per_call(fn, min_time: float = 1.0, clock=time.perf_counter) -> float:
    n, start = 0, clock()
    while clock() - start < min_time:
        fn()
        n += 1
    return (clock() - start) / n


def cpu_per_call(fn, min_time: float = 1.0) -> float:
    """CPU seconds per call of this (single-threaded) process: on a shared, loaded machine the
    wall time mostly measures the other processes."""
    return per_call(fn, min_time, time.process_time)


def priced(spec) -> tuple[int, int, int]:
    """The analytic costs pricing reads: ``analyze`` and its totals (its per-layer rows are
    counted only when asked for, which pricing does not)."""
    report = analyze(spec)
    return report.flops, report.params(), report.activations


def random_values(space: SearchSpace, rng: random.Random) -> dict:
    """A random point of ``space``, drawn the way a sampler would (conditions respected)."""
    values: dict = {}
    for p in space.params:
        if not p.active(values):
            continue
        if p.kind == "int":
            values[p.name] = rng.randrange(int(p.low), int(p.high) + 1, int(p.step or 1))
        elif p.kind == "float":
            values[p.name] = rng.uniform(p.low, p.high)
        else:
            values[p.name] = rng.choice(p.choices)
    return values


def irv2_space() -> SearchSpace:
    """The shipped inception_resnet space (built on Inception-ResNet-v1) moved onto v2's blocks."""
    path = Path(str(resources.files("archbench.search_spaces"))) / "inception_resnet.yaml"
    text = path.read_text().replace("base: inception_resnet_v1", "base: inception_resnet_v2")
    v2_names = {"1": "repeat.", "2": "repeat_1.", "3": "repeat_2."}  # v1's stages -> v2's block names
    text = re.sub(r"repeat_([123])\.", lambda m: v2_names[m.group(1)], text)
    return parse_space(load_yaml(text, str(path)), str(path) + " (on inception_resnet_v2)")


WARMUP = 300  # candidates timed apart, as the first ones of a search
CYCLED = 200  # the former method: candidates made first, then priced over and over (every cache warm)
GOALS = {"googlenet": (5000, 1000), "inception_resnet_v2": (1000, 1000)}  # analytic /s, derive+parse+costs /s


class Timing:
    """Summed CPU and wall seconds of one step over ``n`` candidates."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def rate(self, n: int, *others: "Timing", wall: bool = False) -> float:
        total = sum((t.wall if wall else t.cpu) for t in (self, *others))
        return n / total if total else float("inf")


def time_candidates(space: SearchSpace, rng: random.Random, count: int | None = None, min_cpu: float = 1.0,
                    memory: bool = False) -> tuple[int, Timing, Timing]:
    """Fresh candidates one at a time: (how many, derive+parse, pricing). Pricing is the analytic
    costs (what a search without a memory budget does), or with ``memory`` the peak inference
    memory alone (what a memory budget adds). Runs ``count`` candidates, or until the timed
    steps have used ``min_cpu`` CPU seconds."""
    derive, pricing = Timing(), Timing()
    cpu, wall = time.process_time, time.perf_counter
    price = inference_peak_bytes if memory else priced
    n = 0
    while (n < count) if count is not None else (derive.cpu + pricing.cpu < min_cpu):
        values = random_values(space, rng)
        c0, w0 = cpu(), wall()
        spec = space.spec(values)
        c1, w1 = cpu(), wall()
        price(spec)
        c2, w2 = cpu(), wall()
        derive.cpu += c1 - c0
        derive.wall += w1 - w0
        pricing.cpu += c2 - c1
        pricing.wall += w2 - w1
        n += 1
    return n, derive, pricing


def price_candidates(label: str, name: str, space: SearchSpace, seconds: float) -> float:
    """Print the candidate rates of one space; returns the analytic seconds per candidate (CPU).
    The inference memory is timed on other fresh candidates after the analytic costs, as a
    search prices it only under a memory budget (timing it between candidates would also time
    how it leaves the processor's caches for the next one)."""
    rng = random.Random(0)
    goal = GOALS.get(name)
    for phase, (n, derive, costs) in (("first", time_candidates(space, rng, count=WARMUP)),
                                      ("then", time_candidates(space, rng, min_cpu=seconds))):
        print(f"{label:40s} {phase:5s} {n:5d} candidates: analytic costs {costs.rate(n):6.0f}/s CPU "
              f"({costs.rate(n, wall=True):6.0f}/s wall)   derive+parse+costs {costs.rate(n, derive):5.0f}/s CPU "
              f"({costs.rate(n, derive, wall=True):5.0f}/s wall)")
    n, _, memory = time_candidates(space, rng, min_cpu=seconds, memory=True)
    print(f"{label:40s} then  {n:5d} other candidates: inference memory (a memory budget) {memory.rate(n):5.0f}/s CPU")
    points = [random_values(space, rng) for _ in range(CYCLED)]
    specs = [space.spec(v) for v in points]
    i, j = iter(range(10**9)), iter(range(10**9))
    cycled = cpu_per_call(lambda: priced(specs[next(i) % CYCLED]), max(seconds / 2, 0.5))
    cycled_full = cpu_per_call(lambda: priced(space.spec(points[next(j) % CYCLED])), max(seconds / 2, 0.5))
    print(f"{label:40s} cycled {CYCLED} candidates (the former method): analytic costs {1 / cycled:6.0f}/s CPU   "
          f"derive+parse+costs {1 / cycled_full:5.0f}/s CPU")
    if goal:
        print(f"{'':40s} goals: analytic >= {goal[0]:,}/s, derive+parse+costs >= {goal[1]:,}/s")
    return 1 / costs.rate(n)


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 0.3 if quick else 1.5
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"candidates: fresh random points of each space (seed 0), the first {WARMUP} timed apart")
    base = {}
    for name in ("googlenet", "inception_v3", "inception_resnet_v2"):
        spec = archbench.load_spec(name)
        analytic = cpu_per_call(lambda: priced(spec), seconds)
        rows = cpu_per_call(lambda: analyze(spec).layers, seconds)
        base[name] = analytic
        load = cpu_per_call(lambda: archbench.load_spec(name), seconds)

        def fvcore_path():
            model = archbench.build(spec).eval()
            count(model, torch.randn(1, *spec.input), [n for n, _ in model.named_children()])

        traced = per_call(fvcore_path, min_time=0.1)
        print(f"{name:20s} unmodified: analytic costs {analytic * 1e3:7.3f} ms ({1 / analytic:8.0f} specs/s), "
              f"with per-layer rows {rows * 1e3:6.3f} ms   "
              f"load+validate {load * 1e3:6.2f} ms (CPU time)   build+fvcore {traced * 1e3:8.1f} ms (wall)   "
              f"speed-up {traced / analytic:8.0f}x")
    spaces = [("googlenet (space inception_v1)", load_space("inception_v1"), "googlenet"),
              ("inception_v3 (space inception_v3)", load_space("inception_v3"), "inception_v3"),
              ("inception_resnet_v2 (inception_resnet)", irv2_space(), "inception_resnet_v2")]
    freeze_long_lived()  # as the search runner does once its space is loaded (archbench.search.runner.prepare)
    for label, space, name in spaces:
        costs = price_candidates(label, name, space, seconds)
        print(f"{'':40s} candidate / unmodified analytic time: {costs / base[name]:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if quick:
        return
    rng = random.Random(1)
    memory_cases = [(name, archbench.load_spec(name)) for name in ("googlenet", "inception_resnet_v2")]
    memory_cases += [(f"{label.split()[0]} candidate", space.spec(random_values(space, rng)))
                     for label, space, _ in spaces[::2]]
    for name, spec in memory_cases:
        for batch in (1, 32):
            analytic = per_call(lambda: estimate_memory(spec, batch=batch))
            start = time.perf_counter()
            _, _, inference, training = estimate_on_meta(lambda: archbench.build(spec), spec.input, batch)
            replay = time.perf_counter() - start
            est = estimate_memory(spec, batch=batch)
            errors = est.inference_peak_bytes / inference - 1, est.training_peak_bytes / training - 1
            print(f"{name:28s} b{batch:<3d} estimate_memory {analytic * 1e3:6.2f} ms   build+meta replay "
                  f"{replay * 1e3:7.0f} ms   speed-up {replay / analytic:6.0f}x   peaks vs replay: "
                  f"inference {errors[0]:+.2%}, training {errors[1]:+.2%}")


if __name__ == "__main__":
    main()
