"""`cm-bot chat --flow ID`: the flow authors' simulator (issue 13, "A simulator for flow authors").

A flow author starts one flow at once for the demo client, on the shipped flows
(checked first, as at every start), and answers it in the terminal with the usual
validation. The demo client's consent is recorded so the flow can start; the consent
flow itself is shown as a new client sees it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.storage.admin import add_staff, has_any_case, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, ConsentRecord, Response

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "data" / "broken" / "broken.yaml"
GAD_INTRO = "Next are a few questions about worry and nerves."
GAD_Q1 = "Feeling nervous, anxious or on edge"
GAD_Q2 = "Not being able to stop or control worrying"


@pytest.fixture(autouse=True)
def shipped(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    """The shipped flows on a fresh database, from a folder with no .env, logging untouched."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(ROOT / "conversations"))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(ROOT / "conversations" / "program.yaml"))
    # `chat` points the root logger at stderr, errors only; keep pytest's handlers.
    monkeypatch.setattr("cm_bot.logsetup.configure", lambda **_: None)


def chat(*args: str, typed: str = "") -> Result:
    return CliRunner().invoke(app, ["chat", *args], input=typed, prog_name="cm-bot")


def test_flow_starts_at_once_and_takes_answers(db: Engine) -> None:
    result = chat("--flow", "screening_gad", typed="1\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Created demo case C-0001" in out
    assert "consent recorded for the demo client" in out
    assert out.index(GAD_INTRO) < out.index(GAD_Q1) < out.index(GAD_Q2)
    assert "May we send you messages" not in out  # no consent conversation first
    with transaction(db) as session:
        (consent,) = session.execute(select(ConsentRecord)).scalars()
        answers = {r.key: r.value for r in session.execute(select(Response)).scalars()}
        audit = list(session.execute(select(col(AuditLog.action))).scalars())
    assert (consent.action, consent.flow_id, consent.text_sha256) == ("granted", "consent", "demo")
    assert all(consent.decisions.values())
    assert "demo_consent_recorded" in audit
    assert answers == {"gad2.q1": 0}


def test_answers_are_validated_as_in_any_chat() -> None:
    result = chat("--flow", "screening_gad", typed="9\nsometimes\n2\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count(GAD_Q1) >= 1 and "Please choose one of the options." in out
    assert GAD_Q2 in out.split("Please choose one of the options.")[-1]


def test_a_second_run_starts_the_flow_again_without_a_second_consent(db: Engine) -> None:
    assert chat("--flow", "screening_gad", typed="1\n").exit_code == 0
    again = chat("--flow", "screening_gad")
    assert again.exit_code == 0, again.output
    assert "Created demo case" not in again.output
    assert "consent recorded" not in again.output
    assert GAD_INTRO in again.output and GAD_Q1 in again.output
    with transaction(db) as session:
        assert len(list(session.execute(select(ConsentRecord)).scalars())) == 1


def test_context_fills_the_flow_placeholders() -> None:
    result = chat("--flow", "goal_checkin", "--context", '{"goal": "Find a job"}')
    assert result.exit_code == 0, result.output
    assert "Your goal: Find a job" in result.output


def test_language_is_the_demo_clients() -> None:
    result = chat("--flow", "screening_gad", "--language", "es")
    assert result.exit_code == 0, result.output
    assert GAD_INTRO not in result.output and GAD_Q1 not in result.output
    assert "[1]" in result.output


def test_the_consent_flow_is_shown_as_a_new_client_sees_it(db: Engine) -> None:
    result = chat("--flow", "consent")
    assert result.exit_code == 0, result.output
    assert "May we send you messages" in result.output
    assert "consent recorded" not in result.output
    with transaction(db) as session:
        assert list(session.execute(select(ConsentRecord)).scalars()) == []


def test_unknown_flow_exits_1_and_lists_the_flow_ids(db: Engine) -> None:
    result = chat("--flow", "screening_gdd")
    assert result.exit_code == 1
    assert "no flow 'screening_gdd'" in result.output
    for known in ("consent", "screening_gad", "screening_phq", "goal_checkin"):
        assert known in result.output
    assert not has_any_case(db)  # refused before the demo case is made


def test_flows_are_checked_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "conversations", flows)
    shutil.copy(BROKEN, flows)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(flows))
    result = chat("--flow", "screening_gad")
    assert result.exit_code == 1
    assert f"{flows / 'broken.yaml'}:" in result.output
    assert GAD_Q1 not in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--context", "{}"], "--context needs --flow"),
        (["--flow", "goal_checkin", "--context", "{goal"], "not valid JSON"),
        (["--flow", "goal_checkin", "--context", '["a"]'], "JSON object"),
    ],
    ids=["without-flow", "bad-json", "not-an-object"],
)
def test_bad_context_exits_2(args: list[str], words: str) -> None:
    result = chat(*args)
    assert result.exit_code == 2 and words in result.output


def test_a_database_with_cases_but_no_demo_client_is_refused(db: Engine) -> None:
    add_staff(db, "Maria", "case_manager")
    new_case(db, "Maria")
    result = chat("--flow", "screening_gad")
    assert result.exit_code == 1
    assert "no demo client" in result.output and "CM_BOT_DATABASE_URL" in result.output


def test_an_open_urgent_flag_pauses_the_simulator_too() -> None:
    first = chat("--flow", "screening_gad", typed="I feel suicidal\n")
    assert first.exit_code == 0, first.output
    assert "flag for the case manager: urgent" in first.output
    again = chat("--flow", "screening_gad")
    assert again.exit_code == 1
    assert "open urgent flag" in again.output and GAD_Q1 not in again.output
