"""Random valid specs drawn from the whole grammar, for property tests of the cost model."""

from __future__ import annotations

import random
from typing import Any

import yaml


def _conv(rng: random.Random, width: int | None = None) -> dict[str, Any]:
    kernel = rng.choice([1, 1, 3, 3, 5, 7, "1x3", "3x1", "1x7", "7x1"])
    op: dict[str, Any] = {"conv": width or rng.choice([4, 8, 12, 16, 24]), "kernel": kernel}
    if rng.random() < 0.15:
        op["act"] = "none"
    if rng.random() < 0.1:
        op["norm"] = "none"
    if rng.random() < 0.1:
        op["bias"] = True
    if rng.random() < 0.05:
        op["groups"] = 2
        op["conv"] = 2 * (op["conv"] // 2)
    return op


def _chain(rng: random.Random, depth: int, allow_split: bool = True) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if rng.random() < 0.25:
        kind = rng.choice(["maxpool", "avgpool"])
        pool: dict[str, Any] = {kind: 3, "stride": 1, "padding": 1}
        if kind == "avgpool" and rng.random() < 0.5:
            pool["count_include_pad"] = False
        ops.append(pool)
    for _ in range(depth):
        conv = _conv(rng)
        if "groups" in conv:  # a grouped conv needs an even number of input channels
            ops.append({"conv": 8, "kernel": 1})
        ops.append(conv)
    if allow_split and rng.random() < 0.2:
        ops.append({"split": [[{"conv": rng.choice([4, 8]), "kernel": "1x3"}], [{"conv": rng.choice([4, 8]), "kernel": "3x1"}]]})
    return ops


def _reduction_branch(rng: random.Random) -> list[dict[str, Any]]:
    """Every branch ends with a stride-2 3x3 with padding 1: shapes agree for any input size."""
    if rng.random() < 0.3:
        return [{rng.choice(["maxpool", "avgpool"]): 3, "stride": 2, "padding": 1}]
    head = _chain(rng, rng.randint(0, 1), allow_split=False)
    return head + [{"conv": rng.choice([8, 16]), "kernel": 3, "stride": 2, "padding": 1}]


def random_spec(rng: random.Random, index: int = 0) -> str:
    channels = rng.choice([1, 3, 4])
    size = rng.choice([16, 20, 24, 32, 33])
    body: list[dict[str, Any]] = [{"conv": rng.choice([8, 16]), "kernel": rng.choice([3, 5]), "stride": rng.choice([1, 2]),
                                   "name": "stem"}]
    if rng.random() < 0.3:
        body.append({"maxpool": 3, "stride": 2, "ceil_mode": rng.random() < 0.5, "padding": rng.choice([0, 1])})
    if rng.random() < 0.15:
        body.append({"lrn": 5})
    for b in range(rng.randint(1, 4)):
        name = f"block{b}"
        kind = rng.choice(["concat", "concat", "residual", "reduction"])
        if kind == "reduction":
            body.append({"block": name, "branches": [_reduction_branch(rng) for _ in range(rng.randint(1, 3))]})
        elif kind == "concat":
            body.append({"block": name, "branches": [_chain(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 4))],
                         **({"factorize": rng.choice([["5x5"], ["nxn"], ["5x5", "nxn"], "none"])} if rng.random() < 0.3 else {})})
        else:
            block: dict[str, Any] = {"block": name, "merge": "residual", "scale": rng.choice([0.1, 0.17, 0.2, 0.3, 1.0]),
                                     "branches": [_chain(rng, rng.randint(1, 2), allow_split=False)
                                                  for _ in range(rng.randint(1, 3))],
                                     "project": {"conv": "auto", "kernel": 1, "bias": True, "norm": "none", "act": "none"}}
            if rng.random() < 0.4:
                block["repeat"] = rng.randint(1, 3)
            if rng.random() < 0.2:
                block["act"] = "none"
            body.append(block)
    head: list[dict[str, Any]] = [{"global_pool": rng.choice(["avg", "avg", "max"])}]
    if rng.random() < 0.3:
        head.append({"dropout": 0.2})
    if rng.random() < 0.3:
        head.append({"linear": rng.choice([16, 32]), "act": "relu"})
    head.append({"linear": "classes"})
    doc: dict[str, Any] = {
        "name": f"random{index}", "input": f"{channels}x{size}x{size}", "classes": rng.choice([10, 100]),
        "defaults": {"bn_eps": rng.choice([1e-5, 1e-3])},
        "width_multiplier": rng.choice([1.0, 1.0, 0.5, 0.75, 1.25]),
        "depth_multiplier": rng.choice([1.0, 1.0, 2.0, 0.5]),
        "factorize": rng.choice(["none", "none", "5x5", ["5x5", "nxn"]]),
        "body": body, "head": head,
    }
    if rng.random() < 0.3:
        doc["aux_heads"] = [{"name": "aux", "at": body[-1].get("block", "stem"),
                             "layers": [{"adaptive_avgpool": 2}, {"conv": 8, "kernel": 1}, {"flatten": True},
                                        {"linear": "classes"}]}]
    return yaml.safe_dump(doc, sort_keys=False)
