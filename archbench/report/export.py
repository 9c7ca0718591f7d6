"""Write a table (a pandas DataFrame) in the format its file extension names.

Two kinds of file, two rules:

- **For machines** (CSV, JSON): exact numbers that parse back to the same values: integers as
  integers (also in a column with missing cells), floats as the shortest text that reads back
  as the same float; a missing value is an empty CSV cell or JSON ``null``.
- **For readers** (Markdown, LaTeX, HTML): integers with thousands separators (still exact),
  floats rounded to four significant digits, and one placeholder, an en dash, for every missing
  value. The LaTeX is a complete ``table`` float that compiles with the preamble written at its
  top (``booktabs``, ``graphicx``) and shrinks to the text width when wider; the HTML is a
  complete document.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from ..errors import ArchbenchError
from ..files import atomic_open, write_text

EXPORT_FORMATS = (".json", ".csv", ".md", ".tex", ".html")
MISSING = "–"  # en dash; LaTeX writes it as --
LATEX_PREAMBLE = r"\usepackage{booktabs}  % the table's three rules" + "\n" + \
                 r"\usepackage{graphicx}  % resizebox: a table wider than the text shrinks to fit"
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def readable(value: Any) -> str:
    """A cell as a reader wants it: ``1,498,426,368``, ``12.35``, ``0.0523``, ``–`` for missing."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude < 1e-3:
        return f"{value:.3g}"
    decimals = max(0, 3 - math.floor(math.log10(magnitude)))
    return f"{value:,.{decimals}f}"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _numeric(frame: Any) -> list[bool]:
    """Which columns hold numbers (right-aligned in the readable formats)."""
    import pandas as pd

    return [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns]


def _cells(frame: Any) -> list[list[Any]]:
    """Python values row by row (numpy scalars unwrapped, integer columns as ints)."""
    integral = [_integral(frame[c]) for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):
        row = []
        for value, whole in zip(values, integral):
            value = value.item() if hasattr(value, "item") else value
            row.append(int(value) if whole and not is_missing(value) else value)
        rows.append(row)
    return rows


def _integral(column: Any) -> bool:
    """A float column whose values are all whole numbers: integers with gaps (pandas made it float)."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return True
    if not pd.api.types.is_float_dtype(column):
        return False
    present = column.dropna()
    return len(present) > 0 and bool((present == present.round()).all()) and bool((present.abs() < 2**53).all())


def _markdown(frame: Any, caption: str) -> str:
    numeric = _numeric(frame)
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    for row in _cells(frame):
        lines.append("| " + " | ".join(readable(v).replace("|", "\\|") for v in row) + " |")
    return (f"{caption}\n\n" if caption else "") + "\n".join(lines) + "\n"


def _latex(frame: Any, caption: str) -> str:
    numeric = _numeric(frame)
    spec = "".join("r" if n else "l" for n in numeric)
    cell = lambda v: "--" if is_missing(v) else latex_escape(readable(v))  # noqa: E731
    body = [" & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    body += [" & ".join(cell(v) for v in row) + r" \\" for row in _cells(frame)]
    lines = ["% archbench table; preamble:", *("% " + line for line in LATEX_PREAMBLE.splitlines()),
             r"\begin{table}[htbp]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
              rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *body, r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "caption{text-align:left;font-weight:bold;margin-bottom:.5em}"
        "th,td{padding:.25em .7em;border-bottom:1px solid #ddd}th{border-bottom:2px solid #333}"
        ".num{text-align:right;font-variant-numeric:tabular-nums}")


def _html(frame: Any, caption: str) -> str:
    numeric = _numeric(frame)
    cls = lambda n: ' class="num"' if n else ""  # noqa: E731
    head = "".join(f"<th{cls(n)}>{html.escape(str(c))}</th>" for c, n in zip(frame.columns, numeric))
    rows = "\n".join("<tr>" + "".join(f"<td{cls(n)}>{html.escape(readable(v))}</td>" for v, n in zip(row, numeric))
                     + "</tr>" for row in _cells(frame))
    title = html.escape(caption or "archbench table")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<table>\n"
            + (f"<caption>{html.escape(caption)}</caption>\n" if caption else "")
            + f"<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n</body>\n</html>\n")


def _csv(frame: Any, path: Path) -> None:
    exact = frame.copy()
    for column in exact.columns:
        if _integral(exact[column]) and exact[column].dtype.kind == "f":
            exact[column] = exact[column].astype("Int64")  # 1498426368, not 1498426368.0
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        exact.to_csv(f, index=False)


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows for JSON: missing values as null (JSON has no NaN), whole numbers as integers."""
    return [dict(zip(frame.columns, (None if is_missing(v) else v for v in row))) for row in _cells(frame)]


def _check(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ArchbenchError(f"--out {path}: unknown format {suffix or '(no extension)'!r}; "
                             f"expected one of: {', '.join(EXPORT_FORMATS)}")
    return suffix


def export_table(frame: Any, path: str | Path, caption: str = "", document: dict[str, Any] | None = None) -> Path:
    """Write ``frame`` to ``path``; for ``.json``, ``document`` (if given) is written instead.
    Through :mod:`archbench.files`: atomic, and an OS error is one :class:`FileError` naming the path."""
    path = Path(path)
    suffix = _check(path)
    if suffix == ".json":
        write_json(document if document is not None else {"rows": records(frame)}, path)
    elif suffix == ".csv":
        _csv(frame, path)
    elif suffix == ".md":
        write_text(path, _markdown(frame, caption))
    elif suffix == ".tex":
        write_text(path, _latex(frame, caption))
    else:
        write_text(path, _html(frame, caption))
    return path


def write_json(document: dict[str, Any], path: str | Path) -> Path:
    return write_text(path, json.dumps(document, indent=2, default=str) + "\n")
