"""Typed errors for everything a user can get wrong.

The CLI turns any :class:`ArchbenchError` into one readable message and exit code 2; anything
else is a bug and keeps its traceback. Library code raises these instead of ``assert`` or bare
``KeyError`` so that a Python caller gets the same explanation as a shell user.
"""

from __future__ import annotations

from dataclasses import dataclass


class ArchbenchError(Exception):
    """Base class of the errors caused by user input (exit code 2 on the command line)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is and what was expected there."""

    source: str  # file path, zoo name or "<string>"
    path: str  # location inside the document, e.g. "body[7].branches[2][1].kernel"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        inside = f" at {self.path}" if self.path else ""
        return f"{where}{inside}: {self.message}"


class SpecError(ArchbenchError):
    """A spec (or search space) is invalid; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ShapeError(ArchbenchError):
    """Tensor shapes do not fit together (found from the spec, before any module is built)."""


class TargetError(ArchbenchError):
    """A TARGET (zoo name, spec file or module:callable) cannot be resolved."""


class CandidateError(ArchbenchError):
    """One candidate network failed to evaluate (a non-finite objective or loss, too big to fit).

    In a search this fails only that candidate's trial; any other exception raised while
    evaluating a trial is a bug in archbench, and stops the search with its traceback.
    """


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a misspelt ``word``, or ''
    (case and ``-``/``_`` ignored, as users write names)."""
    import difflib

    folded = {c.lower().replace("-", "_"): c for c in choices}
    close = difflib.get_close_matches(word.lower().replace("-", "_"), list(folded), n=2, cutoff=0.75)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{folded[c]}'" for c in close) + "?)"
