"""Derivation: ``base: NAME`` plus overrides, and ``set:`` by block path.

A variant states only what differs from its base. Top-level keys of the variant replace the
base's (mappings such as ``defaults`` and ``meta`` are merged key by key). ``set:`` then edits
single values deep inside the body by path, which is also how search spaces address the
parameters they vary:

    set:
      inception4a.branches[2][1].conv: 64      # a block, then a path inside it
      inception4a.factorize: [5x5]
      width_multiplier: 1.25                   # a top-level key
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, SpecError
from .yaml_lines import line_of

if TYPE_CHECKING:
    from .edit_steps import EditSteps

_SEGMENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")
MERGED_KEYS = ("defaults", "meta")
UNSET = "unset"  # `set: {block35.scale: unset}` deletes the field
TOP_LEVEL = ("defaults", "meta", "width_multiplier", "width_divisor", "depth_multiplier", "factorize",
             "input", "classes", "name", "reference", "description")


@functools.lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[str | int, ...] | None:
    """``"inception4a.branches[1][0].conv"`` -> ``("inception4a", "branches", 1, 0, "conv")``
    (cached: a search parses the same paths for every candidate)."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None or (pos == 0 and m.group(0).startswith(".")):
            return None
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return tuple(parts) or None


def find_layer(doc: Mapping, name: str, own: Callable[[Any], Any] | None = None) -> Any:
    """The layer mapping named ``name`` in body, head or aux_heads (by ``block:`` or ``name:``).

    ``own`` (see :func:`edited`): replace the section and the layer by private copies first."""
    slot = layer_slot(doc, name)
    if slot is None:
        return None
    section, i = slot
    items = doc[section]
    item = items[i]
    if own is not None:
        items = doc[section] = own(items)  # type: ignore[index]
        item = items[i] = own(item)
    return item


def layer_slot(doc: Mapping, name: str) -> tuple[str, int] | None:
    """(section, position) of the layer :func:`find_layer` finds, or None."""
    slot = _layer_index(doc).get(name)
    if slot is None or not _names(_item(doc, slot), name):  # moved, renamed or gone: look again
        slot = _layer_index(doc, fresh=True).get(name)
    return slot


def _item(doc: Mapping, slot: tuple[str, int]) -> Any:
    """The item at ``slot``, or None where an edit has replaced the section by a shorter one."""
    items = doc.get(slot[0])
    return items[slot[1]] if isinstance(items, list) and slot[1] < len(items) else None


def _names(item: Any, name: str) -> bool:
    return (isinstance(item, dict) or isinstance(item, Mapping)) and (
        item.get("block") == name or item.get("name") == name)


_INDEX: dict[int, tuple[Any, dict[str, tuple[str, int]]]] = {}


def _layer_index(doc: Mapping, fresh: bool = False) -> dict[str, tuple[str, int]]:
    """name -> (section, position) of the first layer of each name, as a scan finds it.

    Kept for the last few documents (a search looks up the same layers of its base document
    for every candidate); :func:`find_layer` checks each hit and rescans on a mismatch."""
    cached = _INDEX.get(id(doc))
    if cached is not None and cached[0] is doc and not fresh:
        return cached[1]
    index: dict[str, tuple[str, int]] = {}
    for section in ("body", "head", "aux_heads"):
        items = doc.get(section)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict) or isinstance(item, Mapping):
                for label in (item.get("block"), item.get("name")):
                    if isinstance(label, str) and label not in index:
                        index[label] = (section, i)
    if len(_INDEX) > 16:
        _INDEX.clear()
    _INDEX[id(doc)] = (doc, index)
    return index


def layer_names(doc: Mapping) -> list[str]:
    names = []
    for section in ("body", "head", "aux_heads"):
        for item in doc.get(section) or []:
            if isinstance(item, Mapping):
                label = item.get("block", item.get("name"))
                if isinstance(label, str):
                    names.append(label)
    return names


def set_path(doc: dict, path: str, value: Any, own: Callable[[Any], Any] | None = None) -> str | None:
    """Set ``value`` at ``path`` inside ``doc`` in place; return an error message or None.

    ``own``: a function giving a private copy of a container; every container on the way to the
    value is replaced by ``own(container)`` first, so ``doc`` may share the rest with another
    document (:func:`edited`)."""
    parts = parse_path(path)
    if parts is None:
        return f"malformed path {path!r}; expected e.g. inception4a.branches[1][0].conv"
    head, rest = parts[0], parts[1:]
    if isinstance(head, str) and (head in doc or head in TOP_LEVEL or not rest) and find_layer(doc, head) is None:
        target: Any = doc
        rest = parts
        if head in TOP_LEVEL and head not in doc and len(rest) > 1:
            doc[head] = {}  # e.g. "defaults.bn_eps" on a document that states no defaults
    else:
        target = find_layer(doc, head, own) if isinstance(head, str) else None
        if target is None:
            return f"no block or layer named {head!r}; known: {', '.join(layer_names(doc))}"
        if not rest:
            return f"path {path!r} names a whole layer; give a field inside it"
    for part in rest[:-1]:
        child = _step(target, part)
        if child is None:
            return f"path {path!r} does not exist (stopped at {part!r})"
        if own is not None and isinstance(child, (dict, list)):
            child = target[part] = own(child)
        target = child
    return put(target, rest[-1], value, path)


def put(target: Any, last: str | int, value: Any, path: str) -> str | None:
    """The last step of :func:`set_path`: set ``target[last]``; return an error message or None.
    (Shared with the compiled edits of :mod:`.edit_steps`, so both set values alike.)"""
    if isinstance(last, int):
        if not isinstance(target, list) or not -len(target) <= last < len(target):
            return f"path {path!r}: index {last} is out of range"
        target[last] = value
    elif isinstance(target, dict):
        if value == UNSET:  # removes a field, e.g. a block's scale when a search makes it concat
            target.pop(last, None)
        elif isinstance(value, Mapping) and isinstance(target.get(last), Mapping):
            target[last] = {**target[last], **value}
        else:
            target[last] = value
    else:
        return f"path {path!r} does not exist (cannot set {last!r})"
    return None


def edited(doc: Mapping, edits: Mapping[str, Any],
           steps: EditSteps | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """``doc`` with ``edits`` (path -> value) applied, and the (path, error) of those that failed.

    ``doc`` itself is left as it is: the containers on the way to each edited value are copied
    and everything else is shared (so values must not be mutated later). This is how a search
    makes a candidate from its cached base document without copying all of it.

    ``steps``: the edit paths compiled against ``doc`` (kept by a caller that never changes
    ``doc``, as a search space keeps them for its cached base). Edits it can apply at once (each
    container copied and visited once) give the same document as one by one; any others (an edit
    that fails, or one whose path an earlier edit changes) are applied one by one below."""
    if steps is not None:
        root = steps.apply(doc, edits)
        if root is not None:
            return root, []
    fresh: set[int] = set()

    def own(container: Any) -> Any:
        if id(container) in fresh:
            return container
        copied = copy_container(container)
        fresh.add(id(copied))
        return copied

    root = own(doc)
    problems = []
    for path, value in edits.items():
        error = set_path(root, path, value, own)
        if error:
            problems.append((path, error))
    return root, problems


def copy_container(container: Any) -> Any:
    """A shallow copy of a dict or list that keeps the line numbers of a LineDict or LineList."""
    copied = type(container)(container)
    if hasattr(container, "__dict__"):
        copied.__dict__.update(container.__dict__)
    return copied


def get_path(doc: Mapping, path: str) -> Any:
    """The value at ``path`` (same path language as ``set:``), or raise KeyError."""
    parts = parse_path(path)
    if parts is None:
        raise KeyError(path)
    head, rest = parts[0], parts[1:]
    target: Any = find_layer(doc, head) if isinstance(head, str) else None
    if target is None:
        target, rest = doc, parts
    for part in rest:
        target = _step(target, part)
        if target is None:
            raise KeyError(path)
    return target


def expand_glob(doc: Mapping, path: str) -> list[str]:
    """``inception*.branches[1][0].conv`` -> one path per layer whose name matches the pattern.

    The layer-name part (before the first ".") may use ``*``, ``?`` and ``{a,b}`` alternatives:
    ``Mixed_6{b,c,d,e}.branches[1][1].kernel``.
    """
    import fnmatch

    head, dot, tail = path.partition(".")
    if not any(c in head for c in "*?{"):
        return [path]
    patterns = [head]
    if "{" in head and "}" in head:
        pre, _, rest = head.partition("{")
        options, _, post = rest.partition("}")
        patterns = [pre + option + post for option in options.split(",")]
    names = layer_names(doc)
    return [name + dot + tail for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]


def _step(target: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return target[part] if isinstance(target, list) and -len(target) <= part < len(target) else None
    return target.get(part) if isinstance(target, dict) else None


def merge(base: Mapping, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if key in MERGED_KEYS and isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def derive(doc: Any, source: str, load_raw: Callable[[str, str], tuple[Any, str]],
           chain: tuple[str, ...] = ()) -> Any:
    """Apply ``base:`` (recursively) and ``set:`` to a raw document.

    ``load_raw(name, relative_to)`` returns ``(raw_doc, source)`` for a base reference, which is
    a zoo name or a path relative to the file that names it.
    """
    if not isinstance(doc, Mapping):
        return doc
    # The document is consumed: `set:` edits nested values in place. Callers pass freshly loaded
    # documents (a cached one must be deep-copied first, as search spaces do).
    doc = type(doc)(doc) if not hasattr(doc, "key_lines") else _shallow(doc)
    if "base" in doc:
        base_name = doc.pop("base")
        if not isinstance(base_name, str):
            raise SpecError([Problem(source, "base", f"expected a zoo name or a file path, found {base_name!r}",
                                     line_of(doc, "base"))])
        try:
            base_doc, base_source = load_raw(base_name, source)
        except SpecError as exc:
            reason = "; ".join(p.message for p in exc.problems)
            raise SpecError([Problem(source, "base", f"cannot load base {base_name!r}: {reason}",
                                     line_of(doc, "base"))]) from None
        if base_source in chain or base_source == source:
            cycle = " -> ".join((*chain, source, base_source))
            raise SpecError([Problem(source, "base", f"cyclic base: {cycle}", line_of(doc, "base"))])
        base_doc = derive(base_doc, base_source, load_raw, (*chain, source))
        if not isinstance(base_doc, Mapping):
            raise SpecError([Problem(base_source, "", "a base spec must be a mapping")])
        overrides = {k: v for k, v in doc.items() if k != "set"}
        merged = merge(base_doc, overrides)
        if "set" in doc:
            merged["set"] = doc["set"]
        doc = merged
    if "set" in doc:
        edits = doc.pop("set")
        if not isinstance(edits, Mapping):
            raise SpecError([Problem(source, "set", "expected a mapping of path: value", line_of(doc, "set"))])
        problems = []
        for path, value in edits.items():
            error = set_path(doc, str(path), copy.deepcopy(value))
            if error:
                problems.append(Problem(source, f"set.{path}", error, line_of(edits, path)))
        if problems:
            raise SpecError(problems)
    return doc


def _shallow(doc: Any) -> Any:
    """A top-level copy that keeps the line information of a LineDict."""
    out = type(doc)(doc)
    out.line, out.key_lines = doc.line, dict(doc.key_lines)
    return out
