"""Validate a raw YAML document into a :class:`~archbench.spec.schema.Spec`.

The parser never stops at the first problem: it records each one with the path inside the
document and its line, keeps going, and raises a single :class:`SpecError` listing all of them,
so ``archbench validate`` can show every mistake in one run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Problem, SpecError
from .schema import (
    LRN,
    Activation,
    AdaptivePool,
    AuxHead,
    Block,
    Conv,
    Defaults,
    Dropout,
    Flatten,
    Identity,
    Layer,
    Linear,
    Op,
    Pair,
    Pool,
    Spec,
    Split,
)
from .limits import check_spec_limits
from .yaml_lines import line_of

ACTIVATIONS = ("relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "none")
NORMS = ("bn", "none")
FACTORIZATIONS = ("5x5", "nxn")
MERGES = ("concat", "residual")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = object()

SPEC_KEYS = (
    "name", "reference", "description", "input", "classes", "defaults", "width_multiplier",
    "width_divisor", "depth_multiplier", "factorize", "body", "head", "aux_heads", "meta",
    "base", "set",
)
DEFAULT_KEYS = ("norm", "bn_eps", "act", "conv_bias")


class Ctx:
    """Where problems are collected while parsing one document."""

    def __init__(self, source: str, classes: int | None = None):
        self.source = source
        self.classes = classes  # what `linear: classes` means anywhere in the document
        self.problems: list[Problem] = []

    def error(self, container: Any, key: Any, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, path, message, line_of(container, key)))


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------- scalar fields
def get(ctx: Ctx, m: Mapping, key: str, path: str, kind: str, default: Any = _MISSING,
        minimum: float | None = None, maximum: float | None = None,
        choices: tuple[str, ...] | None = None) -> Any:
    """Read ``m[key]`` as ``kind`` ("int", "float", "bool", "str", "choice").

    A missing required field, a wrong type or an out-of-range value is recorded and the
    default (or None) returned, so parsing can go on to find further problems.
    """
    where = join(path, key)
    if key not in m:
        if default is _MISSING:
            ctx.error(m, None, where, f"missing required field '{key}'")
            return None
        return default
    value = m[key]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.error(m, key, where, f"expected an integer, found {describe(value)}")
            return None
    elif kind == "float":
        value = _as_float(value)
        if value is None:
            ctx.error(m, key, where, f"expected a finite number, found {describe(m[key])}")
            return None
    elif kind == "bool":
        if not isinstance(value, bool):
            ctx.error(m, key, where, f"expected true or false, found {describe(value)}")
            return None
    elif kind in ("str", "choice"):
        if value is None and choices is not None and "none" in choices:
            value = "none"
        if not isinstance(value, str):
            ctx.error(m, key, where, f"expected a string, found {describe(value)}")
            return None
        if choices is not None and value not in choices:
            ctx.error(m, key, where, f"unknown value {value!r}; expected one of: {', '.join(choices)}")
            return None
    if minimum is not None and value < minimum:
        ctx.error(m, key, where, f"must be at least {minimum}, found {value}")
        return None
    if maximum is not None and value > maximum:
        ctx.error(m, key, where, f"must be at most {maximum}, found {value}")
        return None
    return value


def _as_float(value: Any) -> float | None:
    """YAML 1.1 reads ``1e-3`` as a string; accept it as the number everyone means."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except (ValueError, OverflowError):  # "abc"; an integer too large for a float
            return None
        return number if math.isfinite(number) else None  # .nan / .inf / 1e400 are never meant
    return None


def parse_pair(ctx: Ctx, m: Mapping, key: str, path: str, value: Any, minimum: int = 1) -> Pair | None:
    """``3`` -> (3, 3); ``"1x7"`` -> (1, 7); ``[1, 7]`` -> (1, 7)."""
    where = join(path, key)
    pair: tuple[Any, Any] | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*x\s*-?\d+\s*", value):
        a, b = value.split("x")
        pair = (int(a), int(b))
    elif isinstance(value, list) and len(value) == 2:
        pair = (value[0], value[1])
    if pair is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        ctx.error(m, key, where, f"expected an integer, 'HxW' or [H, W], found {describe(value)}")
        return None
    if min(pair) < minimum:
        ctx.error(m, key, where, f"must be at least {minimum}, found {value!r}")
        return None
    return (int(pair[0]), int(pair[1]))


def parse_padding(ctx: Ctx, m: Mapping, path: str, kernel: Pair | None, default: str | int) -> Pair | None:
    """``same`` = k//2 per axis (PyTorch's symmetric padding), ``valid`` = 0, or explicit."""
    value = m.get("padding", default)
    if value == "same":
        return None if kernel is None else (kernel[0] // 2, kernel[1] // 2)
    if value == "valid":
        return (0, 0)
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+\s*x\s*\d+\s*", value):
        ctx.error(m, "padding", join(path, "padding"),
                  f"expected 'same', 'valid', an integer, 'HxW' or [H, W], found {value!r}")
        return None
    return parse_pair(ctx, m, "padding", path, value, minimum=0)


def check_keys(ctx: Ctx, m: Mapping, path: str, allowed: tuple[str, ...], what: str) -> None:
    for key in m:
        if key not in allowed:
            ctx.error(m, key, join(path, str(key)),
                      f"unknown field '{key}' for {what}; expected one of: {', '.join(allowed)}")


def optional_act(value: str | None) -> str | None:
    return None if value in (None, "none") else value


# ---------------------------------------------------------------------------- ops
OpParser = Callable[[Ctx, Mapping, str, Defaults], "Op | None"]
_COMMON = ("name",)


def _parse_name(ctx: Ctx, m: Mapping, path: str) -> str | None:
    name = m.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not _NAME_RE.match(name):
        ctx.error(m, "name", join(path, "name"),
                  f"expected an identifier (letters, digits, _), found {describe(name)}")
        return None
    return name


def parse_conv(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Conv | None:
    check_keys(ctx, m, path, ("conv", "kernel", "stride", "padding", "groups", "bias", "norm",
                              "bn_eps", "act", "factorize", *_COMMON), "a conv")
    out_raw = m["conv"]
    out: int | None
    if out_raw == "auto":
        out = None
    else:
        out = get(ctx, m, "conv", path, "int", minimum=1)
    kernel = parse_pair(ctx, m, "kernel", path, m["kernel"]) if "kernel" in m else None
    if "kernel" not in m:
        ctx.error(m, None, join(path, "kernel"), "missing required field 'kernel'")
    stride = parse_pair(ctx, m, "stride", path, m.get("stride", 1))
    padding = parse_padding(ctx, m, path, kernel, default="same")
    groups = get(ctx, m, "groups", path, "int", 1, minimum=1)
    norm = get(ctx, m, "norm", path, "choice", d.norm or "none", choices=NORMS)
    norm = None if norm == "none" else norm
    bias_default = d.conv_bias if d.conv_bias is not None else norm is None
    bias = get(ctx, m, "bias", path, "bool", bias_default)
    eps = get(ctx, m, "bn_eps", path, "float", d.bn_eps, minimum=1e-12)
    act = get(ctx, m, "act", path, "choice", d.act or "none", choices=ACTIVATIONS)
    factorizable = get(ctx, m, "factorize", path, "bool", True)
    name = _parse_name(ctx, m, path)
    if out is not None and groups and out % groups:
        ctx.error(m, "groups", join(path, "groups"), f"output channels {out} are not divisible by groups {groups}")
    if None in (kernel, stride, padding, groups, eps, bias) or (out is None and out_raw != "auto"):
        return None
    return Conv(out=out, kernel=kernel, stride=stride, padding=padding, groups=groups, bias=bias,
                norm=norm, bn_eps=eps, act=optional_act(act), factorizable=factorizable, name=name)


def _parse_pool(kind: str) -> OpParser:
    key = f"{kind}pool"

    def parse(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Pool | None:
        allowed = (key, "stride", "padding", "ceil_mode", *(("count_include_pad",) if kind == "avg" else ()), *_COMMON)
        check_keys(ctx, m, path, allowed, f"a {key}")
        kernel = parse_pair(ctx, m, key, path, m[key])
        stride = parse_pair(ctx, m, "stride", path, m["stride"]) if "stride" in m else kernel
        padding = parse_padding(ctx, m, path, kernel, default=0)
        ceil_mode = get(ctx, m, "ceil_mode", path, "bool", False)
        include_pad = get(ctx, m, "count_include_pad", path, "bool", True)
        name = _parse_name(ctx, m, path)
        if kernel and padding and (padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2):
            ctx.error(m, "padding", join(path, "padding"),
                      f"pooling padding {padding} must be at most half the kernel {kernel}")
            return None
        if None in (kernel, stride, padding, ceil_mode, include_pad):
            return None
        return Pool(kind=kind, kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                    count_include_pad=include_pad, name=name)

    return parse


def _parse_adaptive(kind: str) -> OpParser:
    key = f"adaptive_{kind}pool"

    def parse(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> AdaptivePool | None:
        check_keys(ctx, m, path, (key, *_COMMON), f"an {key}")
        output = parse_pair(ctx, m, key, path, m[key])
        name = _parse_name(ctx, m, path)
        return None if output is None else AdaptivePool(kind=kind, output=output, name=name)

    return parse


def parse_global_pool(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> AdaptivePool | None:
    check_keys(ctx, m, path, ("global_pool", *_COMMON), "a global_pool")
    kind = get(ctx, m, "global_pool", path, "choice", choices=("avg", "max"))
    name = _parse_name(ctx, m, path)
    return None if kind is None else AdaptivePool(kind=kind, output=(1, 1), flatten=True, name=name)


def parse_lrn(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> LRN | None:
    check_keys(ctx, m, path, ("lrn", "alpha", "beta", "k", *_COMMON), "an lrn")
    size = get(ctx, m, "lrn", path, "int", minimum=1)
    alpha = get(ctx, m, "alpha", path, "float", 1e-4)
    beta = get(ctx, m, "beta", path, "float", 0.75)
    k = get(ctx, m, "k", path, "float", 1.0)
    name = _parse_name(ctx, m, path)
    if None in (size, alpha, beta, k):
        return None
    return LRN(size=size, alpha=alpha, beta=beta, k=k, name=name)


def parse_dropout(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Dropout | None:
    check_keys(ctx, m, path, ("dropout", *_COMMON), "a dropout")
    p = get(ctx, m, "dropout", path, "float", minimum=0.0, maximum=0.999)
    name = _parse_name(ctx, m, path)
    return None if p is None else Dropout(p=p, name=name)


def parse_flatten(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Flatten | None:
    check_keys(ctx, m, path, ("flatten", *_COMMON), "a flatten")
    if m["flatten"] not in (True, None):
        ctx.error(m, "flatten", join(path, "flatten"), f"write 'flatten: true', found {describe(m['flatten'])}")
    return Flatten(name=_parse_name(ctx, m, path))


def parse_identity(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Identity | None:
    check_keys(ctx, m, path, ("identity", *_COMMON), "an identity")
    if m["identity"] not in (True, None):
        ctx.error(m, "identity", join(path, "identity"), f"write 'identity: true', found {describe(m['identity'])}")
    return Identity(name=_parse_name(ctx, m, path))


def parse_activation(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Activation | None:
    check_keys(ctx, m, path, ("activation", *_COMMON), "an activation")
    act = get(ctx, m, "activation", path, "choice", choices=tuple(a for a in ACTIVATIONS if a != "none"))
    name = _parse_name(ctx, m, path)
    return None if act is None else Activation(act=act, name=name)


def parse_linear(ctx: Ctx, m: Mapping, path: str, d: Defaults, classes: int | None = None) -> Linear | None:
    check_keys(ctx, m, path, ("linear", "bias", "act", *_COMMON), "a linear")
    if m["linear"] == "classes":
        out = classes if classes is not None else ctx.classes
        if out is None:
            ctx.error(m, "linear", join(path, "linear"), "'classes' is not known here; give a number")
    else:
        out = get(ctx, m, "linear", path, "int", minimum=1)
    bias = get(ctx, m, "bias", path, "bool", True)
    act = get(ctx, m, "act", path, "choice", "none", choices=ACTIVATIONS)
    name = _parse_name(ctx, m, path)
    if None in (out, bias):
        return None
    return Linear(out=out, bias=bias, act=optional_act(act), name=name)


def parse_split(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Split | None:
    check_keys(ctx, m, path, ("split", *_COMMON), "a split")
    branches = parse_branches(ctx, m, "split", path, d)
    name = _parse_name(ctx, m, path)
    return None if branches is None else Split(branches=branches, name=name)


OP_PARSERS: dict[str, OpParser] = {
    "conv": parse_conv,
    "maxpool": _parse_pool("max"),
    "avgpool": _parse_pool("avg"),
    "adaptive_avgpool": _parse_adaptive("avg"),
    "adaptive_maxpool": _parse_adaptive("max"),
    "global_pool": parse_global_pool,
    "lrn": parse_lrn,
    "dropout": parse_dropout,
    "flatten": parse_flatten,
    "linear": parse_linear,
    "activation": parse_activation,
    "identity": parse_identity,
    "split": parse_split,
}
LAYER_KINDS = (*OP_PARSERS, "block")


def op_kind(ctx: Ctx, m: Any, container: Any, index: Any, path: str, allowed: tuple[str, ...]) -> str | None:
    """The one key of a layer mapping that says what it is (``conv``, ``block``, ...)."""
    if not isinstance(m, Mapping):
        ctx.error(container, index, path,
                  f"expected a layer mapping such as {{conv: 64, kernel: 3}}, found {describe(m)}")
        return None
    kinds = [k for k in m if k in LAYER_KINDS]
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
    kind = op_kind(ctx, m, container, index, path, tuple(OP_PARSERS))
    if kind is None:
        return None
    if kind == "linear":
        return parse_linear(ctx, m, path, d, classes)
    return OP_PARSERS[kind](ctx, m, path, d)


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


def parse_block(ctx: Ctx, m: Mapping, path: str, d: Defaults) -> Block | None:
    check_keys(ctx, m, path, ("block", "branches", "merge", "scale", "project", "shortcut", "act",
                              "repeat", "factorize"), "a block")
    name = m["block"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        ctx.error(m, "block", join(path, "block"),
                  f"a block's value is its name, an identifier (letters, digits, _); found {describe(name)}")
        name = None
    branches = parse_branches(ctx, m, "branches", path, d)
    merge = get(ctx, m, "merge", path, "choice", "concat", choices=MERGES)
    scale = get(ctx, m, "scale", path, "float", 1.0, minimum=1e-6)
    repeat = get(ctx, m, "repeat", path, "int", None, minimum=1)
    factorize = parse_factorize(ctx, m, path) if "factorize" in m else None
    project = None
    if "project" in m:
        if m["project"] not in (None, "none"):
            op = parse_op(ctx, m["project"], m, "project", join(path, "project"), d)
            if op is not None and not isinstance(op, Conv):
                ctx.error(m, "project", join(path, "project"), "a projection must be a conv")
            project = op if isinstance(op, Conv) else None
    shortcut: str | tuple[Op, ...] | None = "identity"
    if "shortcut" in m:
        raw = m["shortcut"]
        if isinstance(raw, str):
            shortcut = raw if raw in ("identity", "auto") else None
            if shortcut is None:
                ctx.error(m, "shortcut", join(path, "shortcut"),
                          f"unknown shortcut {raw!r}; expected identity, auto or a list of layers")
        else:
            shortcut = parse_chain(ctx, raw, m, "shortcut", join(path, "shortcut"), d)
    act_default = (d.act or "none") if merge == "residual" else "none"
    act = get(ctx, m, "act", path, "choice", act_default, choices=ACTIVATIONS)
    if merge == "concat":
        for key in ("scale", "project", "shortcut"):
            if key in m:
                ctx.error(m, key, join(path, key), f"'{key}' only applies to merge: residual")
    if None in (name, branches, merge, scale, act, shortcut) or (factorize is None and "factorize" in m):
        return None
    return Block(name=name, branches=branches, merge=merge, scale=scale, project=project,
                 shortcut=shortcut, act=optional_act(act), repeat=repeat, factorize=factorize)


def parse_layer(ctx: Ctx, m: Any, container: Any, index: int, path: str, d: Defaults,
                classes: int | None) -> Layer | None:
    kind = op_kind(ctx, m, container, index, path, LAYER_KINDS)
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
    key = type(layer).__name__.lower()
    if isinstance(layer, Pool):
        key = f"{layer.kind}pool"
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
