"""Validate a raw YAML document into a :class:`~archbench.spec.schema.Spec`.

The parser never stops at the first problem: it records each one with the path inside the
document and its line, keeps going, and raises a single :class:`SpecError` listing all of them,
so ``archbench validate`` can show every mistake in one run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from ..errors import Problem, SpecError
from .fields import (  # noqa: F401 - re-exported: the readers every part of the grammar shares
    ACTIVATIONS,
    NAME_RE,
    NORMS,
    Ctx,
    check_keys,
    describe,
    get,
    join,
    optional_act,
    parse_name,
    parse_padding,
    parse_pair,
)
from .limits import check_spec_limits
from .ops import MERGES, OP_TYPES, OPS
from .ops.base import cache, remember
from .schema import AuxHead, Block, Defaults, Layer, Op, Spec

FACTORIZATIONS = ("5x5", "nxn")
_NAME_RE = NAME_RE

SPEC_KEYS = (
    "name", "reference", "description", "input", "classes", "defaults", "width_multiplier",
    "width_divisor", "depth_multiplier", "factorize", "body", "head", "aux_heads", "meta",
    "base", "set",
)
DEFAULT_KEYS = ("norm", "bn_eps", "act", "conv_bias")


# ---------------------------------------------------------------------------- ops
def layer_kinds() -> tuple[str, ...]:
    """Every key that starts a layer: each registered op kind's keys, then ``block``."""
    return (*OPS, "block")


def op_kind(ctx: Ctx, m: Any, container: Any, index: Any, path: str, allowed: tuple[str, ...]) -> str | None:
    """The one key of a layer mapping that says what it is (``conv``, ``block``, ...)."""
    if not isinstance(m, Mapping):
        ctx.error(container, index, path,
                  f"expected a layer mapping such as {{conv: 64, kernel: 3}}, found {describe(m)}")
        return None
    every = layer_kinds()
    kinds = [k for k in m if k in every]
    if not kinds:
        ctx.error(m, None, path, "no layer type given; expected exactly one of the keys: "
                  + ", ".join(allowed) + f" (found keys: {', '.join(map(str, m)) or 'none'})")
        return None
    if len(kinds) > 1:
        ctx.error(m, kinds[1], path, f"a layer has exactly one type, found {', '.join(kinds)}")
        return None
    if kinds[0] not in allowed:
        ctx.error(m, kinds[0], path, f"'{kinds[0]}' is not allowed here; expected one of: {', '.join(allowed)}")
        return None
    return kinds[0]


def parse_op(ctx: Ctx, m: Any, container: Any, index: Any, path: str, d: Defaults,
             classes: int | None = None) -> Op | None:
    """One op, read and validated by its kind (``classes``: kept for callers; ``linear: classes``
    reads the network's class count from ``ctx``)."""
    key = _memo_key(m, d, ctx.classes)
    if key is not None:
        op = _PARSED.get(key)
        if op is not None:
            return op
    kind = op_kind(ctx, m, container, index, path, tuple(OPS))
    if kind is None:
        return None
    found = len(ctx.problems)
    op = OPS[kind].parse(ctx, m, path, d, kind)
    if key is not None and op is not None and len(ctx.problems) == found:
        remember(_PARSED, key, op)
    return op


# Ops parsed without a problem, by everything their parse reads: the mapping's keys and scalar
# values (with their types: ``1``, ``1.0`` and ``true`` differ), the defaults and the class count.
# A search parses thousands of candidates whose ops mostly recur (widths are multiples of 8); a
# hit returns the same frozen op. Mappings holding lists or mappings (a split, a ``[1, 7]``
# kernel) are parsed every time. Only error-free results are kept, so every message is unchanged.
_PARSED: dict[tuple, Any] = cache()
_KEYED = frozenset((int, str, bool, type(None)))


def _memo_key(m: Any, d: Defaults, classes: int | None) -> tuple | None:
    if not isinstance(m, dict):
        return None
    key: list[Any] = [d, classes]
    for k, v in m.items():
        cls = v.__class__
        if cls in _KEYED and k.__class__ is str:
            key += (k, cls, v)
        elif cls is float:
            key += (k, cls, repr(v))  # -0.0 and 0.0 differ in what the canonical form writes
        else:
            return None
    return tuple(key)


def parse_chain(ctx: Ctx, seq: Any, container: Any, key: Any, path: str, d: Defaults,
                classes: int | None = None, allow_empty: bool = False) -> tuple[Op, ...] | None:
    if not isinstance(seq, list) or (not seq and not allow_empty):
        ctx.error(container, key, path, f"expected a non-empty list of layers, found {describe(seq)}")
        return None
    ops = [parse_op(ctx, item, seq, i, join(path, i), d, classes) for i, item in enumerate(seq)]
    return None if any(op is None for op in ops) else tuple(ops)  # type: ignore[misc]


def parse_branches(ctx: Ctx, m: Mapping, key: str, path: str, d: Defaults) -> tuple[tuple[Op, ...], ...] | None:
    branches = m.get(key)
    where = join(path, key)
    if not isinstance(branches, list) or not branches:
        ctx.error(m, key, where, f"expected a non-empty list of branches (each a list of layers), found {describe(branches)}")
        return None
    parsed = [parse_chain(ctx, br, branches, i, join(where, i), d) for i, br in enumerate(branches)]
    return None if any(b is None for b in parsed) else tuple(parsed)  # type: ignore[misc]


def parse_factorize(ctx: Ctx, m: Mapping, path: str) -> tuple[str, ...] | None:
    """``factorize: 5x5``, ``[5x5, nxn]``, ``none`` or ``[]``."""
    value = m.get("factorize")
    if value in (None, "none", False):
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        ctx.error(m, "factorize", join(path, "factorize"),
                  f"expected 'none' or a list of {', '.join(FACTORIZATIONS)}, found {describe(value)}")
        return None
    bad = [v for v in items if v not in FACTORIZATIONS]
    if bad:
        ctx.error(m, "factorize", join(path, "factorize"),
                  f"unknown factorization {bad[0]!r}; expected: {', '.join(FACTORIZATIONS)}")
        return None
    return tuple(v for v in FACTORIZATIONS if v in items)  # canonical order


def block_keys() -> tuple[str, ...]:
    """The fields of a block: the common ones and every merge kind's (shared ones last)."""
    return _block_keys(len(MERGES))


@functools.lru_cache(maxsize=None)
def _block_keys(registered: int) -> tuple[str, ...]:
    keys: list[str] = []
    for kind in MERGES.values():
        keys.extend(k for k in kind.keys if k not in keys)
    shared = [k for k in keys if sum(k in kind.keys for kind in MERGES.values()) > 1]
    return ("block", "branches", "merge", *(k for k in keys if k not in shared), *shared, "repeat", "factorize")


def parse_block(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Block | None:
    check_keys(ctx, m, path, block_keys(), "a block")
    name = m["block"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        ctx.error(m, "block", join(path, "block"),
                  f"a block's value is its name, an identifier (letters, digits, _); found {describe(name)}")
        name = None
    branches = parse_branches(ctx, m, "branches", path, d)
    merge_name = get(ctx, m, "merge", path, "choice", "concat", choices=tuple(MERGES))
    repeat = get(ctx, m, "repeat", path, "int", None, minimum=1)
    factorize = parse_factorize(ctx, m, path) if "factorize" in m else None
    merge = None
    if merge_name is not None:
        kind = MERGES[merge_name]
        merge = kind.parse(ctx, m, path, d)
        for key in m:
            owners = [other.name for other in MERGES.values() if key in other.keys]
            if owners and key not in kind.keys:
                ctx.error(m, key, join(path, key), f"'{key}' only applies to merge: {', '.join(owners)}")
    if None in (name, branches, merge) or (factorize is None and "factorize" in m):
        return None
    return Block(name=name, branches=branches, merge=merge, repeat=repeat, factorize=factorize)


def parse_layer(ctx: Ctx, m: Any, container: Any, index: int, path: str, d: Defaults,
                classes: int | None) -> Layer | None:
    kind = op_kind(ctx, m, container, index, path, layer_kinds())
    if kind is None:
        return None
    if kind == "block":
        return parse_block(ctx, m, path, d)
    return parse_op(ctx, m, container, index, path, d, classes)


# ---------------------------------------------------------------------------- whole spec
def parse_input(ctx: Ctx, m: Mapping) -> tuple[int, int, int] | None:
    value = m.get("input")
    if value is None:
        ctx.error(m, None, "input", "missing required field 'input' (e.g. 3x224x224)")
        return None
    parsed = parse_input_size(value)
    if parsed is None:
        ctx.error(m, "input", "input", f"expected CxHxW such as 3x224x224, found {describe(value)}")
    return parsed


def parse_input_size(value: Any, channels: int = 3) -> tuple[int, int, int] | None:
    """``224`` -> (channels, 224, 224); ``"3x299x299"`` or ``[3, 299, 299]`` -> as given."""
    if isinstance(value, int) and not isinstance(value, bool):
        dims = [channels, value, value]
    elif isinstance(value, str) and re.fullmatch(r"\d+(x\d+){0,2}", value.strip()):
        dims = [int(v) for v in value.strip().split("x")]
        dims = {1: [channels, dims[0], dims[0]], 2: [channels, *dims], 3: dims}[len(dims)]
    elif isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        dims = list(value)
    else:
        return None
    if min(dims) < 1:
        return None
    return (dims[0], dims[1], dims[2])


def parse_defaults(ctx: Ctx, m: Mapping) -> Defaults:
    raw = m.get("defaults", {})
    if not isinstance(raw, Mapping):
        ctx.error(m, "defaults", "defaults", f"expected a mapping, found {describe(raw)}")
        return Defaults()
    check_keys(ctx, raw, "defaults", DEFAULT_KEYS, "defaults")
    norm = get(ctx, raw, "norm", "defaults", "choice", "bn", choices=NORMS)
    eps = get(ctx, raw, "bn_eps", "defaults", "float", 1e-5, minimum=1e-12)
    act = get(ctx, raw, "act", "defaults", "choice", "relu", choices=ACTIVATIONS)
    bias_raw = raw.get("conv_bias", "auto")
    bias = None if bias_raw == "auto" else get(ctx, raw, "conv_bias", "defaults", "bool", None)
    return Defaults(norm=None if norm in (None, "none") else norm, bn_eps=eps or 1e-5,
                    act=optional_act(act), conv_bias=bias)


def parse_aux_heads(ctx: Ctx, m: Mapping, d: Defaults, classes: int | None) -> tuple[AuxHead, ...]:
    raw = m.get("aux_heads", [])
    if not isinstance(raw, list):
        ctx.error(m, "aux_heads", "aux_heads", f"expected a list of aux heads, found {describe(raw)}")
        return ()
    heads = []
    for i, h in enumerate(raw):
        path = join("aux_heads", i)
        if not isinstance(h, Mapping):
            ctx.error(raw, i, path, f"expected a mapping with name, at and layers, found {describe(h)}")
            continue
        check_keys(ctx, h, path, ("name", "at", "layers", "weight"), "an aux head")
        name = get(ctx, h, "name", path, "str")
        if name is not None and not _NAME_RE.match(name):
            ctx.error(h, "name", join(path, "name"), f"expected an identifier, found {name!r}")
            name = None
        at = get(ctx, h, "at", path, "str")
        weight = get(ctx, h, "weight", path, "float", 0.3, minimum=0.0)
        layers = parse_chain(ctx, h.get("layers"), h, "layers", join(path, "layers"), d, classes)
        if None not in (name, at, weight, layers):
            heads.append(AuxHead(name=name, at=at, layers=layers, weight=weight))
    return tuple(heads)


def auto_name(layer: Layer, counts: dict[str, int], taken: set[str]) -> Layer:
    """Give an unnamed top-level op a stable name: its kind plus a running number, skipping
    names the spec uses explicitly."""
    import dataclasses

    if layer.name is not None:
        return layer
    key = OP_TYPES[type(layer)].name_stem(layer)
    while True:
        counts[key] = counts.get(key, 0) + 1
        name = f"{key}{counts[key]}"
        if name not in taken:
            taken.add(name)
            return dataclasses.replace(layer, name=name)


def parse_spec(doc: Any, source: str) -> Spec:
    """Validate a whole document (``base:`` and ``set:`` already applied) into a Spec."""
    ctx = Ctx(source)
    if not isinstance(doc, Mapping):
        raise SpecError([Problem(source, "", f"a spec must be a mapping at the top level, found {describe(doc)}")])
    check_keys(ctx, doc, "", SPEC_KEYS, "a spec")
    name = get(ctx, doc, "name", "", "str")
    inp = parse_input(ctx, doc)
    classes = get(ctx, doc, "classes", "", "int", 1000, minimum=1)
    ctx.classes = classes
    d = parse_defaults(ctx, doc)
    width = get(ctx, doc, "width_multiplier", "", "float", 1.0, minimum=1e-3, maximum=1e4)
    divisor = get(ctx, doc, "width_divisor", "", "int", 8, minimum=1)
    depth = get(ctx, doc, "depth_multiplier", "", "float", 1.0, minimum=1e-3)
    factorize = parse_factorize(ctx, doc, "")
    body_raw = doc.get("body")
    body: list[Layer] = []
    if not isinstance(body_raw, list) or not body_raw:
        ctx.error(doc, "body", "body", f"expected a non-empty list of layers and blocks, found {describe(body_raw)}")
    else:
        for i, item in enumerate(body_raw):
            layer = parse_layer(ctx, item, body_raw, i, join("body", i), d, classes)
            if layer is not None:
                body.append(layer)
    head: list[Op] = []
    if "head" in doc:
        head = list(parse_chain(ctx, doc["head"], doc, "head", "head", d, classes, allow_empty=True) or ())
    aux = parse_aux_heads(ctx, doc, d, classes)
    meta = doc.get("meta", {})
    if not isinstance(meta, Mapping):
        ctx.error(doc, "meta", "meta", f"expected a mapping, found {describe(meta)}")
        meta = {}
    for key in ("reference", "description"):
        if key in doc:
            get(ctx, doc, key, "", "str")

    counts: dict[str, int] = {}
    taken = {x.name for x in (*body, *head) if x.name is not None} | {h.name for h in aux}
    body = [auto_name(layer, counts, taken) for layer in body]
    head = [auto_name(layer, counts, taken) for layer in head]  # type: ignore[misc]
    _check_names(ctx, doc, body, head, aux)
    if ctx.problems:
        raise SpecError(ctx.problems)
    spec = Spec(
        name=name, input=inp, classes=classes, body=tuple(body), head=tuple(head), aux_heads=aux,
        reference=str(doc.get("reference", "")), description=str(doc.get("description", "")),
        meta=tuple(sorted((str(k), v) for k, v in meta.items())),
        width_multiplier=width, width_divisor=divisor, depth_multiplier=depth,
        factorize=factorize or (), defaults=d, source=source,
    )
    check_spec_limits(spec)  # before anything expands its repeats (show, cost, the builder)
    return spec


def _check_names(ctx: Ctx, doc: Mapping, body: list, head: list, aux: tuple[AuxHead, ...]) -> None:
    seen: dict[str, str] = {}
    for section, layers in (("body", body), ("head", head)):
        for i, layer in enumerate(layers):
            if layer.name in seen:
                ctx.error(doc.get(section), i, join(section, i),
                          f"duplicate name '{layer.name}' (also used at {seen[layer.name]})")
            seen.setdefault(layer.name, join(section, i))
    block_names = [layer.name for layer in body]
    for i, head_ in enumerate(aux):
        if head_.name in seen:
            ctx.error(doc.get("aux_heads"), i, join(join("aux_heads", i), "name"),
                      f"duplicate name '{head_.name}' (also used at {seen[head_.name]})")
        if head_.at not in block_names:
            ctx.error(doc.get("aux_heads"), i, join(join("aux_heads", i), "at"),
                      f"unknown block '{head_.at}'; expected one of: {', '.join(block_names)}")
