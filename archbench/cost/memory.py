"""Peak memory of inference and of a training step, from a spec alone: no module, no torch.

The profiler replays a built network on torch's meta device and watches every tensor storage an
op allocates and frees (:func:`archbench.profile.memory.estimate_on_meta`). This module gets the
same numbers without building anything: it walks the spec the way the builder's modules run and
keeps a reference count per tensor storage, as CPython and autograd would.

What is counted (bytes; ``dtype_bytes`` per element, 4 for fp32):

- **resident**: parameters, buffers (BN running mean and variance, and ``num_batches_tracked``,
  one int64 per BN) and the input batch; they exist before the pass and after it;
- **activations**: every storage an op allocates, from its allocation until its last reference
  goes. A view (flatten, the slices of a concat's gradient) allocates nothing and keeps its base
  alive. The peak of their sum, plus the resident bytes, is the estimate.

Inference (eval mode, ``no_grad``), the liveness rules of PyTorch's eager execution:

- a module's input stays alive while the module runs (its caller holds it): a block's input lives
  through all its branches, a repeated stack's input through the whole stack, and the last body
  output through the whole head;
- inside a sequence (a branch, conv -> BN -> act) each intermediate dies as soon as the next op
  has returned: conv allocates its output; BN in eval allocates its output and two per-channel
  statistics that die at once; in-place ReLU allocates nothing; max pooling allocates its output
  and int64 indices that die at once; flatten is a view; dropout and identity return the input;
- branch outputs stay alive until ``torch.cat`` has allocated the concatenation, then die;
- residual: ``project`` allocates, ``y * scale`` allocates, the shortcut runs while ``y`` is
  alive, ``+`` allocates, and the in-place activation after it allocates nothing.

Training step (train mode; forward, ``loss.backward()``, one optimizer step), the same rules plus
autograd's. What each op saves for backward (freed when that op's backward has run):

- conv and linear: their input; BN: its input and two per-channel statistics; in-place ReLU: its
  output (the BN output it overwrote); in-place ReLU6 and SiLU: a copy of their input (which they
  allocate); tanh and sigmoid: their output; GELU: its input;
  max pooling (and adaptive max): its input and its int64 indices; average pooling (and adaptive
  average pooling to more than 1x1): its input; global average pooling (a ``mean``), ``cat``,
  ``+`` and ``* scale``: nothing; dropout: its mask (on the meta device a float mask the size of
  its input; ``p = 0`` is the identity); LRN: its decomposition's intermediates.
- Backward runs the ops in reverse order of creation. Each op allocates the gradients of its
  inputs (cat, ``+`` and views hand on views of the incoming gradient instead) and of its
  weights, which stay as ``.grad``; then its incoming gradient and its saved tensors are
  released. A tensor used twice (a block input read by every branch and the shortcut) gets its
  gradients summed out of place: a new buffer, the old one released, the incoming one released
  once the op's other gradients are routed. The network input needs no gradient.
- The step: SGD with momentum allocates one buffer per parameter (a copy of its gradient) on the
  first step; plain SGD none. The peak of the step is therefore every gradient and every momentum
  buffer at once.

Shapes come from :func:`archbench.spec.place.place`, the one shape checker; each op kind states
its own rule (``memory`` in :mod:`archbench.spec.ops`) with the primitives of ``_Pass``. Identical
block repetitions are priced once (skipped at inference, lumped in training: see
``_Pass._lump``), so googlenet takes about a millisecond. On every zoo network, with and without
aux heads, the peaks equal the meta replay's to the byte (docs/memory.md).

Left out: the caching allocator's rounding (512-byte blocks on CUDA) and fragmentation,
cuDNN/oneDNN workspaces, the CUDA context, and anything the framework keeps outside tensor
storages. On CUDA, dropout's mask is one byte per element (here: ``dtype_bytes``, as on the meta
device); the difference is a head-sized tensor.

Aux heads (``aux=True``): they are built (their parameters are resident), they do not run at
inference, and in training they run at their taps and their logits enter the loss with the main
logits (as torchvision trains GoogLeNet and Inception-v3), so they get gradients and momentum.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ArchbenchError
from ..spec.ops.base import Placed
from ..spec.place import STACK, PlacedNetwork, place
from ..spec.schema import Spec
from .analysis import CostReport, costs

# State tensors per parameter, created at the first step (AdamW: exp_avg and exp_avg_sq; its step
# counters are CPU scalars unless capturable/fused, and left out).
OPTIMIZER_STATES = {"sgd": 0, "sgd-momentum": 1, "adamw": 2}
# Temporaries of the update, in units of the largest parameter tensor: AdamW's single-tensor step
# (foreach=False) computes ``exp_avg_sq.sqrt() / c`` one parameter at a time, two tensors at once
# (the previous parameter's quotient, held until reassigned, is left out: a bias, bytes).
# The foreach step (CUDA's default) holds one temporary per parameter at once: not modelled.
STEP_TEMPORARIES = {"adamw": 2}
INDEX_BYTES = 8  # pooling indices are int64 whatever the activations' dtype
INPLACE_SAVES_CLONE = {"relu6", "silu"}  # in-place, but autograd saves a copy of the input
SAVES_OUTPUT = {"tanh", "sigmoid"}  # out-of-place activations whose backward reads their output
METHOD = "analytic: tensor liveness through the block graph (rules of eager PyTorch and autograd)"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of one network at one batch size; peaks include parameters, buffers and the input."""

    param_bytes: int
    buffer_bytes: int
    activation_bytes: int  # every top-level layer's output, summed (the profiler's definition)
    inference_peak_bytes: int
    training_peak_bytes: int
    batch: int
    optimizer: str = "sgd-momentum"
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Storage:
    __slots__ = ("nbytes", "refs")

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        self.refs = 1


ALLOCATES, PASSES, LUMP = "allocates", "passes", "lump"  # how a node's backward treats its gradient


class _Node:
    """One autograd node: what its backward allocates and which storages it keeps until then.

    ``ALLOCATES``: a new gradient per input (and per weight); ``PASSES``: views of its incoming
    gradient to every input (``cat``, ``+``); ``LUMP``: identical block repetitions (see ``_lump``).
    """

    __slots__ = ("inputs", "saved", "weights", "scratch", "kind")

    def __init__(self, inputs: list[_Value], saved: list[_Storage], weights: tuple[int, ...] = (),
                 scratch: int = 0, kind: str = ALLOCATES):
        self.inputs = inputs  # values whose gradients it computes (those needing none are skipped)
        self.saved = saved
        self.weights = weights  # bytes of each parameter gradient it produces
        self.scratch = scratch  # temporaries its backward allocates and frees before returning
        self.kind = kind


class _Value:
    """A tensor as the forward pass holds it: its storage, its size, and the autograd node its
    gradient goes to (``None``: no gradient, as for the input batch or anything at inference)."""

    __slots__ = ("storage", "nbytes", "node")

    def __init__(self, storage: _Storage, nbytes: int, node: _Node | None):
        self.storage = storage
        self.nbytes = nbytes
        self.node = node


class _Pass:
    """One forward pass (and, when training, its backward and step) over live storages."""

    PASSES = PASSES  # for op kinds' memory rules: a node whose backward hands on its gradient

    def __init__(self, net: PlacedNetwork, batch: int, dtype_bytes: int, train: bool):
        self.net = net
        self.n = batch
        self.d = dtype_bytes
        self.train = train
        self.live = 0
        self.peak = 0
        self.nodes: list[_Node] = []

    # -- storages
    def new(self, nbytes: int) -> _Storage:
        self.live += nbytes
        if self.live > self.peak:
            self.peak = self.live
        return _Storage(nbytes)

    def drop(self, s: _Storage) -> None:
        s.refs -= 1
        if s.refs == 0:
            self.live -= s.nbytes

    def keep(self, v: _Value) -> _Value:
        v.storage.refs += 1
        return v

    def release(self, v: _Value) -> None:
        self.drop(v.storage)

    def save(self, s: _Storage) -> _Storage:
        """Autograd keeps ``s`` until the node's backward (a no-op at inference)."""
        if self.train:
            s.refs += 1
        return s

    def tensor(self, nbytes: int, node: _Node | None) -> _Value:
        return _Value(self.new(nbytes), nbytes, node)

    def node(self, *args: Any, **kwargs: Any) -> _Node | None:
        if not self.train:
            return None
        made = _Node(*args, **kwargs)
        self.nodes.append(made)
        return made

    def size(self, shape: tuple[int, ...]) -> int:
        return self.n * math.prod(shape) * self.d

    # -- modules: each takes a borrowed input and returns a new reference to its output
    def seq(self, steps: list[Any], v: _Value) -> _Value:
        """``nn.Sequential``: each output replaces the previous one, which dies after the next
        module has returned (unless autograd or the caller still holds it)."""
        cur = self.keep(v)
        for step in steps:
            out = step(cur)
            self.release(cur)
            cur = out
        return cur

    def value(self, storage: _Storage, nbytes: int, node: _Node | None) -> _Value:
        return _Value(storage, nbytes, node)

    def visit(self, node: Placed, v: _Value) -> _Value:
        """One placed node on a borrowed input: its kind's memory rule (a stack: see ``stack``)."""
        if node.kind is STACK:
            return self.stack(node, v)
        return node.kind.memory(node, self, v)

    def chain(self, nodes: tuple[Placed, ...], v: _Value) -> _Value:
        return self.seq([self._visit_step(node) for node in nodes], v)

    def _visit_step(self, node: Placed) -> Any:
        return lambda v: self.visit(node, v)

    def chain_step(self, nodes: tuple[Placed, ...]) -> Any:
        return lambda v: self.chain(nodes, v)

    def then_activation(self, name: str | None, v: _Value) -> _Value:
        """``v`` through the activation ``name`` (if any); ``v`` is released once consumed."""
        if not name:
            return v
        out = self.activation(name, v)
        self.release(v)
        return out

    def activation(self, name: str, v: _Value, inplace: bool = True) -> _Value:
        """``v`` through activation ``name``; relu, relu6 and silu are built in place unless
        ``inplace=False`` (then relu's backward reads its output, the others their input)."""
        if inplace and name in ("relu", *INPLACE_SAVES_CLONE):
            saved = []
            if self.train:
                saved = [self.new(v.nbytes)] if name in INPLACE_SAVES_CLONE else [self.save(v.storage)]
            return _Value(self.keep(v).storage, v.nbytes, self.node([v], saved))
        out = self.tensor(v.nbytes, None)
        if self.train:
            saves_output = name in SAVES_OUTPUT or name == "relu"
            out.node = self.node([v], [self.save(out.storage if saves_output else v.storage)])
        return out

    def pool(self, with_indices: bool, nbytes: int, v: _Value) -> _Value:
        out = self.tensor(nbytes, None)
        saved = [self.save(v.storage)] if self.train else []
        if with_indices:
            idx = self.new(nbytes // self.d * INDEX_BYTES)
            if self.train:
                saved.append(idx)
            else:
                self.drop(idx)
        out.node = self.node([v], saved)
        return out

    def concat(self, branches: list[Any], v: _Value) -> _Value:
        """``Concat.branch_outputs``: every branch on the same input, then one ``torch.cat``."""
        outs = [branch(v) for branch in branches]
        if len(outs) == 1:
            return outs[0]
        total = sum(o.nbytes for o in outs)
        out = self.tensor(total, self.node(outs, [], kind=PASSES))
        for o in outs:
            self.release(o)
        return out

    # -- repeated blocks
    def stack(self, node: Placed, v: _Value) -> _Value:
        """An ``nn.Sequential`` of repetitions; identical ones (one node object) are skipped at
        inference and lumped in training (see ``_lump``)."""
        reps = [rep for _, rep in node.parts]
        n = len(reps)
        cur = self.keep(v)
        i = 0
        while i < n:
            live, made = self.live, len(self.nodes)
            out = self.visit(reps[i], cur)
            self.release(cur)
            cur = out
            if i == 1 and n > 2 and reps[2] is reps[1]:
                # Repetitions 2.. are repetition 1 again, on an input of the same shape.
                if not self.train:
                    break  # same bytes live before each, so the same peak inside: skip them
                if n > 3:  # lump 2..n-2 into one node; n-1 runs for real (see _lump)
                    out = self._lump(cur, n - 3, self.live - live,
                                     sum(sum(made_node.weights) for made_node in self.nodes[made:]))
                    self.release(cur)
                    cur = out
                    i = n - 2
            i += 1
        return cur

    def _lump(self, v: _Value, times: int, retained: int, weights: int) -> _Value:
        """``times`` identical repetitions as one node, exact for the peak.

        Live bytes grow by ``retained`` per repetition in the forward pass; in the backward pass
        each repetition frees its saved tensors and adds ``weights`` of gradients; the pattern
        inside is the same every time. Every peak in between is therefore bounded by those of
        the two repetitions around the lump, which run for real. The node's forward leaves
        exactly the bytes the repetitions would; its backward frees before it allocates, so it
        never exceeds the states it starts and ends in, which are real states.
        """
        rest = self.new(times * retained - v.nbytes)  # all they keep, less their output below
        return self.tensor(v.nbytes, self.node([v], [self.save(v.storage), rest], (times * weights,), kind=LUMP))

    # -- the network
    def forward(self, x: _Value, aux: bool) -> list[_Value]:
        """``Network.forward``: the values the loss reads (logits, then aux logits)."""
        taps: dict[str, list[Any]] = {}
        if aux and self.train:
            for head, chain, _ in self.net.aux:
                taps.setdefault(head.at, []).append(chain)
        body = set(self.net.body_names)
        cur = self.keep(x)
        aux_out: list[_Value] = []
        head: list[Placed] = []
        for name, node in self.net.layers:
            if name not in body:
                head.append(node)
                continue
            out = self.visit(node, cur)
            self.release(cur)
            cur = out
            for chain in taps.get(name, ()):
                aux_out.append(self.chain(chain, cur))
        features = cur
        logits = self.chain(tuple(head), features)
        self.release(features)
        return [logits, *aux_out]

    def backward(self, outputs: list[_Value]) -> None:
        """``loss.backward()`` for ``loss = sum of every output's sum``: nodes in reverse order."""
        buffers: dict[_Node, _Storage] = {}
        root = self.new(4)  # ones_like(loss), held by the engine until the pass ends
        for v in outputs:
            if v.node is not None:
                self._route(buffers, v, self.save(root), [])
        for node in reversed(self.nodes):
            grad = buffers.pop(node, None)
            if grad is None:  # pragma: no cover - every node reaches the loss
                continue
            incoming: list[_Storage] = []
            if node.kind is LUMP:  # repetitions: release, then allocate
                for st in node.saved:
                    self.drop(st)
                self.drop(grad)
                for w in node.weights:
                    self.new(w)
                grads = [(v, self.new(v.nbytes)) for v in node.inputs if v.node is not None]
                for v, g in grads:
                    self._route(buffers, v, g, incoming)
            elif node.kind is PASSES:
                for v in node.inputs:
                    if v.node is not None:
                        self._route(buffers, v, self.save(grad), incoming)
                self.drop(grad)
            else:
                grads = [(v, self.new(v.nbytes)) for v in node.inputs if v.node is not None]
                for w in node.weights:
                    self.new(w)  # kept as the parameter's .grad until the step
                if node.scratch:
                    self.drop(self.new(node.scratch))
                self.drop(grad)
                for s in node.saved:
                    self.drop(s)
                for v, g in grads:
                    self._route(buffers, v, g, incoming)
            for g in incoming:  # the op's output list lives until all of it is routed
                self.drop(g)
        self.drop(root)

    def _route(self, buffers: dict[_Node, _Storage], v: _Value, grad: _Storage, incoming: list[_Storage]) -> None:
        node = v.node
        old = buffers.get(node)  # type: ignore[arg-type]
        if old is None:
            buffers[node] = grad  # type: ignore[index]
            return
        buffers[node] = self.new(v.nbytes)  # type: ignore[index]  # old + new, out of place
        self.drop(old)
        incoming.append(grad)


def _buffer_bytes(net: PlacedNetwork, aux: bool, dtype_bytes: int) -> int:
    """Buffers of every module: BN running mean and variance (``dtype_bytes`` each per channel)
    and one int64 counter per BN, as each op kind states them."""
    floats = ints = 0
    for _, node in net.walk(aux):
        f, i = node.kind.buffers(node) if node.kind is not STACK else (0, 0)
        floats += f
        ints += i
    return floats * dtype_bytes + ints * 8


def _largest_param_bytes(net: PlacedNetwork, aux: bool, dtype_bytes: int) -> int:
    """The largest single parameter tensor (a conv or linear weight), for an update's temporaries."""
    return dtype_bytes * max((node.kind.largest_tensor(node) for _, node in net.walk(aux) if node.kind is not STACK),
                             default=0)


def _check(batch: int, dtype_bytes: int, optimizer: str = "sgd-momentum") -> None:
    if optimizer not in OPTIMIZER_STATES:
        raise ArchbenchError(f"optimizer {optimizer!r}: expected one of {', '.join(OPTIMIZER_STATES)}")
    if batch < 1 or dtype_bytes < 1:
        raise ArchbenchError(f"batch and dtype_bytes must be at least 1, got {batch} and {dtype_bytes}")


def _input() -> _Value:
    """The input batch: held by the caller and counted as resident, so zero bytes here."""
    return _Value(_Storage(0), 0, None)


def _inference(net: PlacedNetwork, batch: int, dtype_bytes: int) -> int:
    """Peak bytes of the activations of one eval-mode forward under ``no_grad``."""
    run = _Pass(net, batch, dtype_bytes, train=False)
    for v in run.forward(_input(), aux=False):
        run.release(v)
    return run.peak


def _training(net: PlacedNetwork, batch: int, dtype_bytes: int, aux: bool, state_bytes: int) -> int:
    """Peak bytes (besides the resident ones) of forward, backward and the optimizer's step."""
    run = _Pass(net, batch, dtype_bytes, train=True)
    outputs = run.forward(_input(), aux)
    run.new(4)  # the loss, a float32 scalar (an aux head's partial sum: 4 more bytes, left out)
    for v in outputs:
        run.release(v)
    run.backward(outputs)
    return max(run.peak, run.live + state_bytes)  # the step: every gradient and its new state


def inference_peak_bytes(spec: Spec, input_size: tuple[int, int, int] | None = None, batch: int = 1,
                         dtype_bytes: int = 4) -> int:
    """Peak memory of inference alone (what a search's memory budget limits); see :func:`estimate_memory`."""
    _check(batch, dtype_bytes)
    net, report, params, buffers, resident = _resident(spec, input_size, batch, dtype_bytes, aux=False)
    return resident + _inference(net, batch, dtype_bytes)


def _resident(spec: Spec, input_size: tuple[int, int, int] | None, batch: int, dtype_bytes: int,
              aux: bool) -> tuple[PlacedNetwork, CostReport, int, int, int]:
    """The placement both estimates start from, and the bytes that stay resident throughout
    (parameters, buffers, the input batch). Returns (placed network, cost report, param bytes,
    buffer bytes, resident bytes)."""
    net = place(spec, input_size)
    report = costs(net, batch)
    params = report.params(aux=aux) * dtype_bytes
    buffers = _buffer_bytes(net, aux, dtype_bytes)
    return net, report, params, buffers, params + buffers + batch * math.prod(report.input) * dtype_bytes


def estimate_memory(spec: Spec, input_size: tuple[int, int, int] | None = None, batch: int = 1,
                    dtype_bytes: int = 4, optimizer: str = "sgd-momentum", aux: bool = False) -> MemoryEstimate:
    """Parameter, buffer and activation bytes, and the peaks of inference and of a training step.

    Every floating-point tensor takes ``dtype_bytes`` per element (the input batch included);
    pooling indices take 8. ``optimizer``: ``"sgd-momentum"`` (one state buffer per parameter,
    as the profiler's step), ``"sgd"`` (none) or ``"adamw"`` (two, and the temporaries of its
    ``foreach=False`` update, see ``STEP_TEMPORARIES``). ``aux``: build the aux heads (their parameters
    are resident; in training they run and their logits enter the loss). Raises
    :class:`ShapeError` for a spec that cannot be built, as :func:`analyze` does.
    """
    _check(batch, dtype_bytes, optimizer)
    aux = aux and bool(spec.aux_heads)
    net, report, params, buffers, resident = _resident(spec, input_size, batch, dtype_bytes, aux)
    activation = batch * sum(x.output_elements for x in report.layers if not x.is_aux) * dtype_bytes
    inference = _inference(net, batch, dtype_bytes)
    step_bytes = OPTIMIZER_STATES[optimizer] * params
    if optimizer in STEP_TEMPORARIES:
        step_bytes += STEP_TEMPORARIES[optimizer] * _largest_param_bytes(net, aux, dtype_bytes)
    training = _training(net, batch, dtype_bytes, aux, step_bytes)
    return MemoryEstimate(param_bytes=params, buffer_bytes=buffers, activation_bytes=activation,
                          inference_peak_bytes=resident + inference, training_peak_bytes=resident + training,
                          batch=batch, optimizer=optimizer)
