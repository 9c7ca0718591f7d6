"""Transforms that rewrite a spec: factorization, width and depth multipliers.

They are applied in exactly one place, :func:`resolve`, which turns a spec as written into the
network that is built and costed (multipliers 1, no pending factorization). The cost model and
the builder both call it, so they can never disagree about what a ``width_multiplier`` means.
"""

from __future__ import annotations

import dataclasses
import math

from .schema import Block, Conv, Layer, Op, Spec, Split


def make_divisible(value: float, divisor: int) -> int:
    """Round a width to a multiple of ``divisor``, never more than 10% below the exact value.

    The rule of timm's ``make_divisible`` and MobileNet: every width of a network goes through
    it, so branch widths keep their ratios up to one rounding step.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scale_width(width: int, multiplier: float, divisor: int) -> int:
    """A width under the multiplier; 1.0 keeps published widths exactly (no rounding)."""
    if multiplier == 1.0:
        return width
    return make_divisible(width * multiplier, divisor)


# ---------------------------------------------------------------------------- factorization
def factorize_conv(conv: Conv, modes: tuple[str, ...]) -> tuple[Conv, ...]:
    """Rewrite one conv by the Inception papers' factorizations.

    ``5x5``: a same-padded 5x5 becomes two 3x3 (Inception-BN, Inception-v3 fig. 5).
    ``nxn``: a same-padded nxn (n >= 3) becomes 1xn then nx1 (Inception-v3 fig. 6); applied after
    ``5x5``, so both together turn a 5x5 into four asymmetric convs.
    Both keep the output width and every other setting (norm, activation, bias) of the original
    conv on each new conv. Strided, grouped or non-square convs are left alone: their
    factorized form would change the output shape.
    """
    if not conv.factorizable or conv.groups != 1 or not conv.is_same_padded:
        return (conv,)
    convs: tuple[Conv, ...] = (conv,)
    if "5x5" in modes and conv.kernel == (5, 5):
        three = dataclasses.replace(conv, kernel=(3, 3), padding=(1, 1), name=None)
        convs = (three, three)
    if "nxn" in modes:
        out: list[Conv] = []
        for c in convs:
            n = c.kernel[0]
            if c.kernel[0] == c.kernel[1] and n >= 3:
                out.append(dataclasses.replace(c, kernel=(1, n), padding=(0, n // 2), name=None))
                out.append(dataclasses.replace(c, kernel=(n, 1), padding=(n // 2, 0), name=None))
            else:
                out.append(c)
        convs = tuple(out)
    return convs


def _factorize_chain(ops: tuple[Op, ...], modes: tuple[str, ...]) -> tuple[Op, ...]:
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Conv):
            out.extend(factorize_conv(op, modes))
        elif isinstance(op, Split):
            out.append(dataclasses.replace(op, branches=tuple(_factorize_chain(b, modes) for b in op.branches)))
        else:
            out.append(op)
    return tuple(out)


# ---------------------------------------------------------------------------- widths
def _scale_op(op: Op, multiplier: float, divisor: int) -> Op:
    if isinstance(op, Conv) and op.out is not None:
        return dataclasses.replace(op, out=scale_width(op.out, multiplier, divisor))
    if isinstance(op, Split):
        return dataclasses.replace(
            op, branches=tuple(tuple(_scale_op(o, multiplier, divisor) for o in b) for b in op.branches))
    return op


def _scale_chain(ops: tuple[Op, ...], multiplier: float, divisor: int) -> tuple[Op, ...]:
    return tuple(_scale_op(op, multiplier, divisor) for op in ops)


# ---------------------------------------------------------------------------- the one entry point
def resolve(spec: Spec) -> Spec:
    """The network as built: factorizations applied, multipliers folded into widths and repeats.

    Linear layers keep their widths (the classifier must keep ``classes``); convs everywhere,
    aux heads included, are scaled with one rounding rule. The depth multiplier scales only
    blocks that declare ``repeat`` (a stage), rounding up like timm.
    """
    if spec.width_multiplier == 1.0 and spec.depth_multiplier == 1.0 and not _any_factorization(spec):
        return spec
    m, div, d = spec.width_multiplier, spec.width_divisor, spec.depth_multiplier

    def layer(layer_: Layer) -> Layer:
        if not isinstance(layer_, Block):
            return _scale_op(layer_, m, div)
        modes = layer_.factorize if layer_.factorize is not None else spec.factorize
        branches = tuple(_scale_chain(_factorize_chain(b, modes), m, div) for b in layer_.branches)
        shortcut = layer_.shortcut if isinstance(layer_.shortcut, str) else _scale_chain(layer_.shortcut, m, div)
        project = _scale_op(layer_.project, m, div) if layer_.project is not None else None
        repeat = layer_.repeat if layer_.repeat is None else max(1, math.ceil(layer_.repeat * d - 1e-9))
        return dataclasses.replace(layer_, branches=branches, shortcut=shortcut, project=project,
                                   repeat=repeat, factorize=None)

    return dataclasses.replace(
        spec,
        body=tuple(layer(x) for x in spec.body),
        head=tuple(_scale_op(op, m, div) for op in spec.head),
        aux_heads=tuple(dataclasses.replace(h, layers=_scale_chain(h.layers, m, div)) for h in spec.aux_heads),
        width_multiplier=1.0, depth_multiplier=1.0, factorize=(),
    )


def _any_factorization(spec: Spec) -> bool:
    return bool(spec.factorize) or any(isinstance(b, Block) and b.factorize for b in spec.body)
