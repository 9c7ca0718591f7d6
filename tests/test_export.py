"""Exports open cleanly in their tools: LaTeX compiles, HTML is a document, one missing-value placeholder,
numbers rounded for readers and exact for machines."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from archbench.report import export_table
from archbench.report.export import LATEX_PREAMBLE, MISSING, latex_escape, readable


def _frame() -> pd.DataFrame:
    """A table like the search's: a name with underscores, integers with a gap, floats with many digits."""
    return pd.DataFrame({
        "network": ["inception_v1_trial3", "googlenet", "resnet_50 & co #1"],
        "flops": [1_498_426_368, None, 4_089_184_256],
        "naswot": [233.77341234567891, float("nan"), 0.000123456],
        "budget_usage": [0.9312345678901234, 0.99, None],
        "feasible": [True, False, None],
    })


@pytest.mark.parametrize("value,text", [
    (1_498_426_368, "1,498,426,368"), (12.345678, "12.35"), (233.77341234567891, "233.8"),
    (0.9312345678901234, "0.9312"), (0.0523456, "0.05235"), (0.000123456, "0.000123"), (0.0, "0"),
    (-3.14159, "-3.142"), (15234.56, "15,235"), (None, MISSING), (float("nan"), MISSING), ("x_y", "x_y"),
])
def test_readable_numbers(value, text):
    assert readable(value) == text


def test_latex_escapes_every_special_character():
    assert latex_escape("a_b & 50% #1 $x$ {y} ~^\\") == r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"


@pytest.mark.parametrize("suffix", [".md", ".tex", ".html"])
def test_readable_formats_round_and_use_one_placeholder(tmp_path: Path, suffix: str):
    text = export_table(_frame(), tmp_path / f"t{suffix}", caption="study inception_v1: trials").read_text()
    assert "1,498,426,368" in text and "233.8" in text and "0.9312" in text
    assert "233.7734" not in text and "0.93123" not in text  # no 16-digit floats
    assert "nan" not in text.lower() and "None" not in text
    placeholder = "--" if suffix == ".tex" else MISSING
    assert text.count(placeholder) >= 4  # flops, naswot, budget_usage, feasible: one each


def test_machine_formats_stay_exact(tmp_path: Path):
    frame = _frame()
    back = pd.read_csv(export_table(frame, tmp_path / "t.csv"))
    assert str(back["flops"].dtype) == "float64" and back["flops"].isna().tolist() == [False, True, False]
    assert "1498426368," in (tmp_path / "t.csv").read_text()  # an integer, not 1498426368.0
    assert back["naswot"][0] == 233.77341234567891 and back["budget_usage"][0] == 0.9312345678901234
    rows = json.loads(export_table(frame, tmp_path / "t.json").read_text())["rows"]
    assert rows[0]["flops"] == 1_498_426_368 and rows[1]["flops"] is None and rows[1]["naswot"] is None
    assert rows[0]["naswot"] == 233.77341234567891


def test_html_is_a_complete_document(tmp_path: Path):
    text = export_table(_frame(), tmp_path / "t.html", caption="a <caption>").read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for part in ('<meta charset="utf-8">', "<title>a &lt;caption&gt;</title>", "<thead>", "<tbody>",
                 '<td class="num">1,498,426,368</td>', "resnet_50 &amp; co #1"):
        assert part in text


def test_latex_states_its_preamble_and_shrinks_wide_tables(tmp_path: Path):
    text = export_table(_frame(), tmp_path / "t.tex", caption="profile inception_v3 per_block").read_text()
    assert r"\caption{profile inception\_v3 per\_block}" in text
    assert r"% \usepackage{booktabs}" in text and r"\resizebox{\ifdim\width>\linewidth" in text
    assert r"inception\_v1\_trial3" in text and r"resnet\_50 \& co \#1" in text
    assert r"\begin{tabular}{lrrrl}" in text


def _wide_frame(columns: int) -> pd.DataFrame:
    return pd.DataFrame({f"column_{i}": [123_456_789 * (i + 1), math.pi * i] for i in range(columns)})


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("columns", [3, 14])
def test_latex_compiles_with_the_stated_preamble(tmp_path: Path, columns: int):
    frame = pd.concat([_frame(), _wide_frame(columns)], axis=1)
    export_table(frame, tmp_path / "table.tex", caption="profile inception_v3 per_block (50% of #1)")
    preamble = "\n".join(line.split("%")[0] for line in LATEX_PREAMBLE.splitlines())
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n" + preamble +
                                      "\n\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log  # the table fits the text width
