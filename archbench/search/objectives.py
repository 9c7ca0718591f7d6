"""Search objectives: training-free proxies, the params/FLOPs baselines, and measured latency.

What each measures and how far to trust it:

- ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training"): the log
  determinant of the Hamming-similarity kernel of the networks' ReLU activation patterns over a
  batch; higher means inputs are told apart better at initialization. Data-free here (random
  normal inputs); scored in training mode, after which the module gets its batch-norm
  statistics and modes back. Rank correlation with trained accuracy on NAS-Bench-201 ~0.6-0.8; on other
  spaces often no better than params. Maximized.
- ``synflow`` (Tanaka et al. 2020; as a NAS proxy Abdelfattah et al. 2021): log of the summed
  |theta * dR/dtheta| of the linearized network (absolute weights, all-ones input, float64). Data
  free; correlates strongly with parameter count. Maximized.
- ``snip`` (Lee et al. 2019; as a NAS proxy Abdelfattah et al. 2021): the summed connection
  sensitivity |w * dL/dw| over the conv and linear weights, for the cross-entropy of one batch.
  ~0.6 Spearman on NAS-Bench-201 in Abdelfattah et al. Maximized.
- ``grad_norm`` (Abdelfattah et al. 2021): the sum over conv and linear layers of the Euclidean
  norm of dL/dw for that batch. ~0.6 there. Maximized.
- ``jacob_cov`` (Mellor et al. 2020, the first NASWOT version): how decorrelated the input
  Jacobians of a batch are: -sum(log(l + k) + 1/(l + k)) over the eigenvalues l of their correlation
  matrix (k = 1e-5). ~0.74 there. Maximized.
- ``ensemble``: Abdelfattah et al.'s majority vote of synflow, jacob_cov and snip (~82% of the
  NAS-Bench-201 pairs ranked right). A vote compares two networks, so a single candidate needs a
  population: its value is the fraction of the candidates already scored in the study that it
  beats by the vote (see :func:`vote_score`; 0.5 for the first). Early trials are therefore
  compared with fewer others. ``calibrate`` votes each sample against all the other samples.
  Maximized.
  The gradient proxies use one batch of ``PROXY_BATCH`` seeded random normal inputs and random labels
  in a search (data-free), a real batch in ``calibrate``; the network is copied first, so the
  caller's module is left as it was.
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

import copy
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
    # Scored in training mode (batch statistics, as Mellor et al.), which would move the batch-norm
    # running statistics: the caller's module gets its buffers and modes back (cheaper than a copy).
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.clone()) for b in model.buffers()]
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
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for m, mode in modes:
            m.training = mode
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("nan")


def _synflow(model: Any, input_shape: tuple[int, ...]) -> float:
    import torch

    model = copy.deepcopy(model).double().eval()  # the caller's module keeps its weights and dtype
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


PROXY_BATCH = 16  # the batch of the gradient proxies: the cost of one forward and backward pass


def _batch(input_shape: tuple[int, ...], batch: int, seed: int, inputs: Any) -> Any:
    """``inputs`` when given (a real batch), else ``batch`` seeded random normal images."""
    import torch

    if inputs is not None:
        return inputs
    return torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))


def _logits(out: Any) -> Any:
    return getattr(out, "logits", out)  # a network with aux heads returns NetOutput in training mode


def _loss_gradients(model: Any, input_shape: tuple[int, ...], batch: int, seed: int, inputs: Any,
                    labels: Any) -> list[Any]:
    """The conv and linear weights of a copy of ``model`` (training mode) holding the gradient of
    the cross-entropy of one batch; labels seeded at random over the network's classes if not given."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    model = copy.deepcopy(model).train()
    x = _batch(input_shape, batch, seed, inputs)
    with torch.random.fork_rng():  # dropout draws from the global RNG
        torch.manual_seed(seed)
        logits = _logits(model(x))
        if labels is None:
            labels = torch.randint(logits.shape[1], (logits.shape[0],), generator=torch.Generator().manual_seed(seed + 1))
        F.cross_entropy(logits, labels).backward()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not weights:
        raise ArchbenchError("snip and grad_norm need conv or linear layers; this network has none")
    return [w for w in weights if w.grad is not None]


def _snip(model: Any, input_shape: tuple[int, ...], batch: int = PROXY_BATCH, seed: int = 0, inputs: Any = None,
          labels: Any = None) -> float:
    weights = _loss_gradients(model, input_shape, batch, seed, inputs, labels)
    return float(sum(float((w.detach() * w.grad).abs().sum(dtype=w.dtype)) for w in weights))


def _grad_norm(model: Any, input_shape: tuple[int, ...], batch: int = PROXY_BATCH, seed: int = 0, inputs: Any = None,
               labels: Any = None) -> float:
    weights = _loss_gradients(model, input_shape, batch, seed, inputs, labels)
    return float(sum(float(w.grad.norm()) for w in weights))


JACOB_COV_K = 1e-5


def _jacob_cov(model: Any, input_shape: tuple[int, ...], batch: int = PROXY_BATCH, seed: int = 0,
               inputs: Any = None) -> float:
    """Input Jacobians of the summed logits, one row per image; NaN when an image's Jacobian is
    constant (its correlation is undefined)."""
    import torch

    model = copy.deepcopy(model).train()
    x = _batch(input_shape, batch, seed, inputs).clone().requires_grad_(True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        logits = _logits(model(x))
        logits.backward(torch.ones_like(logits))
    jacobians = x.grad.reshape(x.shape[0], -1).double()
    corr = torch.corrcoef(jacobians)
    if not bool(torch.isfinite(corr).all()):
        return float("nan")
    eig = torch.linalg.eigvalsh(corr).clamp(min=0.0)  # symmetric PSD: rounding may dip below zero
    return float(-(torch.log(eig + JACOB_COV_K) + 1.0 / (eig + JACOB_COV_K)).sum())


ENSEMBLE = ("synflow", "jacob_cov", "snip")  # Abdelfattah et al. 2021's vote


def prefers(a: dict[str, float], b: dict[str, float], voters: tuple[str, ...] = ENSEMBLE) -> float:
    """1 if the majority of ``voters`` rank ``a`` above ``b``, 0 if below, 0.5 on a tie. A voter
    abstains when its values are equal or either is not finite."""
    up = down = 0
    for name in voters:
        x, y = a.get(name, math.nan), b.get(name, math.nan)
        if math.isfinite(x) and math.isfinite(y) and x != y:
            up, down = up + (x > y), down + (x < y)
    return 1.0 if up > down else 0.0 if up < down else 0.5


def vote_score(own: dict[str, float], others: list[dict[str, float]], voters: tuple[str, ...] = ENSEMBLE) -> float:
    """The fraction of ``others`` that ``own`` beats by majority vote (ties count half); 0.5 with
    no others. Ordering a population by this score is a Borda count of the pairwise votes."""
    if not others:
        return 0.5
    return sum(prefers(own, other, voters) for other in others) / len(others)


class EnsembleObjective:
    """``(priced, trial) -> vote score`` against the study's completed trials. Each voter's value
    is stored on the trial (``proxy_synflow``, ...) for the later trials to vote against; the
    network is built with weights drawn from ``seed``, so its votes do not depend on trial order."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def measure(self, spec: Any) -> dict[str, float]:
        import torch

        from ..nn import build

        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = build(spec)
        return {name: OBJECTIVES[name].fn(model, spec.input) for name in ENSEMBLE}

    def __call__(self, priced: Any, trial: Any) -> float:
        from optuna.trial import TrialState

        own = self.measure(priced.spec)
        for name, value in own.items():
            trial.set_user_attr(f"proxy_{name}", value)
        others = [{name: t.user_attrs[f"proxy_{name}"] for name in ENSEMBLE}
                  for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if all(f"proxy_{name}" in t.user_attrs for name in ENSEMBLE) and "cached_from" not in t.user_attrs]
        return vote_score(own, others)


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
    "snip": Objective("snip", "maximize", True, _snip, "SNIP connection sensitivity, one random batch"),
    "grad_norm": Objective("grad_norm", "maximize", True, _grad_norm, "summed layer gradient norms, one random batch"),
    "jacob_cov": Objective("jacob_cov", "maximize", True, _jacob_cov, "decorrelation of input Jacobians, one random batch"),
    "ensemble": Objective("ensemble", "maximize", False, EnsembleObjective(), "majority vote of synflow, jacob_cov, "
                          "snip against the study's other candidates", needs_trial=True),
    "params": Objective("params", "maximize", False, lambda priced: float(priced.params), "parameter count"),
    "flops": Objective("flops", "maximize", False, lambda priced: float(priced.flops), "FLOPs (multiply-adds)"),
    "latency": Objective("latency", "minimize", True, _latency, "median latency, batch 1, ms"),
}


PROXIES = ("naswot", "synflow", "snip", "grad_norm", "jacob_cov")  # training-free, checked by `archbench calibrate`
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
