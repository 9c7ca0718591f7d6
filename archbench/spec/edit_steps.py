"""Edit paths compiled once per base document, so that a candidate's edits apply in one pass.

A search space edits the same paths (about 70 for GoogLeNet) of its cached base document for
every candidate. Applied one by one (:func:`.derive.set_path`), each edit looks its layer up by
name again and passes every container on its way through a copy check. Here each path is
resolved once against the base into concrete keys (section, position, fields, list positions),
and each set of paths into a program: the containers on the union of the paths, each copied
once, then the values set in edit order (a later edit of the same place overrides an earlier).

Only what gives the very document of one-by-one editing is compiled. Left to one-by-one editing
(:func:`.derive.edited` does it when :meth:`EditSteps.apply` returns None), with its messages:
a path that fails or would create a missing mapping on the base, an edit whose place another
edit's path goes through (it replaces or removes that container), and an edit that replaces,
moves or renames a layer (layer names resolve the paths after it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .derive import TOP_LEVEL, _step, copy_container, layer_slot, parse_path, put

SECTIONS = ("body", "head", "aux_heads")  # where layers are looked up by name
LABELS = ("block", "name")  # the fields that name a layer
_MISSING = object()


class _Program:
    """The containers to copy, as (parent slot, key) in order (slot 0 is the document's copy),
    and the values to set, as (slot, key, path) in edit order."""

    __slots__ = ("copies", "leaves")

    def __init__(self, copies: tuple[tuple[int, str | int], ...],
                 leaves: tuple[tuple[int, str | int, str], ...]):
        self.copies = copies
        self.leaves = leaves

    def run(self, doc: Mapping, values: list[Any]) -> Any | None:
        slots = [copy_container(doc)]
        for parent, key in self.copies:
            container = slots[parent]
            child = container[key] = copy_container(container[key])
            slots.append(child)
        for (slot, key, path), value in zip(self.leaves, values):
            if put(slots[slot], key, value, path) is not None:  # checked on the base: cannot happen
                return None
        return slots[0]


class EditSteps:
    """The compiled edits of one document, which must not change while they are kept (a search
    space keeps them with its cached base document, see ``search.space._Plan``)."""

    def __init__(self, doc: Mapping, limit: int = 4096):
        self.doc = doc
        self._keys: dict[str, tuple[str | int, ...] | None] = {}
        self._programs: dict[tuple[str, ...], _Program | None] = {}
        self._limit = limit  # of each cache: the paths a search uses are far fewer

    def apply(self, doc: Mapping, edits: Mapping[str, Any]) -> Any | None:
        """A copy of ``doc`` with ``edits`` applied (``doc`` itself is left as it is), or None
        when they must be applied one by one."""
        if doc is not self.doc:
            return None
        paths = tuple(edits)
        program = self._programs.get(paths, _MISSING)
        if program is _MISSING:
            if len(self._programs) >= self._limit:
                self._programs.clear()
            program = self._programs[paths] = self._program(paths)
        if program is None:
            return None
        return program.run(doc, list(edits.values()))  # type: ignore[union-attr]

    def _program(self, paths: tuple[str, ...]) -> _Program | None:
        compiled = []
        for path in paths:
            keys = self._keys.get(path, _MISSING)
            if keys is _MISSING:
                if len(self._keys) >= self._limit:
                    self._keys.clear()
                keys = self._keys[path] = self._resolve(path)
            if keys is None or _moves_layers(keys):  # type: ignore[arg-type]
                return None
            compiled.append(keys)
        places = set(compiled)
        if any(keys[:depth] in places for keys in compiled for depth in range(1, len(keys))):
            return None  # an edit replaces or removes a container that another edit goes into
        slots: dict[tuple[str | int, ...], int] = {(): 0}
        copies: list[tuple[int, str | int]] = []
        leaves: list[tuple[int, str | int, str]] = []
        for keys, path in zip(compiled, paths):
            for depth in range(1, len(keys)):
                if keys[:depth] not in slots:
                    slots[keys[:depth]] = len(slots)
                    copies.append((slots[keys[:depth - 1]], keys[depth - 1]))
            leaves.append((slots[keys[:-1]], keys[-1], path))
        return _Program(tuple(copies), tuple(leaves))

    def _resolve(self, path: str) -> tuple[str | int, ...] | None:
        """The keys from the document down to the value ``path`` sets, as :func:`.derive.set_path`
        finds them on the base (list positions made non-negative), or None where it would fail
        or create a mapping on the way."""
        parts = parse_path(path)
        if parts is None or not isinstance(parts[0], str):
            return None
        doc = self.doc
        head, rest = parts[0], parts[1:]
        slot = layer_slot(doc, head)
        keys: tuple[str | int, ...]
        if (head in doc or head in TOP_LEVEL or not rest) and slot is None:
            keys, target, rest = (), doc, parts  # a mapping set_path would create is not found below
        else:
            if slot is None or not rest:
                return None
            keys, target = slot, doc[slot[0]][slot[1]]
        for part in rest[:-1]:
            child = _step(target, part)
            if not isinstance(child, (dict, list)):
                return None
            keys += (part % len(target) if isinstance(part, int) else part,)
            target = child
        last = rest[-1]
        if isinstance(last, int):
            if not isinstance(target, list) or not -len(target) <= last < len(target):
                return None
            last %= len(target)
        elif not isinstance(target, dict):
            return None
        return (*keys, last)


def _moves_layers(keys: tuple[str | int, ...]) -> bool:
    """Whether setting the value at ``keys`` can change which layer a name finds: a whole section
    or layer replaced, or a layer's name field set or removed."""
    return keys[0] in SECTIONS and (len(keys) < 3 or (len(keys) == 3 and keys[2] in LABELS))
