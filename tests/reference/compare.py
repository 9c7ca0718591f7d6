"""Compare an archbench zoo network with its reference implementation, block by block.

For each pair (archbench layer, reference module path) in ``CHECKPOINTS`` this checks that the
output shapes agree (forward hooks, eval mode) and that fvcore counts the same FLOPs per
operator (conv, linear, batch_norm, adaptive_avg_pool2d) inside both. Whole-network parameter
counts and fvcore totals must be equal too. Run one network by hand with

    python -m tests.reference.compare inception_v3
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
from fvcore.nn import FlopCountAnalysis

import archbench
from tests.reference import REFERENCE_BUILDERS, REFERENCE_INPUT

from tests.reference.checkpoints_baselines import CHECKPOINTS as _BASELINES
from tests.reference.checkpoints_extension import CHECKPOINTS as _EXTENSION
from tests.reference.checkpoints_inception import CHECKPOINTS as _INCEPTION

# archbench module path -> reference module path, for every network whose names differ from the
# reference's. Networks not listed compare every top-level archbench layer with the reference
# module of the same name. Pairs must cover the same computation on both sides (a pair whose
# reference side leaves out a BN that ours includes would differ in batch_norm FLOPs).
CHECKPOINTS: dict[str, list[tuple[str, str]]] = {**_BASELINES, **_INCEPTION, **_EXTENSION}


def _norm_shape(shape: tuple | None) -> tuple | None:
    """(N, C, 1, 1) and (N, C) are the same thing here: global pooling with or without flatten."""
    if shape is not None and len(shape) == 4 and shape[2:] == (1, 1):
        return shape[:2]
    return shape


@dataclass
class Comparison:
    name: str
    params: tuple[int, int]
    flops: tuple[dict, dict]
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _outputs(model: torch.nn.Module, paths: list[str], x: torch.Tensor) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    modules = dict(model.named_modules())
    hooks = [modules[p].register_forward_hook(lambda m, i, o, p=p: shapes.__setitem__(p, tuple(o.shape)))
             for p in paths]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def _flops(model: torch.nn.Module, x: torch.Tensor) -> FlopCountAnalysis:
    fca = FlopCountAnalysis(model, x)
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    return fca


def compare(name: str, aux: bool = False) -> Comparison:
    ref_key = f"{name}_aux" if aux else name
    torch.manual_seed(0)
    ours = archbench.build(name, aux=aux).eval()
    theirs = REFERENCE_BUILDERS[ref_key]().eval()
    x = torch.randn(1, *REFERENCE_INPUT[ref_key])
    pairs = CHECKPOINTS.get(name) or [(n, n) for n, _ in ours.named_children() if n in dict(theirs.named_modules())]
    if not aux:
        aux_names = {h for taps in ours.aux_taps.values() for h in taps}
        pairs = [(a, b) for a, b in pairs if a not in aux_names]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    f_ours, f_theirs = _flops(ours, x), _flops(theirs, x)
    result = Comparison(name, (count(ours), count(theirs)), (f_ours.by_operator(), f_theirs.by_operator()))
    if result.params[0] != result.params[1]:
        result.mismatches.append(f"params: archbench {result.params[0]:,} vs reference {result.params[1]:,}")
    if dict(result.flops[0]) != dict(result.flops[1]):
        result.mismatches.append(f"fvcore by operator: archbench {dict(result.flops[0])} vs reference {dict(result.flops[1])}")
    s_ours = _outputs(ours, [a for a, _ in pairs], x)
    s_theirs = _outputs(theirs, [b for _, b in pairs], x)
    by_ours, by_theirs = f_ours.by_module_and_operator(), f_theirs.by_module_and_operator()
    for a, b in pairs:
        if _norm_shape(s_ours.get(a)) != _norm_shape(s_theirs.get(b)):
            result.mismatches.append(f"{a} vs {b}: output {s_ours.get(a)} vs {s_theirs.get(b)}")
        fa, fb = dict(by_ours.get(a, {})), dict(by_theirs.get(b, {}))
        if fa != fb:
            result.mismatches.append(f"{a} vs {b}: flops {fa} vs {fb}")
    if not pairs:
        result.mismatches.append("no checkpoints to compare")
    return result


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        for aux in ((False, True) if f"{arg}_aux" in REFERENCE_BUILDERS else (False,)):
            r = compare(arg, aux)
            print(f"{arg}{' (aux)' if aux else ''}: params {r.params[0]:,} / {r.params[1]:,}; "
                  f"{'OK' if r.ok else 'MISMATCH'}")
            for m in r.mismatches:
                print("   ", m)
