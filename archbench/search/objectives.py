"""Search objectives: training-free proxies, the params/FLOPs baselines, and measured latency.

What each measures and how far to trust it:

- ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training"): the log
  determinant of the Hamming-similarity kernel of the networks' ReLU activation patterns over a
  batch; higher means inputs are told apart better at initialization. Data-free here (random
  normal inputs). Rank correlation with trained accuracy on NAS-Bench-201 ~0.6-0.8; on other
  spaces often no better than params. Maximized.
- ``synflow`` (Tanaka et al. 2020; as a NAS proxy Abdelfattah et al. 2021): log of the summed
  |theta * dR/dtheta| of the linearized network (absolute weights, all-ones input, float64). Data
  free; correlates strongly with parameter count. Maximized.
- ``params`` / ``flops``: the baselines the literature finds hard to beat (bigger is usually
  more accurate under a budget). Maximized. Free: analytic.
- ``latency``: measured median at batch 1 on the search's device, milliseconds. Minimized.
- ``train``: validation top-1 after a short training run on the user's data (``--data``), with
  pruning of hopeless trials (:mod:`archbench.search.train_objective`). The real signal, and the
  expensive one. Maximized.
None of the proxies replaces measured accuracy; treat their rankings as hints, and check them on
your own data with ``archbench calibrate``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"
    needs_model: bool
    fn: Callable[..., float]
    help: str
    needs_trial: bool = False  # fn(priced, trial): reports intermediate values (train)


def _naswot(model: Any, input_shape: tuple[int, ...], batch: int = 16, seed: int = 0, inputs: Any = None) -> float:
    """``inputs``: a batch of real images (``archbench calibrate`` passes one); default random normal."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x = torch.randn(batch, *input_shape) if inputs is None else inputs
    batch = x.shape[0]
    kernel = torch.zeros(batch, batch, dtype=torch.float64)

    def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        # Hamming agreement of the binary codes, c c^T + (1-c)(1-c)^T = 2 c c^T - s_i - s_j + n
        # (s: ones per row): one matrix product instead of two and no (1 - c) copy. In float32 the
        # product is exact while n < 2^24 (integer sums); wider layers fall back to float64.
        codes = (out.detach() > 0).reshape(out.shape[0], -1)  # compare first: a channels_last copy of bytes
        n = codes.shape[1]
        c = codes.to(torch.float32 if n < 2**24 else torch.float64)
        ones = c.sum(1, dtype=torch.float64)
        kernel.add_(2 * (c @ c.t()).double() - ones[:, None] - ones[None, :] + n)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not hooks:
        raise ArchbenchError("naswot needs ReLU activations; this network has none")
    model.train()
    # channels_last halves the CPU time of the forward pass (oneDNN's preferred layout); the kernel
    # sums over units, so their order does not matter. The caller's module gets its layout back.
    layout = torch.channels_last if x.dim() == 4 else torch.contiguous_format
    model.to(memory_format=layout)
    try:
        with torch.no_grad():
            model(x.to(memory_format=layout))
    finally:
        for h in hooks:
            h.remove()
        model.to(memory_format=torch.contiguous_format)
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("nan")


def _synflow(model: Any, input_shape: tuple[int, ...]) -> float:
    import torch

    model = model.double().eval()
    signs = {}
    with torch.no_grad():
        for name, p in model.state_dict().items():
            signs[name] = torch.sign(p)
            p.abs_()
    model.zero_grad()
    out = model(torch.ones(1, *input_shape, dtype=torch.float64))
    torch.sum(out).backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return math.log(total) if total > 0 and math.isfinite(total) else float("nan")


def _latency(model: Any, input_shape: tuple[int, ...]) -> float:
    import torch

    from ..profile.latency import measure_latency

    result = measure_latency(model, input_shape, 1, torch.device("cpu"), warmup_s=0.2, min_runs=5, min_time_s=0.3)
    if result.median_ms is None:
        raise ArchbenchError(result.error or "latency could not be measured")
    return result.median_ms


OBJECTIVES: dict[str, Objective] = {
    "naswot": Objective("naswot", "maximize", True, _naswot, "NASWOT log-det of ReLU-pattern kernel (data-free)"),
    "synflow": Objective("synflow", "maximize", True, _synflow, "log SynFlow saliency (data-free)"),
    "params": Objective("params", "maximize", False, lambda priced: float(priced.params), "parameter count"),
    "flops": Objective("flops", "maximize", False, lambda priced: float(priced.flops), "FLOPs (multiply-adds)"),
    "latency": Objective("latency", "minimize", True, _latency, "median latency, batch 1, ms"),
}


PROXIES = ("naswot", "synflow")  # the training-free ones, which `archbench calibrate` checks
TRAIN = "train"


def get_objectives(names: list[str], train: Any = None) -> list[Objective]:
    """The objectives named; ``train`` needs :class:`~archbench.search.train_objective.TrainSettings`."""
    valid = [*OBJECTIVES, TRAIN]
    names, explicit = _directions(names)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ArchbenchError(f"unknown objective {unknown[0]!r}; available: {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise ArchbenchError("--objective: each objective may be given once")
    if TRAIN in names and train is None:
        raise ArchbenchError("--objective train needs --data: an image folder, a .npz/.pt file of tensors, "
                             "or 'synthetic' for the built-in dataset")
    out = []
    for name in names:
        if name == TRAIN:
            from .train_objective import TrainObjective

            out.append(Objective(TRAIN, "maximize", False, TrainObjective(train),
                                 "validation top-1 after short training", needs_trial=True))
        else:
            out.append(OBJECTIVES[name])
    for i, objective in enumerate(out):
        direction = explicit.get(objective.name)
        if direction is None and objective.name in COSTS and len(out) > 1:
            direction = "minimize"  # beside another objective, a cost: the front keeps the cheap networks
        if direction is not None:
            out[i] = dataclasses.replace(objective, direction=direction)
    return out


COSTS = ("params", "flops")  # maximised alone (a proxy: bigger is usually better), minimised in a Pareto search
_SUFFIX = {"max": "maximize", "min": "minimize", "maximize": "maximize", "minimize": "minimize"}


def _directions(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """``flops:min`` / ``flops:max``: the objective's name and the direction asked for, if any."""
    plain, explicit = [], {}
    for text in names:
        name, _, suffix = text.partition(":")
        if suffix:
            if suffix not in _SUFFIX:
                raise ArchbenchError(f"--objective {text!r}: expected NAME, NAME:min or NAME:max")
            explicit[name] = _SUFFIX[suffix]
        plain.append(name)
    return plain, explicit
