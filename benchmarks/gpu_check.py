"""One prepared GPU run: latency, roofline, memory against the estimates, AMP training, references.

Device time is short (minutes, each machine start costs some), so everything archbench claims about
GPUs is measured by this one command, inside a time budget, and written to one JSON and one
Markdown file. For googlenet, inception_v3, resnet50 and inception_resnet_v2 at batch 1, 32, 128:

- **latency** with CUDA events after a timed warm-up (``cudnn.benchmark`` on), in fp32 (NCHW and
  channels_last), bf16 and fp16 autocast (channels_last; bf16 NCHW too), and a CUDA-graph replay
  of the bf16 channels_last forward where capture works: median, IQR, p90, p99, images/s;
- **roofline efficiency**: achieved TFLOP/s (2 x archbench's multiply-adds per image x images/s)
  against the peak of a large square GEMM measured on the same device in the same dtype (fp32 is
  compared with TF32 GEMMs when cuDNN may use TF32, torch's default for convolutions);
- **memory**: ``torch.cuda.max_memory_allocated`` (above what was allocated before the model) of
  inference and of one training step with SGD+momentum and with AdamW (``foreach=False``, as the
  estimates model it; AdamW's default ``foreach`` step is measured too), against
  ``archbench.cost.estimate_memory`` and the meta-device replay (``estimate_on_meta``; run in
  worker processes on the CPU while the GPU works);
- **training**: ``archbench.train.fit`` with AMP and channels_last against a hand-written bf16
  AMP loop on the same model, data and optimizer, rounds interleaved;
- **references**: archbench-built modules against the copies in ``tests/reference/``, same
  input and settings, measured alternately round after round.

Cases run in priority order; when the budget (``--budget``, default 420 s) would be overrun by the
next case it is skipped and listed with the reason, so the run ends in time and says what is
missing. On a machine without CUDA it exits 2 with a message (``--allow-cpu`` runs the same
pipeline on the CPU, for the tests).

Run on the device machine (see docs/gpu.md for carrying fvcore/optuna as wheels):

    python benchmarks/gpu_check.py --out $OUT            # full, about 7 minutes on an H200
    python benchmarks/gpu_check.py --quick --out $OUT    # about 2 minutes
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import copy
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # archbench and tests.reference from this checkout

NETWORKS = ("googlenet", "inception_v3", "resnet50", "inception_resnet_v2")
BATCHES = (1, 32, 128)
# (name, autocast dtype, channels_last, CUDA graph); the first two are the headline numbers.
VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "fp32": ("fp32", False, False),
    "bf16-cl": ("bf16", True, False),
    "bf16-cl-graph": ("bf16", True, True),
    "fp32-cl": ("fp32", True, False),
    "bf16": ("bf16", False, False),
    "fp16-cl": ("fp16", True, False),
}
QUICK_VARIANTS = ("fp32", "bf16-cl", "bf16-cl-graph")
# Conservative seconds per case on an H100/H200, used only to decide whether a case still fits.
ESTIMATE_S = {"peak": 4.0, "latency": 3.0, "reference": 8.0, "memory": 4.0, "train": 45.0, "meta": 0.0}
DEFAULT_BUDGET_S = 420.0
EXIT_NO_CUDA = 2


# ----------------------------------------------------------------------------- pure parts

def quantile(sorted_samples: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted samples, 0 <= q <= 1."""
    if not sorted_samples:
        raise ValueError("quantile of no samples")
    pos = q * (len(sorted_samples) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_samples) - 1)
    return sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float], batch: int) -> dict[str, float]:
    """Median, IQR, p90, p99, mean and min of per-run milliseconds, and images/s at the median."""
    s = sorted(samples_ms)
    median = quantile(s, 0.5)
    return {"runs": len(s), "median_ms": median, "iqr_ms": quantile(s, 0.75) - quantile(s, 0.25),
            "p90_ms": quantile(s, 0.90), "p99_ms": quantile(s, 0.99), "mean_ms": sum(s) / len(s),
            "min_ms": s[0], "images_per_s": batch / (median / 1e3)}


def gemm_tflops(n: int, ms: float) -> float:
    """TFLOP/s of one n x n x n matrix product (2 n^3 floating-point operations) taking ``ms``."""
    return 2 * n ** 3 / (ms / 1e3) / 1e12


def roofline(macs_per_image: int, images_per_s: float, peak_tflops: float | None) -> dict[str, float | None]:
    """Achieved TFLOP/s (two operations per multiply-add, archbench counting multiply-adds as FLOPs,
    the fvcore convention) and its fraction of the measured GEMM peak."""
    achieved = 2 * macs_per_image * images_per_s / 1e12
    return {"achieved_tflops": achieved, "efficiency": achieved / peak_tflops if peak_tflops else None}


def relative_error(estimate: float | None, measured: float | None) -> float | None:
    """(estimate - measured) / measured: positive when the estimate is high."""
    if estimate is None or not measured:
        return None
    return (estimate - measured) / measured


@dataclass(frozen=True)
class Case:
    """One unit of work: ``kind`` is peak, latency, reference, memory, train or meta."""

    kind: str
    network: str = ""
    batch: int = 0
    variant: str = ""  # latency/reference: a VARIANTS key; memory/meta: an optimizer; peak: a dtype

    @property
    def label(self) -> str:
        return " ".join(str(x) for x in (self.kind, self.network, f"batch {self.batch}" if self.batch else "",
                                          self.variant) if x)


def plan_cases(networks: Sequence[str] = NETWORKS, batches: Sequence[int] = BATCHES, quick: bool = False,
               train_network: str | None = None) -> list[Case]:
    """Every case, most important first, so that a budget cut loses the least.

    Order: GEMM peaks (the roofline needs them); fp32 and bf16-channels_last latency and the
    SGD memory of every network and batch (the headline numbers); then the CUDA-graph variant,
    AdamW memory, the reference comparison and the training comparison; then the remaining
    variants. Meta replays run in worker processes beside everything and are listed last.
    ``quick`` keeps three variants, drops the last tier, and uses at most the two smallest batches.
    """
    train_batch = min(64, max(batches))
    batches = sorted(batches)[:2] if quick else list(batches)
    variants = [v for v in VARIANTS if not quick or v in QUICK_VARIANTS]
    grid = [(n, b) for n in networks for b in batches]
    cases = [Case("peak", variant=d) for d in ("fp32", "tf32", "bf16", "fp16")]
    cases += [Case("latency", n, b, v) for n, b in grid for v in ("fp32", "bf16-cl")]
    cases += [Case("memory", n, b, "sgd-momentum") for n, b in grid]
    cases += [Case("latency", n, b, "bf16-cl-graph") for n, b in grid if "bf16-cl-graph" in variants]
    cases += [Case("memory", n, b, "adamw") for n, b in grid]
    cases += [Case("reference", n, b, "bf16-cl") for n, b in grid]
    cases.append(Case("train", train_network or networks[0], train_batch, "bf16"))
    if not quick:
        cases += [Case("reference", n, b, "fp32") for n, b in grid]
        cases += [Case("memory", n, b, "adamw-foreach") for n, b in grid]
        cases += [Case("latency", n, b, v) for n, b in grid for v in variants
                  if v not in ("fp32", "bf16-cl", "bf16-cl-graph")]
    cases += [Case("meta", n, b, o) for n, b in grid for o in ("sgd-momentum", "adamw")]
    return cases


class Budget:
    """A wall-clock allowance for the whole run; a case is admitted only if its estimate still fits."""

    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self.clock = clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return self.limit_s - self.elapsed()

    def admit(self, estimate_s: float) -> str | None:
        """None when a case of ``estimate_s`` seconds fits, else the reason it is skipped."""
        left = self.left()
        if left < estimate_s:
            return f"time budget: {max(left, 0.0):.0f} s of {self.limit_s:.0f} s left, the case needs about {estimate_s:.0f} s"
        return None


@dataclass
class Record:
    """What one case produced: its measurements, or the error that stopped it."""

    case: Case
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def _memory_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per (network, batch, optimizer) joining the CUDA measurement, the analytic estimate
    and the meta replay, with relative errors of both estimates against the CUDA peak."""
    measured = {(r.case.network, r.case.batch, r.case.variant): r for r in records if r.case.kind == "memory"}
    meta = {(r.case.network, r.case.batch, r.case.variant): r for r in records if r.case.kind == "meta"}
    rows = []
    for key in list(measured) + [k for k in meta if k not in measured]:
        network, batch, optimizer = key
        r, m = measured.get(key), meta.get(key)
        row: dict[str, Any] = {"network": network, "batch": batch, "optimizer": optimizer,
                               "error": r.error if r else None, "meta_error": m.error if m else None}
        row.update(r.data if r else {})
        row["meta_inference_bytes"] = m.data.get("inference_bytes") if m else None
        row["meta_training_bytes"] = m.data.get("training_bytes") if m else None
        for what in ("inference", "training"):
            cuda, analytic = row.get(f"cuda_{what}_bytes"), row.get(f"analytic_{what}_bytes")
            row[f"analytic_{what}_error"] = relative_error(analytic, cuda)
            row[f"meta_{what}_error"] = relative_error(row[f"meta_{what}_bytes"], cuda)
            row[f"analytic_vs_meta_{what}"] = relative_error(analytic, row[f"meta_{what}_bytes"])
        rows.append(row)
    return rows


def _reference_rows(records: list[Record]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        if r.case.kind == "reference":
            rows.append({"network": r.case.network, "batch": r.case.batch, "variant": r.case.variant,
                         "error": r.error, **r.data})
    return rows


def assemble(machine: dict[str, Any], records: list[Record], skipped: list[tuple[Case, str]],
             budget: Budget, settings: dict[str, Any]) -> dict[str, Any]:
    """The whole result as one JSON-able dict: machine, settings, peaks, then one list per kind."""
    peaks = {r.case.variant: r.data.get("tflops") for r in records if r.case.kind == "peak" and not r.error}
    latency = []
    for r in records:
        if r.case.kind == "latency":
            latency.append({"network": r.case.network, "batch": r.case.batch, "variant": r.case.variant,
                            "error": r.error, **r.data})
    train = [{"network": r.case.network, "batch": r.case.batch, "error": r.error, **r.data}
             for r in records if r.case.kind == "train"]
    errors = [{"case": r.case.label, "error": r.error} for r in records if r.error]
    return {"machine": machine, "settings": settings, "elapsed_s": round(budget.elapsed(), 1),
            "budget_s": budget.limit_s, "peaks_tflops": peaks, "latency": latency,
            "memory": _memory_rows(records), "reference": _reference_rows(records), "train": train,
            "skipped": [{"case": c.label, "reason": why} for c, why in skipped], "errors": errors}


def _fmt(value: Any, spec: str = ".2f", scale: float = 1.0, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value * scale:{spec}}{suffix}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _memory_cells(row: dict[str, Any]) -> list[str]:
    """MiB and relative errors of one memory row, then a note (an error, or why CUDA is missing)."""
    cells = []
    for what in ("inference", "training"):
        cells += [_fmt(row.get(f"cuda_{what}_bytes"), ".1f", 2 ** -20),
                  _fmt(row.get(f"analytic_{what}_bytes"), ".1f", 2 ** -20),
                  _fmt(row.get(f"analytic_{what}_error"), "+.1f", 100, "%"),
                  _fmt(row.get(f"meta_{what}_bytes"), ".1f", 2 ** -20),
                  _fmt(row.get(f"meta_{what}_error"), "+.1f", 100, "%")]
    notes = [x for x in (row.get("error"), row.get("cuda_note"), row.get("meta_error") and f"meta: {row['meta_error']}") if x]
    return cells + [_fmt(row.get("cuda_second_step_bytes"), ".1f", 2 ** -20), "; ".join(notes)]


def markdown(result: dict[str, Any]) -> str:
    """The result as Markdown: machine, peaks, then one table per kind, then what was skipped."""
    m = result["machine"]
    out = [f"# archbench GPU check", "", f"Machine: {m.get('description', '-')}", "",
           f"Run: {result['elapsed_s']} s of a {result['budget_s']:.0f} s budget; settings: "
           + ", ".join(f"{k}={v}" for k, v in result["settings"].items()), ""]
    out += ["## GEMM peaks (square matrix product)", ""]
    out += _table(["dtype", "TFLOP/s"], [[d, _fmt(t, ".1f")] for d, t in result["peaks_tflops"].items()])
    out += ["## Latency (CUDA events; ms per batch)", ""]
    out += _table(["network", "batch", "variant", "median", "IQR", "p90", "p99", "images/s", "TFLOP/s", "of peak"],
                  [[r["network"], str(r["batch"]), r["variant"]] +
                   ([_fmt(r.get(k), ".3f") for k in ("median_ms", "iqr_ms", "p90_ms", "p99_ms")] +
                    [_fmt(r.get("images_per_s"), ".0f"), _fmt(r.get("achieved_tflops"), ".1f"),
                     _fmt(r.get("efficiency"), ".1f", 100, "%")] if not r["error"] else [f"error: {r['error']}"] + [""] * 6)
                   for r in result["latency"]])
    out += ["## Memory (MiB; err = the estimate against the CUDA peak, positive when high)", ""]
    out += _table(["network", "batch", "optimizer", "CUDA inference", "analytic", "err", "meta", "err",
                   "CUDA train step", "analytic", "err", "meta", "err", "CUDA 2nd step", "note"],
                  [[r["network"], str(r["batch"]), r["optimizer"]] + _memory_cells(r) for r in result["memory"]])
    out += ["## archbench-built against the reference implementations (interleaved rounds)", ""]
    out += _table(["network", "batch", "variant", "built ms", "reference ms", "built / reference", "rounds"],
                  [[r["network"], str(r["batch"]), r["variant"]] +
                   ([_fmt(r.get("built_ms"), ".3f"), _fmt(r.get("reference_ms"), ".3f"), _fmt(r.get("ratio"), ".3f"),
                     ", ".join(f"{x:.3f}" for x in r.get("round_ratios", []))] if not r["error"] else [f"error: {r['error']}", "", "", ""])
                   for r in result["reference"]])
    out += ["## Training throughput with AMP (images/s)", ""]
    out += _table(["network", "batch", "archbench.train.fit", "plain AMP loop", "fit / plain", "rounds (fit/plain)"],
                  [[r["network"], str(r["batch"])] +
                   ([_fmt(r.get("fit_images_per_s"), ".0f"), _fmt(r.get("plain_images_per_s"), ".0f"),
                     _fmt(r.get("ratio"), ".3f"), ", ".join(f"{x:.3f}" for x in r.get("round_ratios", []))]
                    if not r["error"] else [f"error: {r['error']}", "", "", ""]) for r in result["train"]])
    if result["skipped"]:
        out += ["## Skipped", ""] + [f"- {s['case']}: {s['reason']}" for s in result["skipped"]] + [""]
    if result["errors"]:
        out += ["## Errors", ""] + [f"- {e['case']}: {e['error']}" for e in result["errors"]] + [""]
    return "\n".join(out)


def write_outputs(result: dict[str, Any], out_dir: Path, stem: str = "gpu_check") -> tuple[Path, Path]:
    """``<stem>.json`` (everything) and ``<stem>.md`` (the tables) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    js.write_text(json.dumps(result, indent=1, default=str) + "\n")
    md.write_text(markdown(result) + "\n")
    return js, md


# ----------------------------------------------------------------------------- measurements (torch)

def _torch() -> Any:
    import torch
    return torch


def describe_machine(device: Any) -> dict[str, Any]:
    """GPU, driver/CUDA/cuDNN versions, TF32 settings, CPU and library versions."""
    torch = _torch()
    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cpu_cores": os.cpu_count(), "platform": platform.platform()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2 ** 30, 1), sm_count=p.multi_processor_count,
                    capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
        info["description"] = (f"{p.name} ({info['gpu_memory_gib']} GiB, {p.multi_processor_count} SMs), CUDA {torch.version.cuda}, "
                               f"cuDNN {info['cudnn']}, torch {torch.__version__}, {os.cpu_count()} CPU cores")
    else:
        info["description"] = f"CPU only ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}"
    return info


def _sync(device: Any) -> None:
    if device.type == "cuda":
        _torch().cuda.synchronize(device)


def time_runs(fn: Callable[[], Any], device: Any, warmup_s: float, min_runs: int, min_time_s: float,
              max_runs: int) -> list[float]:
    """Milliseconds of each run of ``fn`` after warming up for ``warmup_s`` (at least 3 runs):
    bracketed by CUDA events and synchronized on CUDA, by ``perf_counter`` elsewhere."""
    torch = _torch()
    start = time.perf_counter()
    for i in range(10 ** 6):
        fn()
        _sync(device)
        if i >= 2 and time.perf_counter() - start >= warmup_s:
            break
    samples: list[float] = []
    begin = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - begin < min_time_s):
        if device.type == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            samples.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    return samples


@dataclass
class Timing:
    """How long to time each case: the full run's defaults suit an H100/H200."""

    warmup_s: float = 0.25
    min_runs: int = 20
    min_time_s: float = 0.4
    max_runs: int = 300
    rounds: int = 4  # reference comparison: alternating rounds per model
    gemm_n: int = 8192
    train_steps: int = 12


def gemm_peak(device: Any, dtype: str, timing: Timing) -> dict[str, Any]:
    """TFLOP/s of an n x n GEMM in ``dtype`` (``tf32``: fp32 with TF32 allowed, as cuDNN's convs)."""
    torch = _torch()
    tdtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    n = timing.gemm_n
    a = torch.randn(n, n, device=device, dtype=tdtype)
    b = torch.randn(n, n, device=device, dtype=tdtype)
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        samples = time_runs(lambda: a @ b, device, timing.warmup_s, timing.min_runs, timing.min_time_s / 2, timing.max_runs)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    ms = sorted(samples)[len(samples) // 2]
    return {"n": n, "median_ms": ms, "tflops": gemm_tflops(n, ms)}


def _peak_for(variant: str, peaks: dict[str, float], device: Any) -> float | None:
    """The GEMM peak a variant's convolutions should be held against."""
    dtype = VARIANTS[variant][0]
    if dtype == "fp32":
        return peaks.get("tf32" if _torch().backends.cudnn.allow_tf32 and device.type == "cuda" else "fp32")
    return peaks.get(dtype)


def _forward_fn(model: Any, x: Any, device: Any, variant: str) -> Callable[[], Any]:
    """A no-argument forward in ``variant``'s dtype, as a CUDA-graph replay where the variant says so."""
    torch = _torch()
    dtype, _, graph = VARIANTS[variant]
    tdtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)

    def forward() -> Any:
        with torch.inference_mode():
            if tdtype is None:
                return model(x)
            # cache_enabled=False: the autocast weight cache must not outlive a graph capture
            with torch.autocast(device_type=device.type, dtype=tdtype, cache_enabled=not graph):
                return model(x)

    if not graph:
        return forward
    if device.type != "cuda":
        raise RuntimeError("CUDA graphs need CUDA")
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            forward()
    torch.cuda.current_stream(device).wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        forward()
    return g.replay


def _prepare(model: Any, shape: tuple[int, ...], batch: int, device: Any, variant: str) -> tuple[Any, Any]:
    torch = _torch()
    fmt = torch.channels_last if VARIANTS[variant][1] else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt).eval()
    x = torch.randn(batch, *shape, device=device).to(memory_format=fmt)
    return model, x


def latency_case(model: Any, shape: tuple[int, ...], batch: int, device: Any, variant: str, macs: int,
                 peaks: dict[str, float], timing: Timing) -> dict[str, Any]:
    model, x = _prepare(model, shape, batch, device, variant)
    fn = _forward_fn(model, x, device, variant)
    samples = time_runs(fn, device, timing.warmup_s, timing.min_runs, timing.min_time_s, timing.max_runs)
    stats = summarize(samples, batch)
    return {**stats, **roofline(macs, stats["images_per_s"], _peak_for(variant, peaks, device))}


def reference_case(built: Any, reference: Any, shape: tuple[int, ...], batch: int, device: Any, variant: str,
                   timing: Timing) -> dict[str, Any]:
    """Both models timed in alternating short rounds (drift hits both alike); ratio of medians per round."""
    runs = []
    for model in (built, reference):
        m, x = _prepare(model, shape, batch, device, variant)
        runs.append(_forward_fn(m, x, device, variant))
    medians: list[list[float]] = [[], []]
    for _ in range(timing.rounds):
        for i, fn in enumerate(runs):
            s = time_runs(fn, device, timing.warmup_s / 2, timing.min_runs, timing.min_time_s / 2, timing.max_runs)
            medians[i].append(summarize(s, batch)["median_ms"])
    ratios = [a / b for a, b in zip(*medians)]
    return {"built_ms": quantile(sorted(medians[0]), 0.5), "reference_ms": quantile(sorted(medians[1]), 0.5),
            "ratio": quantile(sorted(ratios), 0.5), "round_ratios": ratios}


def _make_optimizer(name: str, params: Any) -> Any:
    torch = _torch()
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=False)
    if name == "adamw-foreach":
        return torch.optim.AdamW(params, lr=1e-3)  # torch's default on CUDA: foreach
    raise ValueError(f"optimizer {name!r}")


def _logit_sum(out: Any) -> Any:
    from archbench.nn.layers import split_output
    return split_output(out)[0].float().sum()  # the loss the estimates assume (aux heads not built)


def memory_case(network: str, make_model: Callable[[], Any], shape: tuple[int, ...], batch: int, device: Any,
                optimizer: str) -> dict[str, Any]:
    """CUDA peaks above what was allocated before the model: inference (eval, no_grad, after one
    warm-up pass) and the first and second training steps with a fresh ``optimizer``. cuDNN
    autotuning is off here (its trial workspaces would inflate the peak); cuBLAS's workspace is
    created before the baseline. Also the analytic estimate for the same network and batch."""
    data = analytic_memory(network, batch, optimizer)
    if device.type != "cuda":
        return {**data, "cuda_note": "no CUDA: max_memory_allocated not measured"}
    torch = _torch()
    torch.backends.cudnn.benchmark = False
    torch.cuda.empty_cache()
    (torch.ones(8, 8, device=device) @ torch.ones(8, 8, device=device)).sum().item()  # cuBLAS handle + workspace
    base = torch.cuda.memory_allocated(device)
    model = make_model().to(device=device, memory_format=torch.contiguous_format)  # as the estimates assume
    x = torch.randn(batch, *shape, device=device)
    model.eval()
    with torch.no_grad():
        model(x)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        model(x)
    torch.cuda.synchronize(device)
    inference = torch.cuda.max_memory_allocated(device) - base
    model.train()
    opt = _make_optimizer(optimizer, model.parameters())
    steps = []
    for _ in range(2):
        torch.cuda.reset_peak_memory_stats(device)
        loss = _logit_sum(model(x))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del loss
        torch.cuda.synchronize(device)
        steps.append(torch.cuda.max_memory_allocated(device) - base)
    del model, opt, x
    torch.cuda.empty_cache()
    torch.backends.cudnn.benchmark = True
    return {**data, "cuda_inference_bytes": inference, "cuda_training_bytes": steps[0], "cuda_second_step_bytes": steps[1]}


def analytic_memory(network: str, batch: int, optimizer: str) -> dict[str, Any]:
    """``archbench.cost.estimate_memory`` (fp32) for the optimizers it models; {} for the others."""
    import archbench
    from archbench.cost import estimate_memory
    from archbench.cost.memory import OPTIMIZER_STATES

    if optimizer not in OPTIMIZER_STATES:
        return {}
    est = estimate_memory(archbench.load_spec(network), batch=batch, optimizer=optimizer)
    return {"analytic_inference_bytes": est.inference_peak_bytes, "analytic_training_bytes": est.training_peak_bytes}


class Builder:
    """Builds a zoo network (no aux heads) on the CPU; picklable, for the meta replay's workers."""

    def __init__(self, network: str) -> None:
        self.network = network

    def __call__(self) -> Any:
        import archbench
        return archbench.build(self.network)


def meta_case(network: str, batch: int, optimizer: str) -> dict[str, Any]:
    """The meta-device replay's peaks (run in a worker process): inference and one training step
    with ``optimizer`` (``foreach=False``, as on CUDA above)."""
    torch = _torch()
    torch.set_num_threads(1)
    import archbench
    from archbench.profile.memory import _bytes, _LiveBytes, estimate_on_meta

    shape = tuple(archbench.analyze(archbench.load_spec(network)).input)
    if optimizer == "sgd-momentum":
        _, _, inference, training = estimate_on_meta(Builder(network), shape, batch)
        return {"inference_bytes": inference, "training_bytes": training}
    model = Builder(network)().to("meta")
    resident = _bytes(model.parameters()) + _bytes(model.buffers())
    x = torch.empty(batch, *shape, device="meta")
    model.train()
    opt = _make_optimizer(optimizer, model.parameters())
    with _LiveBytes() as tracker:
        loss = _logit_sum(model(x))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del loss
    return {"inference_bytes": None, "training_bytes": resident + tracker.peak + _bytes([x])}


def train_case(network: str, batch: int, device: Any, timing: Timing) -> dict[str, Any]:
    """``fit`` (AMP, channels_last, SGD Nesterov, no weight decay, constant lr) against a plain loop
    doing the same per step: batches moved from the CPU, bf16/fp16 autocast (a grad scaler with
    fp16), cross-entropy, backward, step. Both rates from the second pass over the same batches."""
    torch = _torch()
    import torch.nn.functional as F
    import archbench
    from archbench.nn.device import autocast, half_dtype
    from archbench.train import Data, TrainConfig, fit
    from archbench.train.data import ImageTensors

    shape = tuple(archbench.analyze(archbench.load_spec(network)).input)
    base = archbench.build(network)
    with torch.no_grad():
        classes = base.eval()(torch.zeros(1, *shape)).shape[-1]
    n = batch * timing.train_steps
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    zero, one = (0.0,) * shape[0], (1.0,) * shape[0]
    data = Data(train=ImageTensors(x, y, zero, one), val=ImageTensors(x[:batch], y[:batch], zero, one),
                classes=[str(i) for i in range(classes)], input_shape=shape, source="random")
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    half = half_dtype(device)
    config = TrainConfig(epochs=2, batch_size=batch, max_steps=timing.train_steps, max_val_steps=1, lr=0.01,
                         weight_decay=0.0, schedule="none", device=str(device), amp=True, channels_last=True,
                         num_workers=0)
    fmt = torch.channels_last

    def plain(model: Any) -> float:
        model = model.to(device=device, memory_format=fmt).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        scaler = torch.amp.GradScaler(device.type, enabled=half == "fp16" and device.type == "cuda")
        rate = 0.0
        for epoch in range(2):
            _sync(device)
            t0 = time.perf_counter()
            for xb, yb in batches:
                xb = xb.to(device, non_blocking=True, memory_format=fmt)
                yb = yb.to(device, non_blocking=True)
                with autocast(device, half):
                    loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            _sync(device)
            rate = n / (time.perf_counter() - t0)
        return rate

    fits, plains = [], []
    for _ in range(2):
        plains.append(plain(copy.deepcopy(base)))
        fits.append(fit(copy.deepcopy(base), data, config).history[-1].images_per_s)
    ratios = [a / b for a, b in zip(fits, plains)]
    return {"fit_images_per_s": quantile(sorted(fits), 0.5), "plain_images_per_s": quantile(sorted(plains), 0.5),
            "ratio": quantile(sorted(ratios), 0.5),
            "round_ratios": ratios, "autocast": half, "steps": timing.train_steps}


# ----------------------------------------------------------------------------- the run

class Runner:
    """Runs the planned cases in order within the budget; built models are cached per network."""

    def __init__(self, device: Any, budget: Budget, timing: Timing, log: Callable[[str], None] = print) -> None:
        self.device, self.budget, self.timing, self.log = device, budget, timing, log
        self.records: list[Record] = []
        self.skipped: list[tuple[Case, str]] = []
        self.peaks: dict[str, float] = {}
        self._models: dict[str, Any] = {}
        self._references: dict[str, Any] = {}
        self.longest: dict[str, float] = {}  # seconds of the longest case of each kind so far

    def estimate(self, case: Case) -> float:
        """The planned seconds of a case of this kind, or the longest one seen so far if longer."""
        return max(ESTIMATE_S[case.kind], self.longest.get(case.kind, 0.0))

    def _info(self, network: str) -> tuple[tuple[int, ...], int]:
        import archbench
        report = archbench.analyze(archbench.load_spec(network))
        return tuple(report.input), report.flops

    def _model(self, network: str) -> Any:
        if network not in self._models:
            self._models[network] = Builder(network)()
        return self._models[network]

    def _reference(self, network: str) -> Any:
        from tests.reference import REFERENCE_BUILDERS
        if network not in REFERENCE_BUILDERS:
            raise LookupError(f"no reference implementation of {network} in tests/reference")
        if network not in self._references:
            self._references[network] = REFERENCE_BUILDERS[network]()
        return self._references[network]

    def execute(self, case: Case) -> dict[str, Any]:
        d, t = self.device, self.timing
        if case.kind == "peak":
            if d.type != "cuda" and case.variant in ("tf32", "fp16"):
                raise RuntimeError(f"no {case.variant} GEMM peak off CUDA")
            out = gemm_peak(d, case.variant, t)
            self.peaks[case.variant] = out["tflops"]
            return out
        shape, macs = self._info(case.network)
        if case.kind == "latency":
            return latency_case(self._model(case.network), shape, case.batch, d, case.variant, macs, self.peaks, t)
        if case.kind == "reference":
            return reference_case(self._model(case.network), self._reference(case.network), shape, case.batch, d,
                                  case.variant, t)
        if case.kind == "memory":
            cached = self._model(case.network)  # a fresh copy: building the big networks again costs seconds
            return memory_case(case.network, lambda: copy.deepcopy(cached), shape, case.batch, d, case.variant)
        if case.kind == "train":
            return train_case(case.network, case.batch, d, t)
        raise ValueError(f"unknown case kind {case.kind!r}")

    def run(self, cases: list[Case]) -> None:
        for case in cases:
            why = self.budget.admit(self.estimate(case))
            if why:
                self.skipped.append((case, why))
                continue
            t0 = self.budget.clock()
            record = Record(case)
            try:
                record.data = self.execute(case)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one failed case (OOM, a capture that fails) must not end the run
                record.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
                if self.device.type == "cuda":
                    _torch().cuda.empty_cache()
            record.seconds = self.budget.clock() - t0
            self.longest[case.kind] = max(self.longest.get(case.kind, 0.0), record.seconds)
            self.records.append(record)
            self.log(f"[{self.budget.elapsed():6.1f} s] {case.label}: "
                     + (record.error or _short(record.data)))


def _short(data: dict[str, Any]) -> str:
    keys = ("median_ms", "images_per_s", "efficiency", "tflops", "cuda_training_bytes", "ratio")
    return ", ".join(f"{k}={data[k]:.4g}" for k in keys if isinstance(data.get(k), (int, float)))


def run_meta(cases: list[Case], workers: int) -> tuple[Any, dict[Any, Case]]:
    """Start the meta replays in worker processes (CPU only; spawned, so CUDA is never forked)."""
    pool = futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    return pool, {pool.submit(meta_case, c.network, c.batch, c.variant): c for c in cases}


def collect_meta(pool: Any, pending: dict[Any, Case], budget: Budget, grace_s: float) -> tuple[list[Record], list[tuple[Case, str]]]:
    """Wait for the meta replays up to the budget's end plus ``grace_s``; the rest are skipped."""
    done, not_done = futures.wait(list(pending), timeout=max(budget.left(), 0.0) + grace_s)
    records = []
    for f in done:
        r = Record(pending[f])
        try:
            r.data = f.result()
        except Exception as exc:
            r.error = f"{type(exc).__name__}: {exc}"[:200]
        records.append(r)
    skipped = [(pending[f], "time budget: the meta replay had not finished") for f in not_done]
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    if not_done:
        for p in workers:  # a replay still running past the budget: end the workers this run started
            p.terminate()
    return records, skipped


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="three variants, batches 1 and 32, no last tier (about 2 min)")
    p.add_argument("--budget", type=float, default=None, help=f"seconds for the whole run (default {DEFAULT_BUDGET_S:.0f}; --quick 150)")
    p.add_argument("--out", default=str(ROOT / "results"), help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--batches", default=",".join(map(str, BATCHES)))
    p.add_argument("--meta-workers", type=int, default=4, help="processes for the meta replays (0: none)")
    p.add_argument("--allow-cpu", action="store_true", help="run on the CPU (for the tests; tiny networks only)")
    p.add_argument("--tiny", action="store_true", help="minimal timing and GEMM sizes (for the tests)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.budget if args.budget is not None else (150.0 if args.quick else DEFAULT_BUDGET_S))
    torch = _torch()
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f"gpu_check: no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
              "this script measures GPUs only. Run it on a CUDA machine (docs/gpu.md).", file=sys.stderr)
        return EXIT_NO_CUDA
    try:
        networks = [n.strip() for n in args.networks.split(",") if n.strip()]
        batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        print(f"gpu_check: --batches: expected integers like 1,32,128, got {args.batches!r}", file=sys.stderr)
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(1)  # the CPU run only checks the pipeline; one thread times steadily under load
    timing = Timing(warmup_s=0.01, min_runs=3, min_time_s=0.0, max_runs=3, rounds=2, gemm_n=64, train_steps=2) \
        if args.tiny else Timing()
    machine = describe_machine(device)
    print(f"machine: {machine['description']}", flush=True)
    cases = plan_cases(networks, batches, quick=args.quick)
    meta = [c for c in cases if c.kind == "meta"]
    pool, pending = (run_meta(meta, args.meta_workers) if args.meta_workers > 0 and meta else (None, {}))
    runner = Runner(device, budget, timing, log=lambda s: print(s, flush=True))
    interrupted = False
    try:
        runner.run([c for c in cases if c.kind != "meta"])
    except KeyboardInterrupt:
        interrupted = True
    records, skipped = list(runner.records), list(runner.skipped)
    if pool is not None:
        meta_records, meta_skipped = collect_meta(pool, pending, budget, grace_s=0.0 if interrupted else 15.0)
        records += meta_records
        skipped += meta_skipped
    elif meta:
        skipped += [(c, "--meta-workers 0") for c in meta]
    settings = {"quick": args.quick, "networks": ",".join(networks), "batches": ",".join(map(str, batches)),
                "timing": asdict(timing)}
    result = assemble(machine, records, skipped, budget, settings)
    result["interrupted"] = interrupted
    js, md = write_outputs(result, Path(args.out))
    print(f"wrote {js} and {md} ({len(records)} cases, {len(skipped)} skipped, {len(result['errors'])} errors, "
          f"{budget.elapsed():.0f} s)")
    if skipped:
        print(f"skipped {len(skipped)} case(s) to stay within the budget (listed in {md.name})")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
