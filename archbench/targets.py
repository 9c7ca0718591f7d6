"""TARGET on the command line: a zoo name, a spec file, or any ``module:callable`` model.

Resolution is torch-free for specs; a ``module:callable`` target is imported only when a model
is actually needed, and any failure there (bad module path, a callable that raises, something
that is not an ``nn.Module``) becomes a :class:`TargetError` with the reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TargetError
from .spec import Spec, load_spec
from .spec.parse import parse_input_size

# ``package.module:callable``, or ``path/to/file.py:callable`` (``./mynets.py:build``).
_CALLABLE = re.compile(r"^(?:[A-Za-z_][\w.]*|[^:]*\.py):[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Target:
    """A network to profile: from a spec (``spec`` set) or from Python code (``factory`` set)."""

    label: str
    spec: Spec | None = None
    factory: str | None = None  # "module:callable"
    input: tuple[int, int, int] = (3, 224, 224)
    classes: int | None = None

    @property
    def has_aux(self) -> bool:
        return bool(self.spec and self.spec.aux_heads)

    def build(self, aux: bool = False, input_size: tuple[int, int, int] | None = None) -> Any:
        """The ``nn.Module`` (aux heads built only when asked and available)."""
        if self.spec is not None:
            from .nn import build

            return build(self.spec, aux=aux, input_size=input_size)
        return _call_factory(self.factory or "")


def is_callable_target(text: str) -> bool:
    return bool(_CALLABLE.match(text)) and not Path(text).exists()


def resolve_target(text: str, input_size: str | None = None) -> Target:
    """Resolve a TARGET string; ``input_size`` ("224", "3x299x299") overrides the input."""
    if is_callable_target(text):
        size = parse_input(input_size, 3) if input_size else (3, 224, 224)
        return Target(label=text, factory=text, input=size)
    spec = load_spec(text)
    size = parse_input(input_size, spec.input[0]) if input_size else spec.input
    from .cost.limits import check_cost_limits

    check_cost_limits(spec, size)  # a network too big to build is refused before torch allocates it
    return Target(label=spec.name, spec=spec, input=size, classes=spec.classes)


def parse_input(text: str, channels: int) -> tuple[int, int, int]:
    value: Any = int(text) if text.strip().isdigit() else text
    size = parse_input_size(value, channels)
    if size is None:
        raise TargetError(f"--input: expected a size such as 224, 299x299 or 3x224x224, got {text!r}")
    return size


def _import(module_name: str) -> Any:
    """A module by dotted name, found on ``sys.path`` or else in the current folder (as
    ``python -m`` would), or a ``.py`` file by path."""
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"no such file {module_name!r}")
        spec = importlib.util.spec_from_file_location(f"_archbench_target_{path.stem}", path.resolve())
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of neighbouring files
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if exc.name != top or not (Path(top + ".py").is_file() or Path(top).is_dir()) or "" in sys.path:
            raise
    sys.path.insert(0, "")  # the current folder, as `python -m` and `python -c` have it
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove("")


def _call_factory(target: str) -> Any:
    from torch import nn

    module_name, _, attr = target.rpartition(":")
    try:
        module = _import(module_name)
    except Exception as exc:  # ImportError, or any error raised while importing user code
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            hint = (f" (is the package that provides {exc.name!r} installed in this environment? "
                    f"or give a file path, ./file.py:{attr})")
        raise TargetError(f"{target}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}{hint}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise TargetError(f"{target}: module {module_name!r} has no attribute {attr!r}")
    if isinstance(factory, nn.Module):
        return factory
    if not callable(factory):
        raise TargetError(f"{target}: {attr!r} is neither an nn.Module nor callable")
    try:
        model = factory()
    except Exception as exc:
        raise TargetError(f"{target}: calling {attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise TargetError(f"{target}: {attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model
