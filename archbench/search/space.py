"""Search spaces: a base spec and the parameters a search varies, by the grammar's block paths.

A space is YAML (``search_spaces/*.yaml``, also shipped in the package)::

    name: inception_v1
    base: googlenet                      # a zoo name or a spec file
    budget: 1.5GFLOPs                    # the documented default budget
    min_width: 0.25                      # smallest width multiplier the budget repair may use
    params:
      width:       {float: [0.5, 1.5], set: width_multiplier, default: 1.0}
      reduce_3x3:  {float: [0.5, 1.5], scale: "inception*.branches[1][0].conv", default: 1.0}
      depth_4:     {int: [1, 3], set: inception4d.repeat, default: 1}
      factorize:   {categorical: [none, 5x5], set: factorize, default: none}
      n:           {categorical: [3, 5, 7], set: "inception*.branches[1][1].kernel", when: {factorize: nxn}}
      merge:                              # a categorical whose choices are sets of edits
        categorical:
          residual: {}
          concat: {block35.merge: concat, block35.scale: unset, block35.project: unset}

Each parameter is ``int: [low, high]`` (optional ``step``, ``log``), ``float: [low, high]``
(optional ``log``) or ``categorical: [choices]`` / ``{label: edits}``. Its value is applied by
``set:`` (the value itself) or ``scale:`` (multiplies the base value, a width, rounded with the
grammar's one rounding rule); paths may glob over layer names (``inception*``). ``when:`` makes a
parameter conditional on others. ``default:`` values together must give the base network: that
point is enqueued as the first trial of every search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from ..files import read_text
from ..spec import read_raw
from ..spec.derive import derive, edited, expand_glob, get_path
from ..spec.edit_steps import EditSteps
from ..spec.ops.base import cache, remember
from ..spec.parse import parse_spec
from ..spec.schema import Spec
from ..spec.transform import make_divisible
from ..spec.yaml_lines import line_of, load_yaml

KINDS = ("int", "float", "categorical")
PARAM_KEYS = (*KINDS, "set", "scale", "when", "default", "step", "log", "help")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    choice_edits: dict[str, dict[str, Any]] | None = None  # categorical {label: {path: value}}
    set_paths: tuple[str, ...] = ()
    scale_paths: tuple[str, ...] = ()
    when: dict[str, Any] = field(default_factory=dict)
    default: Any = None
    help: str = ""

    def active(self, values: Mapping[str, Any]) -> bool:
        return all(values.get(k) == v for k, v in self.when.items())

    def suggest(self, trial: Any) -> Any:
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)  # type: ignore[arg-type]
        if self.kind == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)  # type: ignore[arg-type]
        return trial.suggest_categorical(self.name, list(self.choices))

    def smallest(self) -> Any:
        """The value that gives the cheapest network, for the impossible-budget check."""
        if self.kind in ("int", "float"):
            return self.low
        return self.choices[0]


@dataclass(frozen=True)
class SearchSpace:
    name: str
    base: str
    params: tuple[Param, ...]
    budget: str | None = None
    description: str = ""
    min_width: float = 0.25
    source: str = "<string>"

    @property
    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.params:
            if p.default is not None and p.active(out):
                out[p.name] = p.default
        return out

    def sample(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values):
                values[p.name] = p.suggest(trial)
        return values

    def smallest(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values):
                values[p.name] = p.smallest()
        return values

    def largest(self, choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every number at its high end, each categorical at ``choices[name]`` (else its first
        choice): with the costliest choices, the largest network (see
        :func:`archbench.search.budget.largest_network`)."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.active(values):
                values[p.name] = (choices or {}).get(p.name, p.choices[0]) if p.kind == "categorical" else p.high
        return values

    def spec(self, values: Mapping[str, Any], name: str | None = None) -> Spec:
        """The candidate network for these parameter values."""
        base = _base_doc(self.base, self.source)
        edits = self.edits(base, values)
        edits["name"] = name or f"{self.name}_candidate"
        # copies only what the edits touch (the base is cached), by the paths compiled on it
        doc, failed = edited(base, edits, _plan(self, base).steps)
        if failed:
            raise SpecError([Problem(self.source, f"params ({path})", error) for path, error in failed])
        return parse_spec(doc, f"{self.source} (candidate)")

    def edits(self, doc: Mapping, values: Mapping[str, Any]) -> dict[str, Any]:
        """``set:`` edits (path -> value) for parameter ``values`` on the base document ``doc``."""
        plan = _plan(self, doc)
        edits: dict[str, Any] = {}
        for p in self.params:
            if p.name in values:
                plan.apply(p, values[p.name], edits)
        return edits


class _Plan:
    """What each parameter edits on one base document: its globs expanded to paths, and the base
    values of its ``scale:`` paths. Worked out once per parameter, at its first use (as the
    edits themselves would fail), since every candidate of a search edits the same paths; and
    so are those paths resolved on the document, for :func:`edited` (``steps``)."""

    def __init__(self, doc: Mapping):
        self.doc = doc
        self.expanded: dict[str, Any] = {}  # param name -> (choice edits, set paths, scale paths)
        self.steps = EditSteps(doc)

    def apply(self, p: Param, value: Any, edits: dict[str, Any]) -> None:
        """Add the edits of ``p`` at ``value`` to ``edits`` (later ones override earlier)."""
        known = self.expanded.get(p.name)
        if known is None:
            known = self.expanded[p.name] = self._expand(p)
        choices, set_paths, scale_paths = known
        if choices is not None:
            for path, v in choices[str(value)]:
                edits[path] = v
        for path in set_paths:
            edits[path] = value
        for path, base in scale_paths:
            edits[path] = make_divisible(base * value, 8) if isinstance(base, int) else base * value

    def _expand(self, p: Param) -> tuple[Any, list[str], list[tuple[str, Any]]]:
        doc = self.doc
        choices = None
        if p.choice_edits is not None:
            choices = {label: [(path, v) for pattern, v in edits.items() for path in expand_glob(doc, pattern)]
                       for label, edits in p.choice_edits.items()}
        set_paths = [path for pattern in p.set_paths for path in expand_glob(doc, pattern)]
        scale_paths = [(path, get_path(doc, path)) for pattern in p.scale_paths for path in expand_glob(doc, pattern)]
        return choices, set_paths, scale_paths


_PLANS: dict[int, tuple[SearchSpace, _Plan]] = cache()  # id(space) -> (space, plan on its cached base)


def _plan(space: SearchSpace, doc: Mapping) -> _Plan:
    """The plan of ``space`` on ``doc``: kept for the space's cached base document (never
    edited in place), made afresh for any other document."""
    kept = _PLANS.get(id(space))
    if kept is not None and kept[0] is space and kept[1].doc is doc:
        return kept[1]
    plan = _Plan(doc)
    if doc is _base_doc(space.base, space.source):
        remember(_PLANS, id(space), (space, plan), 64)
    return plan


@lru_cache(maxsize=32)
def _base_doc_cached(base: str, source: str) -> Any:
    doc, src = read_raw(base, source)
    return derive(doc, src, read_raw)


def _base_doc(base: str, source: str) -> Any:
    return _base_doc_cached(base, source)


def space_names() -> list[str]:
    return sorted(p.stem for p in _folder().glob("*.yaml"))


def _folder() -> Path:
    return Path(str(resources.files("archbench.search_spaces")))


def load_space(target: str | Path) -> SearchSpace:
    """A search space from a shipped name (``inception_v1``) or a YAML file."""
    path = Path(target)
    if not path.exists() and str(target) in space_names():
        path = _folder() / f"{target}.yaml"
    if not path.is_file():
        raise SpecError([Problem(str(target), "", "no such search space; shipped spaces are: " + ", ".join(space_names()))])
    return parse_space(load_yaml(read_text(path, "search space file"), str(path)), str(path))


def parse_space(doc: Any, source: str) -> SearchSpace:
    problems: list[Problem] = []

    def err(container: Any, key: Any, path: str, message: str) -> None:
        problems.append(Problem(source, path, message, line_of(container, key)))

    if not isinstance(doc, Mapping):
        raise SpecError([Problem(source, "", "a search space must be a mapping")])
    for key in doc:
        if key not in ("name", "base", "budget", "description", "min_width", "params"):
            err(doc, key, str(key), f"unknown field '{key}'; expected name, base, budget, description, min_width, params")
    for key in ("name", "base", "params"):
        if key not in doc:
            err(doc, None, key, f"missing required field '{key}'")
    raw_params = doc.get("params") or {}
    if not isinstance(raw_params, Mapping):
        err(doc, "params", "params", "expected a mapping of parameter name -> definition")
        raw_params = {}
    params = []
    for name, d in raw_params.items():
        path = f"params.{name}"
        if not isinstance(d, Mapping):
            err(raw_params, name, path, "expected a mapping such as {int: [1, 3], set: inception4d.repeat}")
            continue
        for key in d:
            if key not in PARAM_KEYS:
                err(d, key, f"{path}.{key}", f"unknown field '{key}'; expected one of: {', '.join(PARAM_KEYS)}")
        kinds = [k for k in KINDS if k in d]
        if len(kinds) != 1:
            err(d, None, path, "give exactly one of int: [low, high], float: [low, high], categorical: [...]")
            continue
        kind = kinds[0]
        spec_value = d[kind]
        low = high = None
        choices: tuple[Any, ...] = ()
        choice_edits = None
        if kind in ("int", "float"):
            if not (isinstance(spec_value, list) and len(spec_value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                            for v in spec_value)
                    and spec_value[0] <= spec_value[1]):
                err(d, kind, f"{path}.{kind}", f"expected finite [low, high] with low <= high, found {spec_value!r}")
                continue
            low, high = spec_value
        elif isinstance(spec_value, Mapping):
            choices = tuple(spec_value)
            choice_edits = {str(k): dict(v or {}) for k, v in spec_value.items()}
        elif isinstance(spec_value, list) and spec_value:
            choices = tuple(spec_value)
        else:
            err(d, kind, f"{path}.{kind}", "expected a non-empty list of choices or a mapping of choice -> edits")
            continue
        to_tuple = lambda v: tuple(v) if isinstance(v, list) else ((v,) if v else ())  # noqa: E731
        when = d.get("when") or {}
        for other in when:
            if other not in raw_params:
                err(d, "when", f"{path}.when", f"unknown parameter '{other}'")
        params.append(Param(name=str(name), kind=kind, low=low, high=high, step=d.get("step"), log=bool(d.get("log", False)),
                            choices=choices, choice_edits=choice_edits, set_paths=to_tuple(d.get("set")),
                            scale_paths=to_tuple(d.get("scale")), when=dict(when), default=d.get("default"),
                            help=str(d.get("help", ""))))
    if problems:
        raise SpecError(problems)
    space = SearchSpace(name=str(doc["name"]), base=str(doc["base"]), params=tuple(params),
                        budget=doc.get("budget"), description=str(doc.get("description", "")),
                        min_width=float(doc.get("min_width", 0.25)), source=source)
    # Every path must exist on the base network: check now, with the defaults and the extremes.
    for values in (space.defaults, space.smallest()):
        space.spec(values)
    return space
