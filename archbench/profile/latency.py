"""Latency: warm up by time, then repeated timed runs; median, IQR, p90 and throughput.

Timed like ``torch.utils.benchmark`` and triton's ``do_bench``: the model runs in eval mode
under ``torch.inference_mode``; on CUDA each run is bracketed by CUDA events and synchronized,
and ``cudnn.benchmark`` is on (restored after); on CPU ``time.perf_counter`` brackets each run. The spread is
reported, and a result whose IQR exceeds 10% of its median is flagged as too noisy to trust.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

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
    block_shares: dict[str, float] | None = field(default=None, repr=False)  # from the timed runs (CPU)

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d.pop("block_shares")
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


def _noisy(samples: list[float]) -> bool:
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q3 - q1 > NOISY_IQR * statistics.median(samples)


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch: int, device: torch.device,
                    dtype: str = "fp32", channels_last: bool = False, warmup_s: float = 0.1,
                    min_runs: int = 5, min_time_s: float = 0.2, max_runs: int = 200, max_time_s: float = 1.0,
                    blocks: list[str] | None = None) -> LatencyResult:
    """Time ``model`` on random input of ``batch`` images; never raises for out-of-memory.

    Like ``torch.utils.benchmark``'s ``blocked_autorange`` (0.2 s) and triton's ``do_bench``
    (25 ms warm-up, 100 ms of runs), a short measurement: a warm-up of at least one run and
    ``warmup_s``, then at least ``min_runs`` runs and ``min_time_s``, extended up to ``max_time_s``
    while the spread is too wide to trust (the result says ``noisy`` if it stays so). Short by
    default because ``profile``'s whole run is meant to cost little more than fvcore's trace;
    ``bench_latency.py`` measures with longer windows.
    ``blocks`` (CPU only): also time those child modules with hooks during the same runs, into
    :attr:`LatencyResult.block_shares` (a hook costs microseconds against milliseconds per block;
    on CUDA a hook would have to synchronize, so :func:`block_shares` does it in a separate pass).
    """
    result = LatencyResult(batch=batch, device=str(device), dtype=dtype, channels_last=channels_last)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    timer: _BlockTimer | None = None
    autotune = torch.backends.cudnn.benchmark  # turned on for the runs, then given back as it was
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
            timer = _BlockTimer(model, blocks) if blocks and not cuda else None
            begin = time.perf_counter()

            def more() -> bool:
                spent = time.perf_counter() - begin
                return len(samples) < max_runs and (len(samples) < min_runs or spent < min_time_s
                                                    or (spent < max_time_s and _noisy(samples)))

            while more():
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
            if timer is not None:
                timer.remove()
                result.block_shares = timer.shares()
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        if not _is_oom(exc) and "autocast" not in str(exc).lower() and "not implemented" not in str(exc).lower():
            raise
        result.error = ("out of memory at batch %d" % batch) if _is_oom(exc) else str(exc).splitlines()[0]
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return result
    finally:
        if timer is not None:
            timer.remove()
        torch.backends.cudnn.benchmark = autotune
    return _summary(result, samples)


class _BlockTimer:
    """Time spent inside each named child module, from forward pre-/post-hooks; ``now`` is the clock
    (on CUDA one that synchronizes first)."""

    def __init__(self, model: nn.Module, blocks: list[str], now: Callable[[], float] = time.perf_counter) -> None:
        named = dict(model.named_modules())
        self.spent = dict.fromkeys(blocks, 0.0)
        starts: dict[str, float] = {}
        self.hooks = []
        for name in blocks:
            self.hooks.append(named[name].register_forward_pre_hook(lambda m, i, n=name: starts.__setitem__(n, now())))
            self.hooks.append(named[name].register_forward_hook(
                lambda m, i, o, n=name: self.spent.__setitem__(n, self.spent[n] + now() - starts[n])))

    def reset(self) -> None:
        self.spent = dict.fromkeys(self.spent, 0.0)

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()

    def shares(self) -> dict[str, float]:
        total = sum(self.spent.values()) or 1.0
        return {k: v / total for k, v in self.spent.items()}


def block_shares(model: nn.Module, x: torch.Tensor, blocks: list[str], dtype: str = "fp32", reps: int = 3) -> dict[str, float]:
    """Fraction of the forward time spent in each block, timed with hooks around each block.

    Hooks synchronize on CUDA, which slows the whole pass; only the shares are reported.
    """
    cuda = x.device.type == "cuda"

    def now() -> float:
        if cuda:
            torch.cuda.synchronize(x.device)
        return time.perf_counter()

    timer = _BlockTimer(model, blocks, now)
    try:
        with torch.inference_mode(), autocast(x.device, dtype):
            model(x)  # one untimed pass
            timer.reset()
            for _ in range(reps):
                model(x)
    finally:
        timer.remove()
    return timer.shares()
