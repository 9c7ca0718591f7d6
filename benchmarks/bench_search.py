"""Search benchmarks, measured in one run on this machine:

1. the default search as a user runs it, ``archbench search --budget 1.5GFLOPs --trials 50``
   (space inception_v1, the default objective), as a whole process: trials per minute including
   start-up (goal >= 45) and the process's peak resident memory (goal < 1 GB); then the same in this
   process with naswot, the most expensive zero-cost objective, for comparison;
2. orchestration overhead per trial: everything but the objective (sampling, spec, repair, pricing,
   storage) - goal <= 20 ms;
3. fraction of trials inside [0.9, 1.0] of the budget with repair on - goal >= 95%;
4. TPE against random sampling at equal trial counts on the default objective (best value), and
   on naswot + flops (hypervolume of the feasible Pareto front, reference point at the worst
   values seen).

    python benchmarks/bench_search.py [--trials 30]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np

from archbench.search.budget import repair
from archbench.search.defaults import default_objective
from archbench.search.runner import SearchConfig, in_band, prepare, run_search
from archbench.spec.canonical import architecture_hash

from _common import machine


def hypervolume_2d(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both maximized; negate a minimised one) above ``ref``."""
    pts = sorted((p for p in points if p[0] > ref[0] and p[1] > ref[1]), key=lambda p: -p[0])
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y > best_y:
            area += (x - ref[0]) * (y - best_y)
            best_y = y
    return area


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = tempfile.mkdtemp()

    # 1: the default search as a user runs it: a whole process, start-up included
    archbench = shutil.which("archbench") or "archbench"
    command = [archbench, "search", "--budget", "1.5GFLOPs", "--trials", "50", "--results", results]
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"`archbench search --budget 1.5GFLOPs --trials 50` (default objective {default_objective()}): "
          f"{seconds:.1f} s wall = {50 / (seconds / 60):.0f} trials/min (goal >= 45); peak resident memory "
          f"{peak_mb:.0f} MB (goal < 1 GB)")

    # 2-3: naswot in this process (the costliest zero-cost objective), overhead, budget band
    config = SearchConfig(budgets=["1.5GFLOPs"], trials=args.trials, results=results, study="bench_tpe",
                          objectives=["naswot"])
    t0 = time.perf_counter()
    study = run_search(config)
    minutes = (time.perf_counter() - t0) / 60
    done = [t for t in study.trials if t.state.is_finished()]
    print(f"search with naswot (inception_v1, 1.5GFLOPs), in this process: {len(done)} trials in "
          f"{minutes * 60:.0f} s = {len(done) / minutes:.1f} trials/min; peak resident memory of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    space, budgets, _ = prepare(config)
    rng = random.Random(1)
    overhead, usage = [], []
    for _ in range(100):  # what a trial costs besides its objective, on random candidates
        t = time.perf_counter()
        values = {p.name: (rng.uniform(p.low, p.high) if p.kind == "float" else rng.randint(int(p.low), int(p.high))
                           if p.kind == "int" else rng.choice(p.choices)) for p in space.params}
        priced = repair(space.spec(values), budgets, space.min_width)
        architecture_hash(priced.spec)
        overhead.append(time.perf_counter() - t)
        usage.append(priced.tightest)
    print(f"orchestration overhead per trial (sample, spec, repair, hash; no objective, no storage): median "
          f"{statistics.median(overhead) * 1e3:.1f} ms (goal <= 20 ms); storage writes are inside the trials/min above")
    print(f"inside [0.9, 1.0] of the budget with repair on: {100 * np.mean([0.9 <= u <= 1.0 for u in usage]):.1f}% "
          f"of 100 random candidates, {100 * np.mean([in_band(t) for t in done]):.1f}% of the {len(done)} search trials "
          f"(goal >= 95%)")

    # 4: TPE vs random on the default objective, and hypervolume on naswot + flops
    for objectives_ in (["naswot"], ["naswot", "flops"]):
        line = []
        for sampler in ("tpe", "random"):
            cfg = SearchConfig(budgets=["1.5GFLOPs"], trials=args.trials, results=results, sampler=sampler,
                               objectives=objectives_, study=f"{sampler}_{'_'.join(objectives_)}", seed=0)
            s = run_search(cfg)
            ok = [t for t in s.trials if t.state.name == "COMPLETE" and not t.user_attrs.get("infeasible")]
            if len(objectives_) == 1:
                line.append(f"{sampler}: best {max(t.value for t in ok):.3f}")
            else:
                signs = [1 if d.name == "MAXIMIZE" else -1 for d in s.directions]  # flops is minimised
                pts = [tuple(sign * v for sign, v in zip(signs, t.values)) for t in ok]
                line.append((sampler, pts))
        if len(objectives_) == 1:
            print(f"TPE vs random, {args.trials} trials, naswot: " + ", ".join(line))
        else:
            allpts = [p for _, pts in line for p in pts]
            ref = (min(p[0] for p in allpts), min(p[1] for p in allpts))
            hv = {name: hypervolume_2d(pts, ref) for name, pts in line}
            print(f"TPE vs random, {args.trials} trials, naswot + flops: hypervolume tpe {hv['tpe']:.4g}, "
                  f"random {hv['random']:.4g} (reference point: worst values seen)")


if __name__ == "__main__":
    main()
