"""Transforms that rewrite a spec: factorization, width and depth multipliers.

The rules live with the ops they rewrite (each op kind's ``rewrite`` in :mod:`archbench.spec.ops`)
and are applied in two places that call the same functions: :func:`archbench.spec.place.place`
applies them op by op while it places the network (what the cost model, the memory model and
the builder see), and :func:`resolve` applies them to the whole spec, for the canonical form.
The depth multiplier is :func:`repeats`.
"""

from __future__ import annotations

import dataclasses
import math

from .ops.base import Rewrite, make_divisible, merge_of, rewrite_chain, scale_width  # noqa: F401 - re-exported
from .ops.conv import factorize_conv  # noqa: F401 - re-exported
from .schema import Block, Layer, Spec


def repeats(block: Block, depth_multiplier: float) -> int | None:
    """A block's repetitions under the depth multiplier (rounded up like timm); ``None`` stays
    a single block that the multiplier leaves alone."""
    if block.repeat is None or depth_multiplier == 1.0:
        return block.repeat
    return max(1, math.ceil(block.repeat * depth_multiplier - 1e-9))


def block_rewrite(spec: Spec, block: Block) -> Rewrite:
    """The transforms of a block's branches: the width multiplier and its factorizations."""
    modes = block.factorize if block.factorize is not None else spec.factorize
    return Rewrite(spec.width_multiplier, spec.width_divisor, modes)


def is_resolved(spec: Spec) -> bool:
    return spec.width_multiplier == 1.0 and spec.depth_multiplier == 1.0 and not _any_factorization(spec)


def resolve(spec: Spec) -> Spec:
    """The network as built: factorizations applied, multipliers folded into widths and repeats.

    Linear layers keep their widths (the classifier must keep ``classes``); convs everywhere,
    aux heads included, are scaled with one rounding rule. The depth multiplier scales only
    blocks that declare ``repeat`` (a stage), rounding up like timm.
    """
    if is_resolved(spec):
        return spec
    widths = Rewrite(spec.width_multiplier, spec.width_divisor)

    def layer(layer_: Layer) -> Layer:
        if not isinstance(layer_, Block):
            return rewrite_chain((layer_,), widths)[0]
        rw = block_rewrite(spec, layer_)
        return dataclasses.replace(
            layer_, branches=tuple(rewrite_chain(b, rw) for b in layer_.branches),
            merge=merge_of(layer_.merge).rewrite(layer_.merge, widths),
            repeat=repeats(layer_, spec.depth_multiplier), factorize=None)

    return dataclasses.replace(
        spec,
        body=tuple(layer(x) for x in spec.body),
        head=rewrite_chain(spec.head, widths),
        aux_heads=tuple(dataclasses.replace(h, layers=rewrite_chain(h.layers, widths)) for h in spec.aux_heads),
        width_multiplier=1.0, depth_multiplier=1.0, factorize=(),
    )


def _any_factorization(spec: Spec) -> bool:
    return bool(spec.factorize) or any(isinstance(b, Block) and b.factorize for b in spec.body)
