"""Write a table (a pandas DataFrame) in the format its file extension names.

CSV, Markdown (pipe table), LaTeX (booktabs tabular), HTML, or JSON (records). The numbers are
written as exact integers or full-precision floats so that every format parses back to the same
values; human formatting belongs to the terminal tables, not to files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ArchbenchError

EXPORT_FORMATS = (".json", ".csv", ".md", ".tex", ".html")


def _exact(value: float) -> str:
    """The shortest text that reads back as the same float (Python's repr of a plain float)."""
    return repr(float(value))


def _check(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ArchbenchError(f"--out {path}: unknown format {suffix or '(no extension)'!r}; "
                             f"expected one of: {', '.join(EXPORT_FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return suffix


def export_table(frame: Any, path: str | Path, caption: str = "", document: dict[str, Any] | None = None) -> Path:
    """Write ``frame`` to ``path``; for ``.json``, ``document`` (if given) is written instead."""
    path = Path(path)
    suffix = _check(path)
    if suffix == ".json":
        write_json(document if document is not None else {"rows": frame.to_dict(orient="records")}, path)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".md":
        text = frame.to_markdown(index=False, floatfmt="")  # full precision, like the other formats
        path.write_text((f"{caption}\n\n" if caption else "") + text + "\n")
    elif suffix == ".tex":
        path.write_text(frame.to_latex(index=False, caption=caption or None, escape=True, float_format=_exact))
    else:
        path.write_text(frame.to_html(index=False, border=0, float_format=_exact))
    return path


def write_json(document: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
