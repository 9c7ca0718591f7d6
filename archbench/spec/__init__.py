"""The grammar: YAML specs validated into immutable, torch-free :class:`Spec` objects.

``load_spec`` takes a zoo name, a path to a YAML file, or a ``Spec``; ``loads`` takes YAML text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError, did_you_mean
from ..files import read_text
from .canonical import architecture_hash, dump_yaml, to_dict
from .derive import derive
from .parse import parse_spec
from .place import PlacedNetwork, place
from .schema import LRN, Activation, AdaptivePool, AuxHead, Block, Conv, Dropout, Flatten, Identity, Linear, Pool, Spec, Split
from .transform import resolve
from .yaml_lines import load_yaml

__all__ = [
    "Spec", "Block", "Conv", "Pool", "AdaptivePool", "LRN", "Dropout", "Flatten", "Linear", "Activation",
    "Identity", "Split", "AuxHead", "load_spec", "loads", "resolve", "dump_yaml", "to_dict",
    "architecture_hash", "read_raw", "place", "PlacedNetwork",
]


def read_raw(target: str, relative_to: str | None = None) -> tuple[Any, str]:
    """Raw YAML document and its source label for a zoo name or a file path."""
    from .. import zoo

    path = Path(target)
    if relative_to and not path.is_absolute() and relative_to not in zoo.names():
        candidate = Path(relative_to).parent / path
        if candidate.exists():
            path = candidate
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SpecError([Problem(str(path), "", "is a folder, expected a spec file" if path.is_dir() else "no such file")])
        return load_yaml(read_text(path, "spec file"), str(path)), str(path)
    name = zoo_name(target)
    if name is not None:
        return load_yaml(read_text(zoo.path(name), "spec file"), name), name
    raise SpecError([Problem(target, "", "not a spec file or a zoo network" + did_you_mean(target, zoo.names())
                             + "; zoo networks are: " + ", ".join(zoo.names()))])


def zoo_name(target: str) -> str | None:
    """The zoo network ``target`` names, spelt as users write the papers' names: any case,
    ``-`` for ``_`` (``GoogLeNet``, ``inception-v3``); None when it names none."""
    from .. import zoo

    name = target.lower().replace("-", "_")
    return name if name in zoo.names() else None


def loads(text: str, source: str = "<string>") -> Spec:
    """Parse and validate YAML text (``base:`` may name a zoo network or a file)."""
    doc = derive(load_yaml(text, source), source, read_raw)
    return parse_spec(doc, source)


def load_spec(target: str | Path | Spec) -> Spec:
    """A validated spec from a zoo name, a YAML path, or a Spec (returned as is)."""
    if isinstance(target, Spec):
        return target
    doc, source = read_raw(str(target))
    return parse_spec(derive(doc, source, read_raw), source)
