"""A program admin runs `cm-bot flows check` on a broken file and learns where each problem is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cm_bot.cli import app

BROKEN = Path(__file__).parents[1] / "data" / "broken" / "broken.yaml"


def test_broken_flow_lists_each_problem_with_its_line_and_exits_non_zero() -> None:
    result = CliRunner().invoke(app, ["flows", "check", str(BROKEN)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    expected = {
        12: "duplicate option value",
        18: "duplicate store key 'demo.q1'",
        20: "a scale has at most 11 points",
        13: "dead end",
        16: "step 'orphan' can never be reached",
        26: "max must not be less than min",
        27: "unknown step 'nowhere'",
        30: "unknown name 'foo'",
        33: "unknown score 'x'",
    }
    for line_no, words in expected.items():
        assert any(line.startswith(f"{BROKEN}:{line_no}: ") and words in line for line in lines), (
            f"missing line {line_no} ({words}) in:\n{result.output}"
        )


def test_schema_errors_point_at_the_field_line(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        "id: typo\nversion: 1\nkind: screening\ntitle: T\nsteps:\n"
        "  - id: q1\n    type: scael\n    key: t.q1\n    text: Hi\n"
        "  - id: q2\n    type: integer\n    key: t.q2\n    text: Hi\n    min: 1\n    maxx: 3\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["flows", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6: " in result.output  # the step whose type is unknown
    assert f"{bad}:15: " in result.output  # the misspelt field


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nsteps:\n  - id: [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["flows", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.output and "not valid YAML" in result.output


def test_shipped_flows_pass_through_the_installed_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "cm_bot", "flows", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "OK" in completed.stdout
