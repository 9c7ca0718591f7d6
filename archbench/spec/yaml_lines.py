"""YAML loading that remembers line numbers, so errors can point at the offending line.

PyYAML drops positions once it has built Python objects; these subclasses keep them. They
behave exactly like ``dict`` and ``list`` everywhere else.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import Problem, SpecError
from .limits import check_yaml_nodes


class LineDict(dict):
    """A mapping that knows the line of each of its keys (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]


class LineList(list):
    """A sequence that knows the line of each of its items (1-based)."""

    line: int | None = None
    item_lines: list[int]


# libyaml's C scanner/parser when PyYAML was built with it (10x faster on the zoo's files); the
# constructors below are Python either way, so line numbers work the same.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        out = LineDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be plain scalars", key_node.start_mark
                )
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[str(key)] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        out = LineList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


# YAML 1.1 reads 0x3 as hexadecimal 3 and 1_000 or 1:30 as numbers; in this grammar "0x3" is a
# padding (0 by 3). Only plain decimal integers are integers here; everything else stays text.
_LineLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first, _resolvers in _LineLoader.yaml_implicit_resolvers.items():
    _resolvers[:] = [(tag, regexp) for tag, regexp in _resolvers if tag != "tag:yaml.org,2002:int"]
_LineLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9]*)$"), list("-+0123456789"))
_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes a :class:`SpecError` with its line."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        # Counted before constructing: unalias() would expand an alias bomb to billions of objects.
        check_yaml_nodes(node, source)
        return unalias(loader.construct_document(node)) if node is not None else None
    except RecursionError:
        raise SpecError([Problem(source, "", "the YAML document is nested too deeply")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"YAML syntax error: {exc.problem or exc.context}"
        raise SpecError([Problem(source, "", message, line)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        raise SpecError([Problem(source, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()


def line_of(container: Any, key: str | int | None) -> int | None:
    """Best-known line of ``container[key]`` (or of the container itself)."""
    if isinstance(container, LineDict):
        if key is not None and str(key) in container.key_lines:
            return container.key_lines[str(key)]
        return container.line
    if isinstance(container, LineList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return None


def unalias(value: Any) -> Any:
    """Copy a document so that YAML aliases (``*aux``) become independent copies.

    Without this, ``set: aux1.layers[1].conv`` would also change every layer sharing the anchor.
    """
    if isinstance(value, LineDict):
        out = LineDict((k, unalias(v)) for k, v in value.items())
        out.line, out.key_lines = value.line, dict(value.key_lines)
        return out
    if isinstance(value, LineList):
        seq = LineList(unalias(v) for v in value)
        seq.line, seq.item_lines = value.line, list(value.item_lines)
        return seq
    return value
