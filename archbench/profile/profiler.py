"""``profile``: params, FLOPs, activations, memory and latency of one network, per block.

fvcore is the reference count. For a spec, the analytic cost model computes the same numbers
without tracing; any disagreement, per block and per operator, is raised as a bug
(:class:`CountMismatch`) rather than footnoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..cost import analyze, estimate_memory
from ..targets import Target
from .counting import count
from .env import environment
from .latency import LatencyResult, block_shares, measure_latency, resolve_device
from .memory import MemoryReport, memory_report

CONVENTION = {
    "flops": "one multiply-add = one FLOP (fvcore, GoogLeNet paper); inference counting: BN folded "
             "into the preceding conv (its fvcore share is shown as batch_norm but not in the total)",
    "uncounted": "max/avg pooling, residual additions and scalings, LRN count zero; they are listed with "
                 "how often they occur; ReLU, concat, dropout and flatten are free by fvcore's rule",
    "activations": "output elements of every conv and linear (fvcore ActivationCountAnalysis)",
    "memory": "bytes; CUDA: measured peak (max_memory_allocated); CPU: meta-device replay estimate; "
              "'analytic': the cost model's estimate from the spec alone, and its relative error",
    "latency": "milliseconds per batch, eval mode, inference_mode; median over timed runs after a warm-up",
}


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "input": list(self.input), "aux": self.aux,
            "params": self.params, "flops": self.flops, "activations": self.activations,
            "memory": self.memory, "latency": self.latency,
            "blocks": [{**b.__dict__, "output_shape": list(b.output_shape)} for b in self.blocks],
            "env": self.env, "convention": self.convention,
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
            latency: bool = True, memory: bool = True, check: bool = True) -> Profile:
    """Profile ``target`` (see :func:`archbench.targets.resolve_target`)."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    size = target.input
    aux = aux and target.has_aux
    torch.manual_seed(0)
    model = target.build(aux=aux, input_size=size).eval()
    blocks = [n for n, _ in model.named_children()
              if not (aux and target.spec and n in {h.name for h in target.spec.aux_heads})]
    x = torch.randn(1, *size)
    traced = count(model, x, blocks)
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

    latencies: list[LatencyResult] = []
    if latency:
        for batch in batches:
            latencies.append(measure_latency(model, size, batch, dev, dtype, channels_last))
        shares = block_shares(model.to(dev), torch.randn(batches[0], *size, device=dev), blocks, dtype)
        for row in rows:
            row.latency_share = shares[row.name]

    mem: MemoryReport | None = None
    if memory:
        mem = memory_report(lambda: target.build(aux=aux, input_size=size), size, max(batches),
                            sum(r.output_elements for r in rows) * max(batches), dev)

    by_op = dict(traced.total.flops_by_op)
    return Profile(
        target=target.label, input=size, aux=aux,
        params={"total": n_params, "trainable": trainable,
                "aux_heads": n_params - sum(block_params.values()) if aux else 0},
        flops={"total": total_flops, "with_batch_norm": sum(by_op.values()), "by_operator": by_op,
               "batch_norm": by_op.get("batch_norm", 0), "uncounted": traced.unsupported,
               "analytic_check": "exact" if check and target.spec is not None else "not applicable"},
        activations={"total": traced.total.activations,
                     "block_output_elements": sum(r.output_elements for r in rows)},
        memory=_with_analytic(mem, target, size, max(batches), aux),
        latency=[r.to_dict() for r in latencies],
        blocks=rows,
        env={**environment(dev), "dtype": dtype, "batches": list(batches), "channels_last": channels_last},
    )


def _with_analytic(mem: MemoryReport | None, target: Target, size: tuple[int, int, int], batch: int,
                   aux: bool) -> dict[str, Any] | None:
    """The memory report, plus (for a spec) the analytic estimate and its error against it."""
    if mem is None:
        return None
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
