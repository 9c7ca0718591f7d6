"""The op registry: one module per op kind and per merge kind (see :mod:`.base`).

Every module of this package is imported here, in name order, and registers its kinds; a new
op or merge is a new module, found without editing any other file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    MERGE_TYPES,
    MERGES,
    NO_REWRITE,
    OP_TYPES,
    OPS,
    MergeKind,
    OpKind,
    Placed,
    Rewrite,
    dump_chain,
    dump_op,
    kind_of,
    merge_of,
    register,
    rewrite_chain,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["OPS", "OP_TYPES", "MERGES", "MERGE_TYPES", "OpKind", "MergeKind", "Placed", "Rewrite", "NO_REWRITE",
           "register", "kind_of", "merge_of", "dump_op", "dump_chain", "rewrite_chain"]
