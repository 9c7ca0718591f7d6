"""Whole-process timings of the CLI against bare anchors.

1. `archbench profile googlenet --no-latency --no-memory` against a bare script that imports torch
   and fvcore, builds the same network and calls FlopCountAnalysis(...).total() (goal <= 1.2x).
2. `archbench --help` and `archbench zoo` (goal < 0.5 s, and torch is never imported).

    python benchmarks/bench_cli.py
"""

from __future__ import annotations

import shutil
import subprocess

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


def main() -> None:
    archbench = shutil.which("archbench") or "archbench"
    print(f"machine: {machine()}")
    bare = time_process([PYTHON, "-c", BARE])
    prof = time_process([archbench, "profile", "googlenet", "--no-latency", "--no-memory"])
    prof_mem = time_process([archbench, "profile", "googlenet", "--no-latency"])
    print(f"bare fvcore script (import torch+fvcore, build googlenet, FlopCountAnalysis.total): {bare:.2f} s")
    print(f"archbench profile googlenet --no-latency --no-memory: {prof:.2f} s  ratio {prof / bare:.2f}x (goal <= 1.2x)")
    print(f"archbench profile googlenet --no-latency (with the memory estimate): {prof_mem:.2f} s  ratio {prof_mem / bare:.2f}x")
    for args in (["--help"], ["zoo"]):
        t = time_process([archbench, *args], repeats=5)
        print(f"archbench {' '.join(args)}: {t:.3f} s (goal < 0.5 s)")
    check = subprocess.run([PYTHON, "-c", "import sys; from archbench.cli.app import app; from typer.testing import CliRunner;"
                            "CliRunner().invoke(app, ['zoo']); print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"torch imported by `archbench zoo`: {check}")


if __name__ == "__main__":
    main()
