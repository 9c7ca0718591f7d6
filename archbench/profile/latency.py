"""Latency: warm up by time, then repeated timed runs; median, IQR, p90 and throughput.

Timed like ``torch.utils.benchmark`` and triton's ``do_bench``: the model runs in eval mode
under ``torch.inference_mode``; on CUDA each run is bracketed by CUDA events and synchronized,
and ``cudnn.benchmark`` is on; on CPU ``time.perf_counter`` brackets each run. The spread is
reported, and a result whose IQR exceeds 10% of its median is flagged as too noisy to trust.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

# resolve_device is re-exported: the profiler and its callers import it from here.
from ..nn.device import autocast, resolve_device

NOISY_IQR = 0.10


@dataclass
class LatencyResult:
    batch: int
    device: str
    dtype: str
    channels_last: bool
    runs: int = 0
    median_ms: float | None = None
    iqr_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    throughput: float | None = None  # images per second at the median
    noisy: bool = False
    error: str | None = None  # e.g. out of memory at this batch size
    samples_ms: list[float] = field(default_factory=list, repr=False)

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not samples:
            d.pop("samples_ms")
        return d


def _summary(result: LatencyResult, samples: list[float]) -> LatencyResult:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=20, method="inclusive") if len(samples) > 1 else [samples[0]] * 19
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else (samples[0],) * 3
    result.runs = len(samples)
    result.median_ms = statistics.median(samples)
    result.iqr_ms = q3 - q1
    result.p90_ms = q[17]
    result.mean_ms = statistics.fmean(samples)
    result.throughput = result.batch / (result.median_ms / 1e3)
    result.noisy = result.iqr_ms > NOISY_IQR * result.median_ms
    result.samples_ms = samples
    return result


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch: int, device: torch.device,
                    dtype: str = "fp32", channels_last: bool = False, warmup_s: float = 0.5,
                    min_runs: int = 10, min_time_s: float = 1.0, max_runs: int = 200) -> LatencyResult:
    """Time ``model`` on random input of ``batch`` images; never raises for out-of-memory."""
    result = LatencyResult(batch=batch, device=str(device), dtype=dtype, channels_last=channels_last)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    try:
        model = model.to(device=device, memory_format=memory_format).eval()
        x = torch.randn(batch, *input_shape, device=device).to(memory_format=memory_format)
        cuda = device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True

        def run() -> None:
            with autocast(device, dtype):
                model(x)

        with torch.inference_mode():
            start = time.perf_counter()
            while True:  # warm up by time: caches, cuDNN autotuning, oneDNN primitive creation
                run()
                if cuda:
                    torch.cuda.synchronize(device)
                if time.perf_counter() - start >= warmup_s:
                    break
            samples: list[float] = []
            begin = time.perf_counter()
            while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - begin < min_time_s):
                if cuda:
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    run()
                    e.record()
                    torch.cuda.synchronize(device)
                    samples.append(s.elapsed_time(e))
                else:
                    t0 = time.perf_counter()
                    run()
                    samples.append((time.perf_counter() - t0) * 1e3)
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        if not _is_oom(exc) and "autocast" not in str(exc).lower() and "not implemented" not in str(exc).lower():
            raise
        result.error = ("out of memory at batch %d" % batch) if _is_oom(exc) else str(exc).splitlines()[0]
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return result
    return _summary(result, samples)


def block_shares(model: nn.Module, x: torch.Tensor, blocks: list[str], dtype: str = "fp32", reps: int = 3) -> dict[str, float]:
    """Fraction of the forward time spent in each block, timed with hooks around each block.

    Hooks synchronize on CUDA, which slows the whole pass; only the shares are reported.
    """
    named = dict(model.named_modules())
    spent = dict.fromkeys(blocks, 0.0)
    starts: dict[str, float] = {}
    cuda = x.device.type == "cuda"

    def now() -> float:
        if cuda:
            torch.cuda.synchronize(x.device)
        return time.perf_counter()

    hooks = []
    for name in blocks:
        hooks.append(named[name].register_forward_pre_hook(lambda m, i, n=name: starts.__setitem__(n, now())))
        hooks.append(named[name].register_forward_hook(
            lambda m, i, o, n=name: spent.__setitem__(n, spent[n] + now() - starts[n])))
    try:
        with torch.inference_mode(), autocast(x.device, dtype):
            model(x)  # one untimed pass
            spent = dict.fromkeys(blocks, 0.0)
            for _ in range(reps):
                model(x)
    finally:
        for h in hooks:
            h.remove()
    total = sum(spent.values()) or 1.0
    return {k: v / total for k, v in spent.items()}
