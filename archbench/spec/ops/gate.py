"""``gate``: channel gating, a merge inside a chain: ``x * act(chain(mean_hw(x)))``.

Squeeze-and-excitation (Hu et al. 2018, SENet): the input is averaged over its spatial
positions to C x 1 x 1, passed through ``chain`` (two 1x1 convs with biases, the first with a
ReLU), squashed by ``act`` (sigmoid by default) and multiplied into the input, one weight per
channel::

    - gate:
        - {conv: 16, kernel: 1, bias: true, norm: none}             # reduce, ReLU
        - {conv: 256, kernel: 1, bias: true, norm: none, act: none}  # back to C
      act: sigmoid

The chain must give C x 1 x 1 (or 1 x 1 x 1: one weight for every channel). Module: ``Gate``
(children ``gate``, the chain, and ``act``). Cost: the chain's own (its convs are fvcore's
``conv``); the mean, the gate activation and the multiplication are uncounted, as in fvcore.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

from ..fields import ACTIVATIONS, check_keys, get, parse_name
from .base import OpKind, Placed, Rewrite, Shape, dump_chain, evolve, fmt, register, rewrite_chain


@dataclass(frozen=True)
class Gate:
    """``x * act(chain(mean over H, W of x))``: squeeze-and-excitation when ``chain`` is
    1x1 conv (reduce) + ReLU, 1x1 conv (back to C)."""

    KIND: ClassVar[str] = "gate"
    chain: tuple[Any, ...]
    act: str = "sigmoid"
    name: str | None = None


@functools.cache
def _module_class() -> type:
    """``Gate`` as an ``nn.Module``, made at first build (this package does not import torch)."""
    import torch
    from torch import nn

    class GateModule(nn.Module):
        def __init__(self, gate: nn.Module, act: nn.Module):
            super().__init__()
            self.gate = gate
            self.act = act

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.act(self.gate(x.mean((2, 3), keepdim=True)))

    GateModule.__module__ = __name__
    GateModule.__qualname__ = GateModule.__name__ = "GateModule"
    return GateModule


def __getattr__(name: str) -> Any:  # lets pickle find archbench.spec.ops.gate.GateModule
    if name == "GateModule":
        return _module_class()
    raise AttributeError(name)


@register
class GateKind(OpKind):
    keys = ("gate",)
    type = Gate

    def parse(self, ctx: Any, m: Any, path: str, d: Any, key: str) -> Gate | None:
        from ..parse import parse_chain  # the chain is read with every op kind

        check_keys(ctx, m, path, ("gate", "act", "name"), "a gate")
        chain = parse_chain(ctx, m["gate"], m, "gate", f"{path}.gate", d)
        act = get(ctx, m, "act", path, "choice", "sigmoid", choices=tuple(a for a in ACTIVATIONS if a != "none"))
        name = parse_name(ctx, m, path)
        return None if chain is None or act is None else Gate(chain=chain, act=act, name=name)

    def to_dict(self, op: Gate) -> dict[str, Any]:
        return {"gate": dump_chain(op.chain), "act": op.act}

    def rewrite(self, op: Gate, rw: Rewrite) -> tuple[Gate, ...]:
        return (evolve(op, chain=rewrite_chain(op.chain, rw._replace(factorize=()))),)

    def place(self, op: Gate, shape: Shape, pc: Any, where: str) -> Placed:
        c = pc.feature_map(shape, where, "a gate")[0]
        chain, out = pc.chain(op.chain, (c, 1, 1), f"{where}.gate")
        if out not in ((c, 1, 1), (1, 1, 1)):
            raise pc.fail(where, f"a gate's chain must give {c}x1x1 (one weight per channel of the {fmt(shape)} "
                                 f"input) or 1x1x1, got {fmt(out)}")
        return Placed(op, self, shape, shape, 0, (("gate", chain),))

    def cost(self, node: Placed) -> tuple:
        return (), 0, (("mean", 1), (node.op.act, 1), ("mul", 1))

    def memory(self, node: Placed, run: Any, x: Any) -> Any:
        """The mean saves nothing; the chain as any chain; the gate activation out of place;
        ``x * g`` saves both factors, and its backward computes ``grad * x`` at full size
        before reducing it to g's shape (a scratch buffer the size of x)."""
        squeezed = run.tensor(run.size((node.in_shape[0], 1, 1)), run.node([x], []))
        g = run.chain(node.parts[0][1], squeezed)
        run.release(squeezed)
        weights = run.activation(node.op.act, g, inplace=False)
        run.release(g)
        out = run.tensor(x.nbytes, run.node([x, weights], [run.save(x.storage), run.save(weights.storage)],
                                            scratch=x.nbytes))
        run.release(weights)
        return out

    def build(self, node: Placed, b: Any) -> Any:
        return _module_class()(b.chain(node.parts[0][1]), b.activation(node.op.act, inplace=False))

    def label(self, op: Gate) -> str:
        return f"gate ({op.act}) of a {len(op.chain)}-op chain on the channel means"
