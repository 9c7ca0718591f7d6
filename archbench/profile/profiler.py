"""``profile``: params, FLOPs, activations, memory and latency of one network, per block.

fvcore is the reference count. For a spec, the analytic cost model computes the same numbers
without tracing; any disagreement, per block and per operator, is raised as a bug
(:class:`CountMismatch`) rather than footnoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..cost import analyze, estimate_memory
from ..targets import Target
from .counting import count
from .depth import depth_with_params
from .env import environment
from .latency import LatencyResult, block_shares, measure_latency, resolve_device
from .memory import MemoryReport, memory_report

CONVENTION = {
    "flops": "one multiply-add = one FLOP (fvcore, GoogLeNet paper); 'macs' is the same number, "
             "'flops_2x_macs' the other convention (2 FLOPs per multiply-add); inference counting: BN folded "
             "into the preceding conv (its fvcore share is shown as batch_norm but not in the total)",
    "uncounted": "max and windowed average pooling, residual additions and scalings, LRN, element-wise "
                 "activations count zero (global, adaptive, average pooling counts one FLOP per input element, "
                 "as in fvcore); "
                 "they are listed with how often they occur; ReLU, concat, dropout and flatten are free by fvcore's rule",
    "unpriced": "operators no counter has a formula for (custom ops and the like): counted zero, so the total "
                "is a lower bound ('lower_bound': true); attention (scaled_dot_product_attention) and "
                "torch.utils.flop_counter's operators are counted by their formulas",
    "activations": "output elements of every conv and linear (fvcore ActivationCountAnalysis)",
    "memory": "bytes; CUDA: measured peak (max_memory_allocated); CPU: for a spec, the analytic estimate "
              "(method 'analytic', equal to the meta-device replay to the byte on the zoo); for a module:callable, "
              "or with --check-memory, the meta-device replay ('meta-estimate') with the analytic estimate "
              "and its relative error beside it",
    "latency": "milliseconds per batch, eval mode, inference_mode; median over timed runs after a warm-up",
}


TOP_LEVEL = "(top level)"  # the row of FLOPs counted in the model's own forward, outside every block


class CountMismatch(RuntimeError):
    """The analytic cost model and fvcore disagree: a bug in one of them, never a user error."""


@dataclass
class BlockRow:
    name: str
    output_shape: tuple[int, ...]
    params: int
    flops: int
    flops_pct: float
    activations: int
    output_elements: int
    latency_share: float | None = None


@dataclass
class Profile:
    target: str
    input: tuple[int, int, int]
    aux: bool
    params: dict[str, Any]
    flops: dict[str, Any]
    activations: dict[str, Any]
    memory: dict[str, Any] | None
    latency: list[dict[str, Any]]
    blocks: list[BlockRow]
    env: dict[str, Any]
    convention: dict[str, str] = field(default_factory=lambda: dict(CONVENTION))
    depth: int | None = None  # conv/linear layers on the longest path, when asked for

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "input": list(self.input), "aux": self.aux,
            "params": self.params, "flops": self.flops, "activations": self.activations,
            "memory": self.memory, "latency": self.latency,
            "blocks": [{**b.__dict__, "output_shape": list(b.output_shape)} for b in self.blocks],
            "env": self.env, "convention": self.convention, "depth": self.depth,
        }


def _check_against_analytic(target: Target, size: tuple[int, int, int], aux: bool, traced: Any,
                            blocks: list[str]) -> None:
    report = analyze(target.spec, size)  # type: ignore[arg-type]
    problems = []
    for name in blocks:
        ours = report.layer(name)
        theirs = traced.modules[name]
        if ours.flops_by_op != theirs.flops_by_op:
            problems.append(f"{name}: FLOPs analytic {ours.flops_by_op} vs fvcore {theirs.flops_by_op}")
        if ours.activations != theirs.activations:
            problems.append(f"{name}: activations analytic {ours.activations} vs fvcore {theirs.activations}")
        shape = traced.output_shapes.get(name)
        if shape is not None and shape[1:] != ours.out_shape:
            problems.append(f"{name}: output shape analytic {ours.out_shape} vs traced {shape[1:]}")
    if problems:
        raise CountMismatch("analytic cost model and fvcore disagree (a bug; please report it):\n  "
                            + "\n  ".join(problems))


def profile(target: Target, aux: bool = False, device: str = "auto", batches: tuple[int, ...] = (1,),
            dtype: str = "fp32", channels_last: bool = False, threads: int | None = None,
            latency: bool = True, memory: bool = True, check: bool = True, check_memory: bool = False,
            depth: bool = False, progress: Callable[[str], None] | None = None) -> Profile:
    """Profile ``target`` (see :func:`archbench.targets.resolve_target`).

    The model is built once and traced once. Memory on the CPU comes from the analytic model
    when a spec exists (equal to the meta-device replay to the byte on the whole zoo, in a
    millisecond); the replay runs for ``module:callable`` targets, and for specs when
    ``check_memory`` asks for both and their difference. ``depth``: also the conv/linear depth
    (a ``torch.fx`` trace). ``progress`` is told which step starts (the CLI's progress display).
    """
    step = progress or (lambda _: None)
    if threads is not None:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    size = target.input
    aux = aux and target.has_aux
    torch.manual_seed(0)
    step("build")
    model = target.build(aux=aux, input_size=size).eval()
    blocks = [n for n, _ in model.named_children()
              if not (aux and target.spec and n in {h.name for h in target.spec.aux_heads})]
    step("count FLOPs (fvcore trace)")
    traced = count(model, torch.randn(1, *size), blocks)
    if check and target.spec is not None:
        _check_against_analytic(target, size, aux, traced, blocks)

    n_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    named = dict(model.named_children())
    block_params = {b: sum(p.numel() for p in named[b].parameters()) for b in blocks}
    total_flops = traced.total.flops
    rows = [BlockRow(name=b, output_shape=traced.output_shapes.get(b, ())[1:], params=block_params[b],
                     flops=traced.modules[b].flops, flops_pct=100.0 * traced.modules[b].flops / max(total_flops, 1),
                     activations=traced.modules[b].activations,
                     output_elements=_prod(traced.output_shapes.get(b, (0,))[1:]))
            for b in blocks]
    outside = total_flops - sum(r.flops for r in rows)
    if outside > 0:  # ops in the model's own forward (attention written inline, say): a row, so shares add up
        rows.append(BlockRow(name=TOP_LEVEL, output_shape=(), params=0, flops=outside,
                             flops_pct=100.0 * outside / total_flops, activations=traced.total.activations
                             - sum(r.activations for r in rows), output_elements=0))
    layers = depth_with_params(model) if depth else None

    latencies: list[LatencyResult] = []
    if latency:
        for batch in batches:
            step(f"latency, batch {batch}")
            latencies.append(measure_latency(model, size, batch, dev, dtype, channels_last,
                                             blocks=blocks if batch == batches[0] else None))
        shares = latencies[0].block_shares
        if shares is None and latencies[0].error is None:  # CUDA: hooks synchronize, so a separate pass
            shares = block_shares(model.to(dev), torch.randn(batches[0], *size, device=dev), blocks, dtype)
        for row in rows:
            row.latency_share = shares.get(row.name) if shares else None

    mem: dict[str, Any] | None = None
    if memory:
        step(f"memory, batch {max(batches)}")
        mem = _memory(target, model, size, max(batches), aux, dev, check_memory,
                      sum(r.output_elements for r in rows) * max(batches))

    by_op = dict(traced.total.flops_by_op)
    return Profile(
        target=target.label, input=size, aux=aux,
        params={"total": n_params, "trainable": trainable,
                "aux_heads": n_params - sum(block_params.values()) if aux else 0},
        flops={"total": total_flops, "macs": total_flops, "flops_2x_macs": 2 * total_flops,
               "with_batch_norm": sum(by_op.values()), "by_operator": by_op,
               "batch_norm": by_op.get("batch_norm", 0), "uncounted": traced.unsupported,
               "unpriced": traced.unpriced, "lower_bound": bool(traced.unpriced),
               "analytic_check": "exact" if check and target.spec is not None else "not applicable"},
        activations={"total": traced.total.activations,
                     "block_output_elements": sum(r.output_elements for r in rows)},
        memory=mem,
        latency=[r.to_dict() for r in latencies],
        blocks=rows,
        env={**environment(dev), "dtype": dtype, "batches": list(batches), "channels_last": channels_last},
        depth=layers,
    )


def _memory(target: Target, model: Any, size: tuple[int, int, int], batch: int, aux: bool, dev: torch.device,
            check_memory: bool, activation_elements: int) -> dict[str, Any]:
    """Measured on CUDA; on the CPU the analytic estimate for a spec, the meta replay otherwise
    (or both, with their difference, when asked to check). The built model is reused: this is
    its last use, so moving it to the meta device or stepping its optimizer changes nothing else."""
    if dev.type != "cuda" and target.spec is not None and not check_memory:
        est = estimate_memory(target.spec, size, batch=batch, aux=aux)
        return {**est.to_dict(), "method": "analytic", "error": None}
    mem = memory_report(lambda: model, size, batch, activation_elements, dev)
    return _with_analytic(mem, target, size, batch, aux)


def _with_analytic(mem: MemoryReport, target: Target, size: tuple[int, int, int], batch: int,
                   aux: bool) -> dict[str, Any]:
    """The memory report, plus (for a spec) the analytic estimate and its error against it."""
    out = mem.to_dict()
    if target.spec is not None:
        est = estimate_memory(target.spec, size, batch=batch, aux=aux)
        errors: dict[str, float | None] = {}
        for key in ("inference_peak_bytes", "training_peak_bytes"):
            ref = getattr(mem, key)
            errors[key] = (getattr(est, key) - ref) / ref if ref else None  # None: nothing to compare
        out["analytic"] = {**est.to_dict(), "relative_error": errors}
    return out


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out
