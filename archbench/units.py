"""Quantities with units, for budgets: 1.5GFLOPs, 1.5GMACs, 6M / 6Mparams, 20ms, 512MB.

In archbench's convention one multiply-add is one FLOP, so ``GFLOPs`` and ``GMACs`` are the
same number (GoogLeNet's "1.5 billion multiply-adds" is ``1.5GFLOPs``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ArchbenchError

_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BYTES = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3}
KINDS = ("flops", "params", "latency", "memory")
VALID_UNITS = ("FLOPs (e.g. 1.5GFLOPs)", "MACs (1.5GMACs, same as FLOPs here)", "params (6M, 6Mparams)",
               "ms / s / us (latency, e.g. 20ms)", "B / KB / MB / GB / MiB / GiB (peak inference memory, e.g. 512MB)")


@dataclass(frozen=True)
class Budget:
    """An upper limit on one cost: FLOPs (multiply-adds), params, latency (ms) or memory (bytes)."""

    kind: str
    limit: float
    text: str

    def __str__(self) -> str:
        return self.text


def parse_budget(text: str) -> Budget:
    """Parse one ``--budget`` value; unknown units list the valid ones."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*", text)
    if m is None:
        raise ArchbenchError(f"--budget {text!r}: expected a number and a unit, e.g. 1.5GFLOPs; units: "
                             + "; ".join(VALID_UNITS))
    value, unit = float(m.group(1)), m.group(2)
    if value <= 0:
        raise ArchbenchError(f"--budget {text!r}: must be positive")
    budget = _with_unit(text, value, unit)
    if not math.isfinite(budget.limit):  # 1e400GFLOPs reads as infinity: no budget at all
        raise ArchbenchError(f"--budget {text!r}: not a finite number")
    return budget


def _with_unit(text: str, value: float, unit: str) -> Budget:
    # Counts read in any case (1.5gflops, 6mparams): nobody prices milli-FLOPs, so m is mega.
    fl = re.fullmatch(r"([kmgt]?)(flops?|macs?)", unit, re.IGNORECASE)
    if fl:
        return Budget("flops", value * _PREFIX[fl.group(1).upper()], text.strip())
    pa = re.fullmatch(r"([kKMGT]?)(params?)?", unit) or re.fullmatch(r"([kmgt]?)(params?)", unit, re.IGNORECASE)
    if pa and (pa.group(1) or pa.group(2)):
        return Budget("params", value * _PREFIX[pa.group(1).upper()], text.strip())
    if unit in _TIME:
        return Budget("latency", value * _TIME[unit], text.strip())
    if unit in _BYTES:
        return Budget("memory", value * _BYTES[unit], text.strip())
    raise ArchbenchError(f"--budget {text!r}: unknown unit {unit or '(none)'!r}; valid units: " + "; ".join(VALID_UNITS))
