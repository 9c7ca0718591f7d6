"""The field readers every part of the grammar shares: typed values, pairs, padding, names.

A reader records a problem (with the path inside the document and its line) and returns None,
so the parser keeps going and reports every mistake of a document in one run. Op modules
(:mod:`archbench.spec.ops`) read their own fields with these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import Problem, did_you_mean
from .yaml_lines import line_of

Pair = tuple[int, int]
ACTIVATIONS = ("relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "none")
NORMS = ("bn", "none")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = object()


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
    default (or None) returned, so parsing can go on to find further problems. (The path of
    the field is only formatted for an error: a search parses thousands of fields a second.)
    """
    if key not in m:
        if default is _MISSING:
            ctx.error(m, None, join(path, key), f"missing required field '{key}'")
            return None
        return default
    value = m[key]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.error(m, key, join(path, key), f"expected an integer, found {describe(value)}")
            return None
    elif kind == "float":
        value = _as_float(value)
        if value is None:
            ctx.error(m, key, join(path, key), f"expected a finite number, found {describe(m[key])}")
            return None
    elif kind == "bool":
        if not isinstance(value, bool):
            ctx.error(m, key, join(path, key), f"expected true or false, found {describe(value)}")
            return None
    elif kind in ("str", "choice"):
        if value is None and choices is not None and "none" in choices:
            value = "none"
        if not isinstance(value, str):
            ctx.error(m, key, join(path, key), f"expected a string, found {describe(value)}")
            return None
        if choices is not None and value not in choices:
            ctx.error(m, key, join(path, key), f"unknown value {value!r}; expected one of: {', '.join(choices)}")
            return None
    if minimum is not None and value < minimum:
        ctx.error(m, key, join(path, key), f"must be at least {minimum}, found {value}")
        return None
    if maximum is not None and value > maximum:
        ctx.error(m, key, join(path, key), f"must be at most {maximum}, found {value}")
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
    if type(value) is int and value >= minimum:  # the common case, without the checks below
        return (value, value)
    pair: tuple[Any, Any] | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*x\s*-?\d+\s*", value):
        a, b = value.split("x")
        pair = (int(a), int(b))
    elif isinstance(value, list) and len(value) == 2:
        pair = (value[0], value[1])
    if pair is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        ctx.error(m, key, join(path, key), f"expected an integer, 'HxW' or [H, W], found {describe(value)}")
        return None
    if min(pair) < minimum:
        ctx.error(m, key, join(path, key), f"must be at least {minimum}, found {value!r}")
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
                      f"unknown field '{key}' for {what}{did_you_mean(str(key), allowed)}; "
                      f"expected one of: {', '.join(allowed)}")


def optional_act(value: str | None) -> str | None:
    return None if value in (None, "none") else value


def parse_name(ctx: Ctx, m: Mapping, path: str) -> str | None:
    name = m.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not NAME_RE.match(name):
        ctx.error(m, "name", join(path, "name"),
                  f"expected an identifier (letters, digits, _), found {describe(name)}")
        return None
    return name
