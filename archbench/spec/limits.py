"""Size limits checked analytically, before anything is expanded, costed layer by layer or built.

Why: a 200-byte YAML file can describe a network that never finishes expanding (``repeat:
100000000``, ``depth_multiplier: 1e9``) or a document whose YAML aliases expand to billions of
nodes (an alias bomb). Each limit here is computed without expanding anything, so a spec that
exceeds one is refused in milliseconds with the number, the limit and how to raise it.

Limits a user could mean to exceed (a really deep network, a really big model) are raised by an
environment variable named in the message, e.g. ``ARCHBENCH_MAX_LAYERS=1000000 archbench show
deep.yaml``; the YAML node limit protects the parser and is raised the same way.
The cost limits (params, FLOPs, activation memory) need the cost model and live in
:mod:`archbench.cost.limits`.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import ArchbenchError, CandidateError
from .ops.base import cache, remember

# Defaults with room to spare: the largest zoo network (ResNet-152) has about 500 ops after
# expansion and its YAML document about 4,000 nodes.
DEFAULT_MAX_LAYERS = 100_000  # ops after factorization, repeats and the depth multiplier
DEFAULT_MAX_YAML_NODES = 1_000_000  # YAML nodes after alias expansion
# Every limit's name (ARCHBENCH_MAX_<NAME>); the last three are the cost limits of archbench.cost.limits.
LIMIT_NAMES = ("layers", "yaml_nodes", "params", "flops", "activation_bytes")


class LimitError(CandidateError):
    """A spec or document exceeds a size limit (raise it with the environment variable named)."""


def limit(name: str, default: float) -> float:
    """The limit ``name`` (``ARCHBENCH_MAX_<NAME>`` in the environment, else ``default``). Every
    name is one of ``LIMIT_NAMES``, which :func:`check_environment` accepts: a new limit is added there."""
    if name not in LIMIT_NAMES:
        raise ValueError(f"limit {name!r} is not in LIMIT_NAMES")  # a bug in archbench, not a user error
    var = f"ARCHBENCH_MAX_{name.upper()}"
    text = os.environ.get(var)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise LimitError(f"{var}={text!r}: expected a positive number")
    return value


def check_environment() -> None:
    """Every ``ARCHBENCH_MAX_*`` variable set names a limit and holds a positive number.

    Why: each limit is read only where it is checked, so a bad value (``ARCHBENCH_MAX_FLOPS=abc``)
    or a misspelt name was silently ignored by a command that never checks that limit (``cost``
    prices a network without building it); every command checks them all when it starts.
    """
    prefix = "ARCHBENCH_MAX_"
    for var in sorted(v for v in os.environ if v.startswith(prefix)):
        name = var[len(prefix):].lower()
        if name not in LIMIT_NAMES:
            known = ", ".join(prefix + n.upper() for n in LIMIT_NAMES)
            raise LimitError(f"{var}: no such limit; the limits are {known}")
        limit(name, 1)


def refuse(what: str, value: float, name: str, default: float, source: str = "") -> LimitError:
    """The one message format of every limit: what, how much, the limit, and how to raise it."""
    var = f"ARCHBENCH_MAX_{name.upper()}"
    where = f"{source}: " if source else ""
    return LimitError(f"{where}{what} is {value:,.0f}, over the limit of {limit(name, default):,.0f}; "
                      f"if you mean it, raise the limit with {var}=N in the environment")


# ---------------------------------------------------------------------------- YAML documents
def yaml_node_count(node: Any, cap: float) -> int:
    """Nodes of a composed YAML document as if every alias were expanded, computed without
    expanding: each distinct node's expanded size is memoised (an alias bomb of nine levels of
    nine references is 9**9 nodes, counted in 81 steps). Stops counting once over ``cap``."""
    sizes: dict[int, int] = {}

    def size(n: Any) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a recursive alias (not allowed by PyYAML's constructor) counts once
        value = getattr(n, "value", None)
        total = 1
        if isinstance(value, list):
            for child in value:
                if isinstance(child, tuple):  # mapping: (key node, value node)
                    total += size(child[0]) + size(child[1])
                else:
                    total += size(child)
                if total > cap:
                    break
        sizes[key] = total
        return total

    return size(node) if node is not None else 0


def check_yaml_nodes(node: Any, source: str) -> None:
    cap = limit("yaml_nodes", DEFAULT_MAX_YAML_NODES)
    if yaml_node_count(node, cap) > cap:
        raise LimitError(f"{source}: the YAML document has over {cap:,.0f} nodes once its aliases (*name) are "
                         "expanded (an alias bomb?); if you mean it, raise the limit with "
                         "ARCHBENCH_MAX_YAML_NODES=N in the environment")


# ---------------------------------------------------------------------------- layers
_SCALARS = frozenset((int, float, str, bool, type(None)))
_FIELDS: dict[type, tuple[tuple[str, ...], bool]] = {}  # dataclass -> (its field names, frozen?)
_COUNTED: dict[int, tuple[Any, int]] = cache()  # id(op) -> (op, its count): the parser shares recurring ops


def _ops(node: Any) -> int:
    """Ops in ``node`` (an op, a merge, a chain or a branch list), nested ops included (a split's
    branches, a residual merge's projection and shortcut). Generic over the op registry: any
    frozen dataclass is one node, and its tuple or dataclass fields are searched for more.
    (Every candidate of a search is counted: scalars are skipped at once, each dataclass's field
    names are looked up once, and a frozen op object already counted is not counted again.)"""
    cls = node.__class__
    if cls in _SCALARS:
        return 0
    if isinstance(node, tuple):
        return sum([_ops(x) for x in node if x.__class__ not in _SCALARS])
    seen = _COUNTED.get(id(node))
    if seen is not None and seen[0] is node:
        return seen[1]
    described = _FIELDS.get(cls)
    if described is None:
        import dataclasses

        if not dataclasses.is_dataclass(cls) or isinstance(node, type):
            return 0
        described = _FIELDS[cls] = (tuple(f.name for f in dataclasses.fields(cls)),
                                    cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    names, frozen = described
    total = 1
    for name in names:
        value = getattr(node, name)
        if value.__class__ not in _SCALARS:
            total += _ops(value)
    if frozen:
        remember(_COUNTED, id(node), (node, total))
    return total


def _effective_repeat(repeat: int | None, depth: float) -> int:
    """The repeat count after the depth multiplier, the rule of :func:`archbench.spec.resolve`."""
    if repeat is None:
        return 1
    return max(1, math.ceil(repeat * depth - 1e-9))


def layer_count(spec: Any) -> int:
    """Ops of the network as built: after factorization (a 5x5 becomes two 3x3, an nxn a 1xn
    and an nx1: up to four convs for one), repeats and the depth multiplier. Counted without
    expanding: each block's branches are factorized once (the builder's own rewrite), then
    multiplied by the block's repetitions."""
    from .ops.base import rewrite_chain
    from .schema import Block
    from .transform import block_rewrite

    total = 0
    for layer in spec.body:
        if isinstance(layer, Block):
            rw = block_rewrite(spec, layer)._replace(width=1.0)  # factorizations only: widths change no count
            branches = tuple(rewrite_chain(b, rw) for b in layer.branches)
            per = _ops(branches) + _ops(layer.merge) - 1  # the merge itself is no layer
            total += _effective_repeat(layer.repeat, spec.depth_multiplier) * max(per, 1)
        else:
            total += 1
    total += len(spec.head) + sum(_ops(h.layers) for h in spec.aux_heads)
    return total


def check_spec_limits(spec: Any) -> None:
    """Refuse a spec whose expanded network has more ops than the layer limit."""
    count = layer_count(spec)
    if count > limit("layers", DEFAULT_MAX_LAYERS):
        raise refuse("the number of layers after factorization, repeats and the depth multiplier", count, "layers",
                     DEFAULT_MAX_LAYERS, spec.source)
