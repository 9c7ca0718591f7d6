"""Exact analytic costs of a spec: shapes, params, FLOPs and activations, no torch needed.

Shapes are checked once, by the placement that every visitor starts from: a spec whose
branches cannot be concatenated is reported there, with the block's name and the shapes.

Counting convention (the same as fvcore's, operator by operator, so the two agree to the unit):
- one multiply-add counts as one FLOP;
- conv: N x C_out x (C_in / groups) x k_h x k_w x H_out x W_out (bias not counted);
- linear: N x in x out (bias not counted);
- adaptive average pooling: one FLOP per input element;
- batch norm in eval mode: 2 per element, reported apart as ``batch_norm`` because archbench
  folds BN into the conv before it (inference cost) and leaves it out of ``flops``;
- max/avg pooling, adaptive max pooling, LRN, residual additions and scalings cost nothing
  here as in fvcore, and are listed in ``uncounted`` with how often they occur.
Activations follow fvcore's ``ActivationCountAnalysis``: output elements of every conv and linear.
Each op kind states its own costs (``cost`` in :mod:`archbench.spec.ops`); this module adds them
up over the placed network (:func:`archbench.spec.place.place`), whose module paths are the
builder's, so per-block numbers compare directly with fvcore's.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from ..spec.place import PlacedNetwork, place
from ..spec.schema import Spec
from ..spec.ops.base import Placed, Shape, fmt  # noqa: F401 - fmt re-exported


@dataclass
class LayerCost:
    """Costs of one top-level layer or aux head (a row of the per-block table)."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    params: int = 0
    flops_by_op: dict[str, int] = field(default_factory=dict)  # fvcore operator names
    activations: int = 0  # conv + linear output elements (fvcore's ActivationCountAnalysis)
    uncounted: dict[str, int] = field(default_factory=dict)  # op -> how many times it runs
    is_aux: bool = False

    @property
    def flops(self) -> int:
        """Inference FLOPs with BN folded into the preceding conv."""
        return sum(v for k, v in self.flops_by_op.items() if k != "batch_norm")

    @property
    def output_elements(self) -> int:
        return math.prod(self.out_shape)


class CostReport:
    """Everything :func:`analyze` computed for one spec at one input size and batch.

    The totals that pricing reads (``flops``, ``params()``, ``activations``) come from the
    placed network's per-node totals (:func:`totals`), which are worked out once per node and
    shared by every candidate that shares the node; the per-layer rows (``layers``) are
    counted when first asked for. Both count the same costs of the same nodes, and the tests
    hold them equal on the zoo and on random specs."""

    def __init__(self, net: PlacedNetwork, batch: int = 1):
        self.spec_name: str = net.spec.name
        self.input: tuple[int, int, int] = net.input
        self.batch = batch
        self.output_shape: Shape = net.output_shape
        self.net = net

    def __repr__(self) -> str:
        return f"CostReport({self.spec_name!r}, input={self.input}, batch={self.batch})"

    @functools.cached_property
    def layers(self) -> list[LayerCost]:
        """One row per top-level layer (body, then head) and per aux head."""
        return rows(self.net, self.batch)

    @functools.cached_property
    def _totals(self) -> tuple[int, int, int]:
        params = flops = acts = 0
        for _, node in self.net.layers:
            p, f, a = node.costs or totals(node)
            params += p
            flops += f
            acts += a
        return params, flops * self.batch, acts * self.batch

    def _main(self, aux: bool) -> list[LayerCost]:
        return [x for x in self.layers if aux or not x.is_aux]

    def params(self, aux: bool = False) -> int:
        return self._totals[0] + (self.aux_params if aux else 0)

    @property
    def aux_params(self) -> int:
        return sum(x.params for x in self.layers if x.is_aux)

    @property
    def flops(self) -> int:
        """Inference FLOPs (BN folded; aux heads do not run at inference)."""
        return self._totals[1]

    def flops_by_op(self, aux: bool = False) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self._main(aux):
            for k, v in layer.flops_by_op.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def activations(self) -> int:
        """Output elements of every conv and linear at inference (aux heads left out)."""
        return self._totals[2]

    def uncounted(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self._main(False):
            for k, v in layer.uncounted.items():
                out[k] = out.get(k, 0) + v
        return out

    def layer(self, name: str) -> LayerCost:
        for x in self.layers:
            if x.name == name:
                return x
        raise KeyError(name)


class _Counter:
    """Adds the costs of placed nodes to one layer's row, at batch 1 (``costs`` scales by the
    batch); identical repetitions (one node object listed several times) are priced once."""

    def add(self, row: LayerCost, node: Placed, times: int) -> None:
        row.params += node.params * times
        flops, acts, uncounted = node.kind.cost(node)
        if flops:
            d = row.flops_by_op
            for op, value in flops:
                d[op] = d.get(op, 0) + value * times
        if acts:
            row.activations += acts * times
        if uncounted:
            u = row.uncounted
            for op, count in uncounted:
                u[op] = u.get(op, 0) + count * times
        for _, part in node.parts:
            if part.__class__ is Placed:
                self.add(row, part, times)
            elif len(part) < 3 or part[1] is not part[2]:  # no identical repetitions: each once
                for child in part:
                    self.add(row, child, times)
            else:
                self.chain(row, part, times)

    def chain(self, row: LayerCost, nodes: tuple[Placed, ...], times: int) -> None:
        prev, count = None, 0
        for node in nodes:
            if node is prev:
                count += 1
                continue
            if prev is not None:
                self.add(row, prev, times * count)
            prev, count = node, 1
        if prev is not None:
            self.add(row, prev, times * count)


def _per_batch(row: LayerCost, batch: int) -> LayerCost:
    if batch != 1:
        row.flops_by_op = {k: v * batch for k, v in row.flops_by_op.items()}
        row.activations *= batch
    return row


def totals(node: Placed) -> tuple[int, int, int]:
    """(params, inference FLOPs with BN folded, activations) of ``node`` and everything inside
    it, at batch 1: worked out once per node and kept on it (``node.costs``).

    A search candidate shares most of its nodes with earlier candidates (the placer hands out
    the same node for the same op on the same shape), so pricing one adds up only the nodes
    new to it, and for the rest reads one tuple per node."""
    flops_by_op, acts, _ = node.kind.cost(node)
    params = node.params
    flops = 0
    for op, value in flops_by_op:
        if op != "batch_norm":
            flops += value
    for _, part in node.parts:
        for child in (part,) if part.__class__ is Placed else part:
            p, f, a = child.costs or totals(child)
            params += p
            flops += f
            acts += a
    node.costs = (params, flops, acts)
    return node.costs


def rows(net: PlacedNetwork, batch: int = 1) -> list[LayerCost]:
    """The per-layer rows of a placed network: top-level layers, then aux heads."""
    counter = _Counter()
    out: list[LayerCost] = []
    for name, node in net.layers:
        row = LayerCost(name=name, kind=node.op.KIND, in_shape=node.in_shape, out_shape=node.out_shape)
        counter.add(row, node, 1)
        out.append(_per_batch(row, batch))
    for head, chain, start in net.aux:
        row = LayerCost(name=head.name, kind="aux_head", in_shape=start,
                        out_shape=chain[-1].out_shape if chain else start, is_aux=True)
        counter.chain(row, chain, 1)
        out.append(_per_batch(row, batch))
    return out


def costs(net: PlacedNetwork, batch: int = 1) -> CostReport:
    """The cost report of a placed network (see :func:`analyze`)."""
    return CostReport(net, batch)


def analyze(spec: Spec, input_size: tuple[int, int, int] | None = None, batch: int = 1) -> CostReport:
    """Shapes and exact costs of every layer and aux head of ``spec``.

    Raises :class:`ShapeError` naming the layer and the shapes when the spec cannot be built.
    """
    return costs(place(spec, input_size), batch)
