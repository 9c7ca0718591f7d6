"""Speed of the analytic cost model: specs per second, and the ratio to build + fvcore.

Goals (issue 4): GoogLeNet costed in <= 0.2 ms (>= 5,000 specs/s), Inception-ResNet-v2 <= 1 ms.
Memory: ``estimate_memory`` (both peaks, from the spec) against the meta-device replay of the built
module (``estimate_on_meta``, build included), and how far apart their peaks are.

    python benchmarks/bench_cost.py
"""

from __future__ import annotations

import time

import torch

import archbench
from archbench.cost import analyze, estimate_memory
from archbench.profile.counting import count
from archbench.profile.memory import estimate_on_meta

from _common import machine


def per_call(fn, min_time: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def main() -> None:
    print(f"machine: {machine()}")
    for name in ("googlenet", "inception_v3", "inception_resnet_v2"):
        spec = archbench.load_spec(name)
        analytic = per_call(lambda: analyze(spec))
        load = per_call(lambda: archbench.load_spec(name))

        def fvcore_path():
            model = archbench.build(spec).eval()
            count(model, torch.randn(1, *spec.input), [n for n, _ in model.named_children()])

        traced = per_call(fvcore_path, min_time=0.1)
        print(f"{name:20s} analyze {analytic * 1e3:7.3f} ms ({1 / analytic:8.0f} specs/s)   "
              f"load+validate {load * 1e3:6.2f} ms   build+fvcore {traced * 1e3:8.1f} ms   "
              f"speed-up {traced / analytic:8.0f}x")
    for name in ("googlenet", "inception_resnet_v2"):
        spec = archbench.load_spec(name)
        for batch in (1, 32):
            analytic = per_call(lambda: estimate_memory(spec, batch=batch))
            start = time.perf_counter()
            _, _, inference, training = estimate_on_meta(lambda: archbench.build(spec), spec.input, batch)
            replay = time.perf_counter() - start
            est = estimate_memory(spec, batch=batch)
            errors = est.inference_peak_bytes / inference - 1, est.training_peak_bytes / training - 1
            print(f"{name:20s} b{batch:<3d} estimate_memory {analytic * 1e3:6.2f} ms   build+meta replay "
                  f"{replay * 1e3:7.0f} ms   speed-up {replay / analytic:6.0f}x   peaks vs replay: "
                  f"inference {errors[0]:+.2%}, training {errors[1]:+.2%}")


if __name__ == "__main__":
    main()
