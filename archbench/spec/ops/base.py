"""Op kinds and merge kinds: the extension point of the grammar (docs/grammar.md, section 16).

An *op kind* holds everything archbench knows about one kind of layer, in one module of this
package: its frozen dataclass (the grammar's fields), how it is read from YAML and validated,
its canonical form, how the spec's transforms rewrite it, its shape rule and parameters, its
FLOPs and activations, its memory rule, the ``nn.Module`` it builds and its label in ``show``.
A *merge kind* does the same for how a block combines its branches (``merge: concat``,
``merge: residual``). Every module of this package is imported once, at first use, and
registers its kinds with :func:`register`: adding an op is adding a file.

The walkers never look at an op's type. :func:`archbench.spec.place.place` asks each kind to
place its op (shape check, output shape, parameters) and makes the tree of :class:`Placed`
nodes that the cost counter, the memory model, the builder and ``show`` visit; each visitor
calls the kind's hook for its own concern. Hooks receive what they need from the visitor
(``pc``: the placer; ``run``: the memory model's pass; ``b``: the builder, with ``b.nn`` for
``torch.nn``), so this package imports neither torch nor the layers above the spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from ..fields import Ctx

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flattening; batch excluded
Pair = tuple[int, int]
Counts = tuple[tuple[str, int], ...]  # (fvcore operator name, count) pairs


def fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


# ---------------------------------------------------------------------------- transforms
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
    """A width under the multiplier; 1.0 keeps published widths exactly (no rounding).
    (Placement asks :meth:`Rewrite.scale`, which keeps the widths it worked out.)"""
    if multiplier == 1.0:
        return width
    return make_divisible(width * multiplier, divisor)


def evolve(op: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for a frozen op without re-running ``__init__``.

    Placement rewrites ops of every search candidate (widths, strides); this copy is about ten
    times faster than ``replace`` and the fields it sets are ones the parser already validated.
    """
    new = object.__new__(type(op))
    d = new.__dict__
    d.update(op.__dict__)
    if changes:
        d.update(changes)
    return new


_CACHES: list[dict] = []


def cache() -> dict:
    """A new cache for :func:`remember`, emptied with every other by :func:`clear_caches`."""
    made: dict = {}
    _CACHES.append(made)
    return made


def clear_caches() -> None:
    """Forget every op, node and count kept for later candidates (tests compare with and
    without them; nothing else needs this)."""
    for made in _CACHES:
        made.clear()


def remember(memo: dict, key: Any, value: Any, size: int = 1 << 15) -> Any:
    """Store ``value`` in a bounded cache (emptied when full) and return it.

    The caches of placement are keyed by the identity of frozen ops, which recur from candidate
    to candidate of a search (the parser returns the same object for the same op, see
    :func:`archbench.spec.parse.parse_op`); each entry keeps its op alive, so an identity is
    never reused while its entry exists, and every hit checks it."""
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
    return value


_INTERNED: dict[tuple, Any] = cache()


def intern(op: Any) -> Any:
    """One object for all equal ops of a class (the first one seen), so that caches keyed by
    identity hit for equal ops made apart (two widths rounded to the same one). Ops with an
    unhashable field are returned as they are."""
    values = tuple(op.__dict__.values())
    try:
        key = (op.__class__, values, tuple(map(type, values)))  # 1, 1.0 and True differ
        found = _INTERNED.get(key)
    except TypeError:
        return op
    return found if found is not None else remember(_INTERNED, key, op)


_SCALED: dict[tuple[float, int], dict[int, int]] = cache()  # (multiplier, divisor) -> {width: scaled width}


class Rewrite:
    """How the spec's transforms apply to one chain of ops.

    ``width``/``divisor``: the width multiplier and its rounding; ``factorize``: the
    factorizations that apply (block branches only); ``unstride``: repetitions after the first
    of a repeated block keep no strides. ``active`` (any of them applies) is worked out once:
    pricing a search candidate asks it for every chain.
    """

    __slots__ = ("width", "divisor", "factorize", "unstride", "active", "_scaled")

    def __init__(self, width: float = 1.0, divisor: int = 8, factorize: tuple[str, ...] = (),
                 unstride: bool = False):
        self.width = width
        self.divisor = divisor
        self.factorize = factorize
        self.unstride = unstride
        self.active = width != 1.0 or bool(factorize) or unstride
        key = (width, divisor)
        scaled = _SCALED.get(key)
        self._scaled = scaled if scaled is not None else remember(_SCALED, key, {}, 1 << 10)

    def scale(self, width: int) -> int:
        """``width`` under the multiplier (:func:`scale_width`), kept for the multiplier: every
        block of a candidate rescales some of the same widths."""
        scaled = self._scaled.get(width)
        if scaled is None:
            scaled = self._scaled[width] = scale_width(width, self.width, self.divisor)
        return scaled

    def _replace(self, **changes: Any) -> "Rewrite":
        """A copy with some fields changed (as ``NamedTuple._replace``)."""
        fields = {"width": self.width, "divisor": self.divisor, "factorize": self.factorize, "unstride": self.unstride}
        return Rewrite(**{**fields, **changes})

    def __repr__(self) -> str:
        return (f"Rewrite(width={self.width!r}, divisor={self.divisor!r}, factorize={self.factorize!r}, "
                f"unstride={self.unstride!r})")


NO_REWRITE = Rewrite()


# ---------------------------------------------------------------------------- placed nodes
class Placed:
    """One op, merge or repeated stack as it sits in the network.

    ``op``: the op as built (transforms applied; ``auto`` widths are read from ``out_shape``);
    ``params``: its own parameters, not its children's; ``parts``: its children in module
    order, each ``(segment, node)`` (module path ``parent.segment``) or ``(segment, chain)``
    (element ``i`` at ``parent.segment.i``). Identical repetitions of a block are one node
    object listed several times, so visitors can price them once. A node is never changed once
    made: the placer hands the same node to every candidate that places the same op on the same
    shape (:meth:`archbench.spec.place.Placer.place`). Because it never changes, the cost
    counter keeps the totals of the node's subtree in ``costs`` the first time it adds them up
    (:func:`archbench.cost.analysis.totals`), and every later candidate that shares the
    node reads them from there.
    """

    __slots__ = ("op", "kind", "in_shape", "out_shape", "params", "parts", "costs")

    def __init__(self, op: Any, kind: Any, in_shape: Shape, out_shape: Shape, params: int = 0,
                 parts: tuple[tuple[str, Any], ...] = ()):
        self.op = op
        self.kind = kind
        self.in_shape = in_shape
        self.out_shape = out_shape
        self.params = params
        self.parts = parts
        self.costs: Any = None  # (params, FLOPs, activations) of the subtree, once counted

    def part(self, segment: str) -> Any:
        """The node or chain at ``segment`` (``None`` when absent)."""
        for seg, part in self.parts:
            if seg == segment:
                return part
        return None

    def children(self, path: str) -> Iterator[tuple[str, "Placed"]]:
        """Direct children with their module paths."""
        for seg, part in self.parts:
            if isinstance(part, Placed):
                yield f"{path}.{seg}", part
            else:
                for i, node in enumerate(part):
                    yield f"{path}.{seg}.{i}", node

    def walk(self, path: str) -> Iterator[tuple[str, "Placed"]]:
        """This node and every descendant, depth first in module order, with module paths."""
        yield path, self
        for child_path, child in self.children(path):
            yield from child.walk(child_path)


# ---------------------------------------------------------------------------- kinds
class Kind:
    """Hooks shared by op kinds and merge kinds; defaults suit an op that costs nothing."""

    def cost(self, node: Placed) -> tuple[Counts, int, Counts]:
        """(FLOPs by fvcore operator, activations, uncounted ops) at batch 1, this node only."""
        return (), 0, ()

    def buffers(self, node: Placed) -> tuple[int, int]:
        """(floating-point buffer elements, int64 buffer elements) of this node's module."""
        return 0, 0

    def largest_tensor(self, node: Placed) -> int:
        """Elements of this node's largest parameter tensor (the memory model prices an AdamW
        update's temporaries by it). Default: all its own parameters, an upper bound."""
        return node.params

    def memory(self, node: Placed, run: Any, v: Any) -> Any:  # pragma: no cover - every kind has one
        raise NotImplementedError(f"{type(self).__name__} has no memory rule")

    def build(self, node: Placed, b: Any) -> Any:  # pragma: no cover - every kind has one
        raise NotImplementedError(f"{type(self).__name__} builds no module")


class OpKind(Kind):
    """One kind of op (``conv``, ``maxpool``...): subclass it in a module and ``@register`` it."""

    keys: ClassVar[tuple[str, ...]] = ()  # the YAML keys that introduce it
    type: ClassVar[type]  # its frozen dataclass
    layer_depth: ClassVar[int] = 0  # 1 for ops that count as a layer of the network's depth

    def parse(self, ctx: "Ctx", m: Any, path: str, d: Any, key: str) -> Any:
        """The op from mapping ``m`` (``key`` is which of ``keys`` it has), or None after
        recording every problem in ``ctx``. ``d``: the network's defaults."""
        raise NotImplementedError

    def to_dict(self, op: Any) -> dict[str, Any]:
        """The canonical mapping of ``op``, every field explicit (without ``name``)."""
        raise NotImplementedError

    def rewrite(self, op: Any, rw: Rewrite) -> tuple[Any, ...]:
        """``op`` under the transforms (may become several ops, e.g. a factorized conv)."""
        return (op,)

    def stride(self, op: Any) -> Pair:
        """The stride ``op`` applies (an ``auto`` shortcut takes the product along branch 0)."""
        return (1, 1)

    def place(self, op: Any, shape: Shape, pc: Any, where: str) -> Placed:
        """Check ``op`` on an input of ``shape`` (raise ``pc.fail(where, ...)``) and place it.

        The node must depend on ``op`` and ``shape`` alone (``where`` and ``pc.fail`` only name
        an error): the placer keeps the nodes it made and hands the same node out again for the
        same op object on the same shape."""
        return Placed(op, self, shape, shape)

    def label(self, op: Any) -> str:
        """A compact description for ``archbench show``; by default the canonical fields."""
        d = self.to_dict(op)
        return " ".join(f"{k}={v}" if i else f"{k} {v}" for i, (k, v) in enumerate(d.items()))

    def name_stem(self, op: Any) -> str:
        """Unnamed top-level ops are named ``<stem><n>``."""
        return type(op).__name__.lower()

    def paper_type(self, op: Any) -> str:
        """The ``type`` column of the paper table."""
        return self.name_stem(op)


class MergeKind(Kind):
    """How a block merges its branches (``merge: <name>``): subclass it and ``@register`` it."""

    name: ClassVar[str] = ""  # the value of ``merge:``
    keys: ClassVar[tuple[str, ...]] = ()  # block fields it reads besides the common ones
    type: ClassVar[type]  # its frozen dataclass (a block's ``merge``)

    def parse(self, ctx: "Ctx", m: Any, path: str, d: Any) -> Any:
        raise NotImplementedError

    def to_dict(self, merge: Any) -> dict[str, Any]:
        raise NotImplementedError

    def rewrite(self, merge: Any, rw: Rewrite) -> Any:
        """The merge's own ops (projection, shortcut) under the transforms."""
        return merge

    def place(self, block: Any, shape: Shape, pc: Any, where: str, rw: Rewrite) -> Placed:
        raise NotImplementedError

    def label(self, merge: Any) -> str:
        return self.name

    def paper_type(self, merge: Any) -> str:
        return self.name


OPS: dict[str, OpKind] = {}  # YAML key -> kind
OP_TYPES: dict[type, OpKind] = {}  # dataclass -> kind
MERGES: dict[str, MergeKind] = {}  # merge name -> kind
MERGE_TYPES: dict[type, MergeKind] = {}


def register(cls: type) -> type:
    """Class decorator: make the kind known to the parser and every walker."""
    kind = cls()
    if isinstance(kind, MergeKind):
        if kind.name in MERGES:
            raise ValueError(f"merge {kind.name!r} is registered twice")
        MERGES[kind.name] = kind
        MERGE_TYPES[kind.type] = kind
    else:
        for key in kind.keys:
            if key in OPS:
                raise ValueError(f"op key {key!r} is registered twice")
            OPS[key] = kind
        OP_TYPES[kind.type] = kind
    return cls


def kind_of(op: Any) -> OpKind:
    return OP_TYPES[type(op)]


def merge_of(merge: Any) -> MergeKind:
    return MERGE_TYPES[type(merge)]


def dump_op(op: Any) -> dict[str, Any]:
    """Canonical mapping of any op, with its name (the one writer of ops)."""
    d = kind_of(op).to_dict(op)
    if op.name is not None:
        d["name"] = op.name
    return d


def dump_chain(ops: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dump_op(op) for op in ops]


def rewrite_chain(ops: tuple[Any, ...], rw: Rewrite) -> tuple[Any, ...]:
    """A chain under the transforms (the chain itself when none applies)."""
    if not rw.active:
        return ops
    out: list[Any] = []
    for op in ops:
        out.extend(OP_TYPES[type(op)].rewrite(op, rw))
    return tuple(out)


def pair_text(p: Pair) -> Any:
    """A pair as the canonical form writes it: ``3`` or ``"1x7"``."""
    return p[0] if p[0] == p[1] else f"{p[0]}x{p[1]}"


def k(pair: Pair) -> str:
    return f"{pair[0]}x{pair[1]}"
