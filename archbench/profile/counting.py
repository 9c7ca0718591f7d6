"""FLOPs, activations and output shapes with fvcore, from a single trace.

fvcore's ``FlopCountAnalysis`` and ``ActivationCountAnalysis`` each trace the model; archbench
registers both sets of fvcore's own handles on one ``JitModelAnalysis`` (a handle may return a
Counter with several keys), so the model is traced once and both counts come out per module.
Forward hooks on the blocks record their output shapes during that same trace.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from numbers import Number
from typing import Any

import torch
from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as _ACTIVATION_HANDLES
from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as _FLOP_HANDLES
from fvcore.nn.jit_analysis import JitModelAnalysis
from torch import nn

FLOP = "flops:"
ACT = "acts:"


def _simple(kind: str) -> str:
    return kind.split("::")[-1].lstrip("_") if kind != "aten::_convolution" else "conv"


def _total(value: Any) -> float:
    return float(sum(value.values())) if isinstance(value, Counter) else float(value)


def _combined(kind: str) -> Any:
    flop, act = _FLOP_HANDLES.get(kind), _ACTIVATION_HANDLES.get(kind)
    name = _simple(kind)

    def handle(inputs: list[Any], outputs: list[Any]) -> Counter:
        out: Counter = Counter()
        if flop is not None:
            out[FLOP + name] = _total(flop(inputs, outputs))
        if act is not None:
            out[ACT + name] = _total(act(inputs, outputs))
        return out

    return handle


@dataclass
class ModuleCounts:
    """fvcore's counts for one module (or the whole model under the name "")."""

    flops_by_op: dict[str, int] = field(default_factory=dict)
    activations: int = 0

    @property
    def flops(self) -> int:
        """BN folded: inference FLOPs without fvcore's batch_norm share."""
        return sum(v for k, v in self.flops_by_op.items() if k != "batch_norm")


@dataclass
class TraceCounts:
    total: ModuleCounts
    modules: dict[str, ModuleCounts]
    output_shapes: dict[str, tuple[int, ...]]
    unsupported: dict[str, int]  # aten op -> occurrences, counted as zero by fvcore
    output: Any = None


def count(model: nn.Module, x: torch.Tensor, modules: list[str]) -> TraceCounts:
    """Trace ``model`` on ``x`` once; counts for the whole model and for each named module."""
    named = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name in modules:
        def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
            if isinstance(out, torch.Tensor):
                shapes[name] = tuple(int(d) for d in out.shape)
        hooks.append(named[name].register_forward_hook(hook))
    analysis = JitModelAnalysis(model, (x,))
    analysis.set_op_handle(**{k: _combined(k) for k in {*_FLOP_HANDLES, *_ACTIVATION_HANDLES}})
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    try:
        per_module = analysis.by_module_and_operator()
        unsupported = dict(analysis.unsupported_ops())
    finally:
        for h in hooks:
            h.remove()

    def split(counter: Counter) -> ModuleCounts:
        flops = {k[len(FLOP):]: int(v) for k, v in counter.items() if k.startswith(FLOP) and v}
        acts = int(sum(v for k, v in counter.items() if k.startswith(ACT)))
        return ModuleCounts(flops, acts)

    return TraceCounts(
        total=split(per_module.get("", Counter())),
        modules={name: split(per_module.get(name, Counter())) for name in modules},
        output_shapes=shapes,
        unsupported={k.split("::")[-1]: v for k, v in sorted(unsupported.items())},
    )
