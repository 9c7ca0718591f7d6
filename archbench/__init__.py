"""archbench: a declarative grammar, zoo, profiler and search for Inception-style CNNs.

Importing the package does not import torch: the grammar and the analytic cost model are
torch-free, and ``build`` imports the builder (and torch) on first use.
"""

from __future__ import annotations

from typing import Any

from .cost import analyze
from .errors import ArchbenchError, ShapeError, SpecError, TargetError
from .spec import Spec, dump_yaml, load_spec, loads, resolve

__version__ = "0.1.0"
__all__ = ["load_spec", "loads", "resolve", "dump_yaml", "analyze", "build", "Spec", "ArchbenchError",
           "SpecError", "ShapeError", "TargetError", "__version__"]


def build(*args: Any, **kwargs: Any) -> Any:
    """Build a spec into a ``torch.nn.Module``; see :func:`archbench.nn.build`."""
    from .nn import build as _build

    return _build(*args, **kwargs)
