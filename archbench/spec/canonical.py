"""Canonical form: the resolved spec written back as explicit YAML, and its hash.

Loading the canonical YAML gives the same canonical form again (a fixed point), so a network
found by a search can be saved, diffed and re-profiled. :func:`architecture_hash` ignores
the network's name, reference, description and meta: two specs that build the same network with the
same layer names hash the same, which is what the search uses to avoid evaluating a candidate twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from .ops.base import dump_chain, dump_op, merge_of
from .schema import Block, Spec
from .transform import resolve

op_to_dict = dump_op  # the canonical mapping of one op: its kind's ``to_dict`` plus its name


def block_to_dict(block: Block) -> dict[str, Any]:
    d: dict[str, Any] = {"block": block.name, "merge": merge_of(block.merge).name}
    if block.repeat is not None:
        d["repeat"] = block.repeat
    d.update(merge_of(block.merge).to_dict(block.merge))
    d["branches"] = [dump_chain(b) for b in block.branches]
    return d


def to_dict(spec: Spec) -> dict[str, Any]:
    """The resolved spec as a plain, fully explicit document in the grammar."""
    spec = resolve(spec)
    doc: dict[str, Any] = {"name": spec.name}
    if spec.reference:
        doc["reference"] = spec.reference
    if spec.description:
        doc["description"] = spec.description
    doc["input"] = "x".join(map(str, spec.input))
    doc["classes"] = spec.classes
    doc["width_divisor"] = spec.width_divisor
    d = spec.defaults
    doc["defaults"] = {"norm": d.norm or "none", "bn_eps": d.bn_eps, "act": d.act or "none",
                       "conv_bias": "auto" if d.conv_bias is None else d.conv_bias}
    doc["body"] = [block_to_dict(x) if isinstance(x, Block) else dump_op(x) for x in spec.body]
    doc["head"] = dump_chain(spec.head)
    if spec.aux_heads:
        doc["aux_heads"] = [{"name": h.name, "at": h.at, "weight": h.weight,
                             "layers": dump_chain(h.layers)} for h in spec.aux_heads]
    if spec.meta:
        doc["meta"] = dict(spec.meta)
    return doc


def dump_yaml(spec: Spec) -> str:
    """Canonical YAML text of a spec (block style, keys in grammar order)."""
    return yaml.safe_dump(to_dict(spec), sort_keys=False, default_flow_style=None, width=110)


def architecture_hash(spec: Spec) -> str:
    """SHA-256 of the resolved network, ignoring its name, reference, description and meta.

    Layer names are part of the hash (they name the modules and the search parameters), so two
    candidates of one search space, which share names, collide exactly when they are the same
    network.
    """
    doc = to_dict(spec)
    for key in ("name", "reference", "description", "meta"):
        doc.pop(key, None)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
