"""FLOPs, activations and output shapes with fvcore, from a single trace.

fvcore's ``FlopCountAnalysis`` and ``ActivationCountAnalysis`` each trace the model; archbench
registers both sets of fvcore's own handles on one ``JitModelAnalysis`` (a handle may return a
Counter with several keys), so the model is traced once and both counts come out per module.
Forward hooks on the blocks record their output shapes during that same trace.

Operators fvcore has no handle for are priced where a formula exists: scaled-dot-product
attention (torch's ``sdpa_flop_count``) and every operator in ``torch.utils.flop_counter``'s
registry (halved: torch counts a multiply-add as two FLOPs, archbench as one). What is left is
split in two: operators that count zero by the convention (pooling, element-wise arithmetic and
activations, as in fvcore and the papers) and *unpriced* ones (custom ops, anything else), which
make the total a lower bound and are reported as such.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from numbers import Number
from typing import Any

import warnings

import torch
from torch import nn
from torch.utils import flop_counter

with warnings.catch_warnings():
    # Importing fvcore.nn scripts its focal loss (a function archbench never calls) with
    # torch.jit.script, which torch 2.13 marks deprecated: a warning about fvcore that users cannot act on.
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
    from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as _ACTIVATION_HANDLES
    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as _FLOP_HANDLES
    from fvcore.nn.jit_analysis import JitModelAnalysis
    from fvcore.nn.jit_handles import get_shape

# Unsupported by fvcore and zero by the counting convention (pooling, additions and scalings,
# element-wise activations, normalisation without weights): listed, but the total is still exact.
ZERO_BY_CONVENTION = frozenset({
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "exp", "log", "sqrt", "rsqrt",
    "pow", "abs", "sum", "mean", "softmax", "log_softmax", "sigmoid", "sigmoid_", "tanh", "tanh_", "gelu", "silu",
    "silu_", "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid", "leaky_relu", "leaky_relu_",
    "elu", "elu_", "relu6", "local_response_norm", "mish", "softplus",
})
# Shape, copy and creation ops fvcore's own ignore list misses: free, like view and flatten, so not listed.
FREE = frozenset({
    "unflatten", "movedim", "moveaxis", "swapaxes", "view_as", "reshape_as", "expand_as", "repeat", "tile",
    "clone", "fill_", "zero_", "scalar_tensor", "ones_like", "empty_like", "new_ones", "alias", "lift_fresh", "pad",
})

FLOP = "flops:"
ACT = "acts:"


def _simple(kind: str) -> str:
    return kind.split("::")[-1].lstrip("_") if kind != "aten::_convolution" else "conv"


def _total(value: Any) -> float:
    return float(sum(value.values())) if isinstance(value, Counter) else float(value)


def _combined(kind: str) -> Any:
    flop = _FLOP_HANDLES.get(kind) or _EXTRA_FLOP_HANDLES.get(kind)
    act = _ACTIVATION_HANDLES.get(kind)
    name = _simple(kind)

    def handle(inputs: list[Any], outputs: list[Any]) -> Counter:
        out: Counter = Counter()
        if flop is not None:
            out[FLOP + name] = _total(flop(inputs, outputs))
        if act is not None:
            out[ACT + name] = _total(act(inputs, outputs))
        return out

    return handle


def _sdpa(inputs: list[Any], outputs: list[Any]) -> float:
    """Multiply-adds of attention: Q K^T and the weighted sum of V (torch's formula, halved);
    3-D inputs (batch, sequence, features) are one head."""
    shapes = [get_shape(v) for v in inputs[:3]]
    shapes = [[1, *s] if len(s) == 3 else s for s in shapes]
    return flop_counter.sdpa_flop_count(*shapes) / 2


def _meta(value: Any) -> Any:
    """A JIT value as an argument of a torch flop formula: a meta tensor of its shape, or the constant."""
    shape = get_shape(value)
    if shape is not None:
        return torch.empty(shape, device="meta")
    return value.toIValue() if value.node().kind() == "prim::Constant" else None


def _from_torch_registry(packet: Any) -> Any:
    formula = flop_counter.flop_registry[packet]

    def handle(inputs: list[Any], outputs: list[Any]) -> float:
        out = [_meta(v) for v in outputs]
        return formula(*[_meta(v) for v in inputs], out_val=out[0] if len(out) == 1 else tuple(out)) / 2

    return handle


def _formula_handles() -> dict[str, Any]:
    """Handles, in fvcore's form, for the operators fvcore does not price and a formula exists for."""
    handles: dict[str, Any] = {"aten::scaled_dot_product_attention": _sdpa}
    for packet in flop_counter.flop_registry:
        name = f"aten::{getattr(packet, '__name__', str(packet)).split('.')[-1]}"
        if name not in _FLOP_HANDLES and name not in handles:
            handles[name] = _from_torch_registry(packet)
    return handles


_EXTRA_FLOP_HANDLES = _formula_handles()


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
    unsupported: dict[str, int]  # aten op -> occurrences, zero by the counting convention
    unpriced: dict[str, int] = field(default_factory=dict)  # ops without any formula: total is a lower bound
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
    analysis.set_op_handle(**{k: _combined(k) for k in {*_FLOP_HANDLES, *_ACTIVATION_HANDLES, *_EXTRA_FLOP_HANDLES}})
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

    ops = {k.split("::")[-1]: v for k, v in sorted(unsupported.items()) if k.split("::")[-1] not in FREE}
    return TraceCounts(
        total=split(per_module.get("", Counter())),
        modules={name: split(per_module.get(name, Counter())) for name in modules},
        output_shapes=shapes,
        unsupported={k: v for k, v in ops.items() if k in ZERO_BY_CONVENTION},
        unpriced={k: v for k, v in ops.items() if k not in ZERO_BY_CONVENTION},
    )
