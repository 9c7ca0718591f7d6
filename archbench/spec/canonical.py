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

from .schema import LRN, Activation, AdaptivePool, Block, Conv, Dropout, Flatten, Identity, Linear, Op, Pool, Spec, Split
from .transform import resolve


def _pair(p: tuple[int, int]) -> Any:
    return p[0] if p[0] == p[1] else f"{p[0]}x{p[1]}"


def op_to_dict(op: Op) -> dict[str, Any]:
    if isinstance(op, Conv):
        d: dict[str, Any] = {"conv": "auto" if op.out is None else op.out, "kernel": _pair(op.kernel),
                             "stride": _pair(op.stride), "padding": _pair(op.padding)}
        if op.groups != 1:
            d["groups"] = op.groups
        d.update(bias=op.bias, norm=op.norm or "none", act=op.act or "none")
        if op.norm:
            d["bn_eps"] = op.bn_eps
        if not op.factorizable:
            d["factorize"] = False
    elif isinstance(op, Pool):
        d = {f"{op.kind}pool": _pair(op.kernel), "stride": _pair(op.stride), "padding": _pair(op.padding),
             "ceil_mode": op.ceil_mode}
        if op.kind == "avg":
            d["count_include_pad"] = op.count_include_pad
    elif isinstance(op, AdaptivePool):
        d = {"global_pool": op.kind} if op.flatten else {f"adaptive_{op.kind}pool": _pair(op.output)}
    elif isinstance(op, LRN):
        d = {"lrn": op.size, "alpha": op.alpha, "beta": op.beta, "k": op.k}
    elif isinstance(op, Dropout):
        d = {"dropout": op.p}
    elif isinstance(op, Flatten):
        d = {"flatten": True}
    elif isinstance(op, Linear):
        d = {"linear": op.out, "bias": op.bias, "act": op.act or "none"}
    elif isinstance(op, Activation):
        d = {"activation": op.act}
    elif isinstance(op, Identity):
        d = {"identity": True}
    elif isinstance(op, Split):
        d = {"split": [[op_to_dict(o) for o in b] for b in op.branches]}
    else:  # pragma: no cover - every op type is listed above
        raise TypeError(f"unknown op {op!r}")
    if op.name is not None:
        d["name"] = op.name
    return d


def block_to_dict(block: Block) -> dict[str, Any]:
    d: dict[str, Any] = {"block": block.name, "merge": block.merge}
    if block.repeat is not None:
        d["repeat"] = block.repeat
    if block.merge == "residual":
        d["scale"] = block.scale
        if block.project is not None:
            d["project"] = op_to_dict(block.project)
        d["shortcut"] = block.shortcut if isinstance(block.shortcut, str) else [op_to_dict(o) for o in block.shortcut]
    d["act"] = block.act or "none"
    d["branches"] = [[op_to_dict(o) for o in b] for b in block.branches]
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
    doc["body"] = [block_to_dict(x) if isinstance(x, Block) else op_to_dict(x) for x in spec.body]
    doc["head"] = [op_to_dict(x) for x in spec.head]
    if spec.aux_heads:
        doc["aux_heads"] = [{"name": h.name, "at": h.at, "weight": h.weight,
                             "layers": [op_to_dict(o) for o in h.layers]} for h in spec.aux_heads]
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
