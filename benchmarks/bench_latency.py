"""Latency of zoo networks built by archbench against the same networks as plain torch modules.

The plain modules are the reference copies in tests/reference (torchvision/timm code); both are
timed by the same harness, interleaved, on random input. Goal: archbench / reference <= 1.02.

    python benchmarks/bench_latency.py [--batch 8] [names...]
"""

from __future__ import annotations

import argparse

import torch

import archbench
from archbench.profile.latency import measure_latency
from tests.reference import REFERENCE_BUILDERS, REFERENCE_INPUT

from _common import machine

DEFAULT = ["googlenet", "inception_v3", "resnet50"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=DEFAULT)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}, threads {torch.get_num_threads()}, batch {args.batch}")
    for name in args.names:
        ours = archbench.build(name).eval()
        theirs = REFERENCE_BUILDERS[name]().eval()
        shape = REFERENCE_INPUT[name]
        a, b = [], []
        for _ in range(args.rounds):  # interleave so drift hits both alike
            a.append(measure_latency(ours, shape, args.batch, torch.device("cpu"), min_time_s=2.0).median_ms)
            b.append(measure_latency(theirs, shape, args.batch, torch.device("cpu"), min_time_s=2.0).median_ms)
        ma, mb = sorted(a)[len(a) // 2], sorted(b)[len(b) // 2]
        print(f"{name:14s} archbench {ma:8.2f} ms  reference {mb:8.2f} ms  ratio {ma / mb:.3f} (goal <= 1.02)")


if __name__ == "__main__":
    main()
