"""The malformed-spec corpus: each file must give one clear error naming where and what.

Every file in tests/malformed/ starts with two comment lines, ``# expect: <text in the message>``
and ``# path: <path inside the spec>``; add a case by adding a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archbench import analyze, load_spec
from archbench.cli.app import app
from archbench.errors import ArchbenchError, SpecError

CORPUS = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))


def _expectations(path: Path) -> tuple[str, str]:
    lines = path.read_text().splitlines()
    expect = lines[0].removeprefix("# expect:").strip()
    where = lines[1].removeprefix("# path:").strip()
    return expect, where


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_spec_is_rejected_with_location(path: Path):
    expect, where = _expectations(path)
    with pytest.raises(ArchbenchError) as info:
        analyze(load_spec(path))
    message = str(info.value)
    assert expect in message
    assert where in message
    if isinstance(info.value, SpecError):
        assert all(p.source.endswith(path.name) for p in info.value.problems)


@pytest.mark.parametrize("path", CORPUS[:8], ids=[p.stem for p in CORPUS[:8]])
def test_validate_command_exits_2_without_traceback(path: Path):
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert _expectations(path)[0] in result.output


def test_validate_lists_every_problem_in_one_file(tmp_path: Path):
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "name: many\ninput: 3x32x32\nbody:\n"
        "  - {conv: 0, kernel: 3}\n"
        "  - {conv: 8, kernel: 3, act: swishy}\n"
        "  - {maxpool: 3, stride: -1}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    paths = {p.path for p in info.value.problems}
    assert {"body[0].conv", "body[1].act", "body[2].stride"} <= paths
    assert [p.line for p in info.value.problems][:2] == [4, 5]


def test_nonexistent_file_is_a_clear_error():
    result = CliRunner().invoke(app, ["validate", "does/not/exist.yaml"])
    assert result.exit_code == 2
    assert "no such file" in result.output
