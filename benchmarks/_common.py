"""Helpers shared by the benchmark scripts: timing whole processes and describing the machine."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import importlib.metadata as md

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {md.version('torch')}, fvcore {md.version('fvcore')}")


def time_process(args: list[str], repeats: int = 3) -> float:
    """Median wall time of a whole process (start-up and imports included), in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


PYTHON = sys.executable
