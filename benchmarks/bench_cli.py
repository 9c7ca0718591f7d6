"""Whole-process timings of the CLI against bare anchors.

1. `archbench profile googlenet` (every section: counts, analytic check, memory, latency) and
   `archbench profile googlenet --no-latency --no-memory`, against a bare script that imports torch
   and fvcore, builds the same network and calls FlopCountAnalysis(...).total() (goals <= 1.5x and
   <= 1.1x). The three run interleaved, round after round, so that a load change on the machine
   hits all three alike; the medians and the median of the per-round ratios are printed.
2. `archbench --help` and `archbench zoo` (goal < 0.5 s, and torch is never imported).

    python benchmarks/bench_cli.py [ROUNDS]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from _common import PYTHON, machine, time_process

BARE = """
import torch
from fvcore.nn import FlopCountAnalysis
from tests.reference.torchvision_models import googlenet
m = googlenet(aux_logits=False).eval()
f = FlopCountAnalysis(m, torch.randn(1, 3, 224, 224))
f.unsupported_ops_warnings(False)
print(f.total())
"""


def _once(args: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one whole process. On a loaded machine the wall
    time mostly measures the scheduler; the CPU time is the work done (threads that spin while
    waiting for a core inflate it somewhat)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    archbench = shutil.which("archbench") or "archbench"
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    commands = {
        "bare": [PYTHON, "-c", BARE],
        "profile": [archbench, "profile", "googlenet"],
        "counts": [archbench, "profile", "googlenet", "--no-latency", "--no-memory"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for i in range(rounds):
        for key, args in commands.items():
            wall, used = _once(args)
            times[key].append(wall)
            cpu[key].append(used)
        print(f"round {i + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f} s wall / {cpu[k][-1]:.2f} s CPU"
                                             for k in commands), flush=True)
    print(f"{rounds} interleaved rounds; load average {os.getloadavg()[0]:.1f} at the end")
    for name, series in (("wall", times), ("CPU", cpu)):
        bare = statistics.median(series["bare"])
        print(f"{name}: bare fvcore script (import torch+fvcore, build googlenet, FlopCountAnalysis.total): {bare:.2f} s")
        for key, label, goal in (("profile", "archbench profile googlenet (all sections)", 1.5),
                                 ("counts", "archbench profile googlenet --no-latency --no-memory", 1.1)):
            ratios = [t / b for t, b in zip(series[key], series["bare"])]
            print(f"{name}: {label}: {statistics.median(series[key]):.2f} s  ratio of medians "
                  f"{statistics.median(series[key]) / bare:.2f}x, median of per-round ratios "
                  f"{statistics.median(ratios):.2f}x (goal <= {goal}x)")
    for args in (["--help"], ["zoo"]):
        t = time_process([archbench, *args], repeats=5)
        print(f"archbench {' '.join(args)}: {t:.3f} s (goal < 0.5 s)")
    check = subprocess.run([PYTHON, "-c", "import sys; from archbench.cli.app import app; from typer.testing import CliRunner;"
                            "CliRunner().invoke(app, ['zoo']); print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"torch imported by `archbench zoo`: {check}")


if __name__ == "__main__":
    main()
