"""The one walk over a spec: :func:`place` turns it into the network as built.

Placing resolves everything the spec leaves implicit, op by op and in one pass: the width
multiplier, factorizations, the depth multiplier, ``auto`` widths, ``auto`` shortcuts, and the
strides of repetitions after the first. Each op kind (:mod:`archbench.spec.ops`) checks its
op on the shape it receives and gives its output shape and parameters; a spec that cannot be
built is reported here, with the module path and the shapes, and nowhere else.

The result is a tree of :class:`~archbench.spec.ops.Placed` nodes whose module paths are the
built network's. The cost counter, the memory model, the builder, ``show`` and the paper table
are visitors over it; none of them walks the spec. Identical repetitions of a block (same
input shape, strides already dropped) are one node object listed several times, so placing
Inception-ResNet-v2 places each of its repeated blocks twice, not 40 times.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError
from .ops.base import (NO_REWRITE, OP_TYPES, OpKind, Placed, Rewrite, Shape, cache, fmt, merge_of, remember,
                       rewrite_chain)
from .schema import AuxHead, Block, Defaults, Spec
from .transform import block_rewrite, repeats


class Stack:
    """The kind of a repeated block's node: its parts are the repetitions ``0``, ``1``, ..."""

    def cost(self, node: Placed) -> tuple:
        return (), 0, ()


STACK = Stack()
_PLACED: dict[tuple[int, Shape], Placed] = cache()  # (id(op), input shape) -> its node (Placer.place)


@dataclass
class PlacedNetwork:
    """A spec as built: top-level layers (body, then head) and aux heads, in module order."""

    spec: Spec
    input: tuple[int, int, int]
    layers: list[tuple[str, Placed]]  # (name, node), body then head
    body_names: list[str]
    aux: list[tuple[AuxHead, tuple[Placed, ...], Shape]]  # (head, its chain, its input shape)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1][1].out_shape if self.layers else self.input

    def walk(self, aux: bool = True):
        """Every node with its module path, in module order (aux heads last)."""
        for name, node in self.layers:
            yield from node.walk(name)
        if aux:
            for head, chain, _ in self.aux:
                for i, node in enumerate(chain):
                    yield from node.walk(f"{head.name}.{i}")


_BRANCH = tuple(f"branch{i}" for i in range(16))  # part names of a block's branches, made once


class Placer:
    """What op and merge kinds call while placing: shapes, chains, concatenation, errors."""

    def __init__(self, spec: Spec):
        self.source = spec.source
        self.defaults: Defaults = spec.defaults

    def fail(self, where: str, message: str) -> ShapeError:
        return ShapeError(f"{self.source}: {where}: {message}")

    def feature_map(self, shape: Shape, where: str, what: str) -> tuple[int, int, int]:
        if len(shape) != 3:
            raise self.fail(where, f"{what} needs a feature map CxHxW, got a flat vector of {shape[0]} features")
        return shape  # type: ignore[return-value]

    def op(self, op: object, shape: Shape, where: str) -> Placed:
        return self.place(OP_TYPES[op.__class__], op, shape, where)

    def place(self, kind: OpKind, op: object, shape: Shape, where: str, index: int | None = None) -> Placed:
        """``kind.place`` at ``where`` (``where.index`` when an index is given), looked up first:
        the node depends on the op and the shape alone, and a search places the same (shared,
        frozen) ops on the same shapes over and over. (The path is only made to place anew.)"""
        key = (id(op), shape)
        node = _PLACED.get(key)
        if node is not None and node.op is op:
            return node
        node = kind.place(op, shape, self, where if index is None else f"{where}.{index}")
        return remember(_PLACED, key, node, 1 << 16) if node.op is op else node

    def chain(self, ops: tuple, shape: Shape, where: str, rw: Rewrite = NO_REWRITE,
              segment: str | None = None) -> tuple[tuple[Placed, ...], Shape]:
        """Ops one after the other, under the transforms ``rw``; element ``i`` at ``where.i``
        (at ``where.segment.i`` when a segment is given: the path is only made to place anew).

        The hot loop of pricing a search candidate: :meth:`place` is inlined for ops placed
        on the same shape before (most of a candidate's ops, once rewritten)."""
        nodes = []
        placed = _PLACED
        kinds = OP_TYPES
        active = rw.active
        for op in ops:
            kind = kinds[op.__class__]
            for new in kind.rewrite(op, rw) if active else (op,):
                node = placed.get((id(new), shape))
                if node is None or node.op is not new:
                    path = where if segment is None else f"{where}.{segment}"
                    node = self.place(kinds[new.__class__], new, shape, path, len(nodes))
                nodes.append(node)
                shape = node.out_shape
        return tuple(nodes), shape

    def concat(self, branches: tuple[tuple, ...], shape: Shape, where: str,
               rw: Rewrite = NO_REWRITE) -> tuple[tuple, Shape]:
        """Branches on one input (under ``rw``), concatenated on channels: parts ``branchI``
        and the output shape."""
        parts = []
        outs = []
        channels = 0
        spatial = None
        fits = True
        for i, ops in enumerate(branches):
            segment = _BRANCH[i] if i < len(_BRANCH) else f"branch{i}"
            nodes, out = self.chain(ops, shape, where, rw, segment)
            parts.append((segment, nodes))
            outs.append(out)
            if len(out) != 3:
                fits = False
                continue
            channels += out[0]
            if spatial is None:
                spatial = out[1:]
            elif out[1:] != spatial:
                fits = False
        if not fits:
            listing = ", ".join(f"branch{i} gives {fmt(o)}" for i, o in enumerate(outs))
            if not all(len(o) == 3 for o in outs):
                raise self.fail(where, f"branches must end in feature maps to be concatenated: {listing}")
            raise self.fail(where, f"branches cannot be concatenated (their spatial sizes differ): {listing}")
        return tuple(parts), (channels, *spatial)  # type: ignore[misc]

    def block(self, spec: Spec, block: Block, shape: Shape, where: str) -> Placed:
        self.feature_map(shape, where, "a block")
        kind = merge_of(block.merge)
        rw = block_rewrite(spec, block)
        count = repeats(block, spec.depth_multiplier)
        if count is None:
            return kind.place(block, shape, self, where, rw)
        later = rw._replace(unstride=True)  # only the first repetition keeps its strides
        reps: list[tuple[str, Placed]] = []
        cur = shape
        for i in range(count):
            prev = reps[-1][1] if i >= 2 else None
            if prev is not None and prev.in_shape == cur:
                node = prev  # the same ops on the same shape: the same node
            else:
                node = kind.place(block, cur, self, f"{where}.{i}", rw if i == 0 else later)
            reps.append((str(i), node))
            cur = node.out_shape
        return Placed(block, STACK, shape, cur, 0, tuple(reps))


def place(spec: Spec, input_size: tuple[int, int, int] | None = None) -> PlacedNetwork:
    """The network of ``spec`` as built, at ``input_size`` (C, H, W; default the spec's).

    Raises :class:`ShapeError` naming the module path and the shapes when it cannot be built.
    """
    pc = Placer(spec)
    widths = Rewrite(spec.width_multiplier, spec.width_divisor) if spec.width_multiplier != 1.0 else NO_REWRITE
    start: Shape = tuple(input_size or spec.input)
    shape = start
    layers: list[tuple[str, Placed]] = []
    taps: dict[str, Shape] = {}
    for layer in spec.body:
        name = layer.name or ""
        if isinstance(layer, Block):
            node = pc.block(spec, layer, shape, name)
        else:
            node = pc.op(rewrite_chain((layer,), widths)[0], shape, name)
        layers.append((name, node))
        shape = taps[name] = node.out_shape
    for op in spec.head:
        name = op.name or ""
        node = pc.op(rewrite_chain((op,), widths)[0], shape, name)
        layers.append((name, node))
        shape = taps[name] = node.out_shape
    aux = []
    for head in spec.aux_heads:
        at = taps[head.at]
        chain, _ = pc.chain(rewrite_chain(head.layers, widths), at, head.name)
        aux.append((head, chain, at))
    return PlacedNetwork(spec, start, layers, [layer.name or "" for layer in spec.body], aux)  # type: ignore[arg-type]
