"""The search's default objective, chosen from the calibration shipped with the package.

``archbench/search/calibration.json`` is the output of one ``archbench calibrate`` run (its
command, training recipe, machine and date are in the file): every cheap signal's Spearman with
measured accuracy, with bootstrap intervals and margins over the params and FLOPs baselines. The
default objective is the cheapest signal that calibration supports:

1. the cheapest proxy that beat both baselines (paired-bootstrap interval of the margin above zero);
2. else, when no proxy did, a baseline whose Spearman interval lies above zero (free, analytic);
3. else ``params``: nothing cheap was shown to track accuracy, and counting parameters costs
   nothing, so the search at least fills the budget without pretending to rank by accuracy.

"Cheapest" is the mean time each proxy took per network in that calibration (``ensemble``: the sum
of its three voters); params and FLOPs are free. Reading the file needs no torch, so ``--help``
and ``zoo`` stay light.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

FILE = "calibration.json"
FREE = ("params", "flops")
VOTERS = ("synflow", "jacob_cov", "snip")  # the ensemble's: objectives.ENSEMBLE, without importing torch-side code


@lru_cache(maxsize=1)
def shipped_calibration() -> dict[str, Any]:
    """The shipped calibration document (see :func:`archbench.search.calibrate.document`)."""
    return json.loads(resources.files("archbench.search").joinpath(FILE).read_text())


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def signed(value: Any, digits: int = 2) -> str:
    """``+0.12``, or ``-`` for a missing value (NaN in a table, null in the JSON file)."""
    return f"{value:+.{digits}f}" if _finite(value) else "-"


def seconds_of(name: str, seconds: dict[str, float]) -> float:
    """What one evaluation of ``name`` cost in the calibration; free for the analytic baselines."""
    if name in FREE:
        return 0.0
    if name == "ensemble":
        return sum(seconds.get(v, math.inf) for v in VOTERS)
    return seconds.get(name, math.inf)


def beats_baselines(row: dict[str, Any]) -> bool:
    """Above every baseline that has a ranking, by a paired-bootstrap interval above zero."""
    lows = [row.get(f"margin_{b}_low") for b in FREE]
    defined = [low for low in lows if _finite(low)]
    return row["objective"] not in FREE and bool(defined) and all(low > 0 for low in defined)


def tracks(row: dict[str, Any]) -> bool:
    """The Spearman's bootstrap interval lies above zero."""
    return _finite(row.get("spearman_low")) and row["spearman_low"] > 0


def choose_default(rows: list[dict[str, Any]], seconds: dict[str, float]) -> tuple[str, str]:
    """``(objective, why)`` by the rule in this module's docstring."""
    winners = [r for r in rows if beats_baselines(r)]
    if winners:
        best = min(winners, key=lambda r: (seconds_of(r["objective"], seconds), -r["spearman"]))
        return best["objective"], "it is the cheapest signal that beat the params and FLOPs baselines there"
    free = [r for r in rows if r["objective"] in FREE and tracks(r)]
    if free:
        best = max(free, key=lambda r: r["spearman"])
        return best["objective"], ("no proxy beat the params and FLOPs baselines there, and it tracks accuracy "
                                   "at no cost")
    return "params", ("no cheap signal was shown to track accuracy there; counting parameters costs nothing and "
                      "claims no more")


def default_objective() -> str:
    document = shipped_calibration()
    return choose_default(document["objectives"], document.get("seconds", {}))[0]


def objective_note(names: list[str]) -> list[str]:
    """What the shipped calibration says about each objective of a search, for its summary.

    Nothing for a search on measured accuracy (``train``): the calibration judges cheap signals as
    stand-ins for it, and beside it a cost such as ``flops`` is traded against accuracy, not used
    to predict it; nor would advice to search with ``--objective train`` make sense there."""
    names = [name.partition(":")[0] for name in names]  # flops:min is flops
    if "train" in names:
        return []
    document = shipped_calibration()
    rows = {r["objective"]: r for r in document["objectives"]}
    default, why = choose_default(document["objectives"], document.get("seconds", {}))
    recipe = document["recipe"]
    where = (f"{document['samples']} networks of {document['space']}, data {recipe['data']}, "
             f"{recipe['epochs']} epochs, measured {document['measured']}")
    lines = []
    for name in names:
        row = rows.get(name)
        if row is None:
            continue
        if _finite(row["spearman"]):
            lines.append(f"{name}: Spearman {row['spearman']:+.2f} (95% interval {signed(row['spearman_low'])} to "
                         f"{signed(row['spearman_high'])}) with measured accuracy in the shipped calibration ({where}); "
                         f"{row['verdict']}.")
        else:
            lines.append(f"{name}: no ranking in the shipped calibration ({where}).")
        if name == default:
            lines.append(f"{name} is the default objective because {why}.")
    if lines:
        lines.append("That calibration is not your data: check with `archbench calibrate --data PATH`, or search on "
                     "measured accuracy with `--objective train --data PATH`.")
    return lines
