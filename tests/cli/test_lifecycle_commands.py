"""A year of running the bot from the command line: staff and cases come, change and go.

Issue 14: `staff list|invite|deactivate|activate|role`, `case list|reassign|unlink`,
`case invite --relink`, `flags list`. The commands run against the database the engine
uses, and what they change is then checked through the engine, as the bot would see it:
a deactivated staff member is a stranger at their next message, their open flags reach
the supervisors as outbox rows, a new invite ends the old binding. Every command, the
listings included, is audited as `cli:<login name>`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.engine import ConversationEngine
from cm_bot.storage.admin import add_staff, cli_actor, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Case, Flag, Invite, Outbox, Response, Staff
from tests.support.people import Person

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "data" / "flows"
BOT = "cm_test_bot"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    """The commands use the test database and the engine's flows, from a folder with no .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(FLOWS))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(ROOT / "conversations" / "program.yaml"))
    monkeypatch.setenv("CM_BOT_INTAKE_FLOWS", '["intake"]')
    monkeypatch.setenv("CM_BOT_BOT_USERNAME", BOT)
    monkeypatch.delenv("CM_BOT_TELEGRAM_TOKEN", raising=False)


def cm_bot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="cm-bot")


def ok(*args: str) -> Result:
    result = cm_bot(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def token_of(result: Result) -> str:
    """The invite token in the link a command printed."""
    (link,) = [w for w in result.stdout.split() if w.startswith(f"https://t.me/{BOT}?start=")]
    return link.rsplit("=", 1)[1]


def telegram(engine: ConversationEngine, db: Engine, user_id: str) -> Person:
    return Person(engine, db, user_id, channel="telegram")


def table(result: Result) -> list[dict[str, str]]:
    """A listing's rows keyed by its column headings (cells are two spaces apart)."""
    heading, *lines = result.stdout.splitlines()
    starts = [heading.index(title) for title in _titles(heading)]
    titles = _titles(heading)
    rows = []
    for line in lines:
        cells = [
            line[start : starts[i + 1] if i + 1 < len(starts) else None].strip()
            for i, start in enumerate(starts)
        ]
        rows.append(dict(zip(titles, cells, strict=True)))
    return rows


def _titles(heading: str) -> list[str]:
    return [t.strip() for t in heading.split("  ") if t.strip()]


def audit(db: Engine, action: str) -> list[AuditLog]:
    with transaction(db) as session:
        return list(
            session.execute(
                select(AuditLog).where(col(AuditLog.action) == action).order_by(col(AuditLog.id))
            ).scalars()
        )


def flag_row(db: Engine) -> Flag:
    with transaction(db) as session:
        return session.execute(select(Flag).where(col(Flag.severity) == "urgent")).scalars().one()


def seen_text(messages: list[Any]) -> str:
    return "\n".join(m.text for m in messages)


@pytest.fixture
def world(engine: ConversationEngine, db: Engine) -> dict[str, Person]:
    """Maria (case manager) manages C-0001, whose client has consented; Sam supervises.

    Both staff are linked by the links `cm-bot staff add` printed.
    """
    people = maria_and_her_client(engine, db)
    sam = telegram(engine, db, "1009")
    replies = sam.say(
        f"/start {token_of(ok('staff', 'add', '--name', 'Sam', '--role', 'supervisor'))}"
    )
    assert "Welcome, Sam" in replies[0].text
    sam.read()
    people["Sam"] = sam
    return people


def maria_and_her_client(engine: ConversationEngine, db: Engine) -> dict[str, Person]:
    """Maria (case manager, linked) manages C-0001, whose client has consented."""
    maria = telegram(engine, db, "1001")
    assert (
        "Welcome, Maria"
        in maria.say(f"/start {token_of(ok('staff', 'add', '--name', 'Maria'))}")[0].text
    )
    maria.read()
    assert ok("case", "new", "--manager", "Maria").stdout.strip() == "C-0001"
    client = telegram(engine, db, "2001")
    client.say(f"/start {token_of(ok('case', 'invite', 'C-0001'))}")
    for label in ("Yes", "Yes", "No"):
        client.tap(label)
    return {"Maria": maria, "client": client}


def unsafe(client: Person) -> None:
    """Walk the intake flow to 'Do you feel safe at home?' and answer No (an urgent flag)."""
    for label in ("Good", "2", "Mold", "Done", "No"):
        client.tap(label)


# -- staff deactivate -----------------------------------------------------------------------


def test_deactivated_staff_member_is_a_stranger_at_their_next_command_and_button(
    world: dict[str, Person], db: Engine
) -> None:
    maria, sam = world["Maria"], world["Sam"]
    unsafe(world["client"])
    (notice,) = maria.read()
    assert "C-0001" in notice.text and maria.buttons

    result = ok("staff", "deactivate", "Maria")
    assert "Maria deactivated" in result.stdout

    replies = maria.say("/flags")  # the next command
    assert "C-0001" not in seen_text(replies) and "No open flags" not in seen_text(replies)
    replies = maria.tap("Acknowledge")  # the next press of a button on her old notice
    assert "C-0001" not in seen_text(replies)
    flag = flag_row(db)
    assert (flag.status, flag.acknowledged_by) == ("open", None)
    assert not audit(db, "read_flags") and not audit(db, "flag_acknowledged")
    assert sam.read()  # the supervisor got the flag instead (see below)


def test_deactivation_hands_open_flags_to_supervisors_and_the_team_chat_in_the_outbox(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    with engine.store.unit() as uow:
        uow.cases.set_team_chat("-100777")
    unsafe(world["client"])
    world["Maria"].read()
    raised = flag_row(db)

    result = ok("staff", "deactivate", "Maria")

    assert "1 open flag(s) handed to Sam (urgent ones also the team chat)" in result.stdout
    assert (
        "1 case(s) still name Maria as manager: cm-bot case reassign REF --manager OTHER"
        in result.stdout
    )
    assert not result.stderr
    with transaction(db) as session:
        notices = session.execute(
            select(Outbox).where(col(Outbox.flag_id) == raised.id, col(Outbox.edit_of).is_(None))
        ).scalars()
        pending = {(n.chat_id, n.status) for n in notices}
    assert {("1009", "pending"), ("-100777", "pending")} <= pending
    (told,) = world["Sam"].read()
    assert "Urgent flag — case C-0001" in told.text
    assert [b.label for b in world["Sam"].buttons] == ["Acknowledge", "Resolve", "Open case"]
    # Told now, so the timed escalation does not tell Sam again.
    assert engine.escalate(raised.created_at + timedelta(minutes=16)) == 0
    # The case still names Maria until it is reassigned.
    with transaction(db) as session:
        case = session.execute(select(Case)).scalars().one()
        maria = session.execute(select(Staff).where(col(Staff.name) == "Maria")).scalars().one()
    assert case.manager_id == maria.id and maria.active is False
    (handed,) = audit(db, "flag_handed_over")
    assert handed.detail == {"flag_id": raised.id, "from_staff_id": maria.id}


def test_deactivation_with_nobody_to_receive_the_flags_warns_and_flags_list_says_so(
    engine: ConversationEngine, db: Engine
) -> None:
    unsafe(maria_and_her_client(engine, db)["client"])

    result = ok("staff", "deactivate", "Maria")

    assert "handed to" not in result.stdout
    assert "warning: 1 open flag(s) reached nobody" in result.stderr
    (row,) = table(ok("flags", "list"))
    assert row["CASE"] == "C-0001" and row["ESCALATED"] == "reached nobody"


def test_an_unknown_name_or_the_last_admin_is_refused(db: Engine) -> None:
    result = cm_bot("staff", "deactivate", "Nobody")
    assert result.exit_code == 1 and "no staff member called 'Nobody'" in result.stderr
    ok("staff", "add", "--name", "Ada", "--role", "admin")
    result = cm_bot("staff", "deactivate", "Ada")
    assert result.exit_code == 1 and "last active admin" in result.stderr
    result = cm_bot("staff", "role", "Ada", "supervisor")
    assert result.exit_code == 1 and "last active admin" in result.stderr
    ok("staff", "add", "--name", "Bo", "--role", "admin")
    ok("staff", "deactivate", "Ada")
    assert cm_bot("staff", "deactivate", "Ada").exit_code == 1  # already


# -- staff invite, activate, role, list -----------------------------------------------------


def test_a_new_staff_invite_ends_the_old_binding(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    old = world["Maria"]
    first = token_of(ok("staff", "invite", "Maria"))
    second = token_of(ok("staff", "invite", "Maria"))
    new = telegram(engine, db, "1005")
    assert "expired" in new.say(f"/start {first}")[0].text
    assert "Welcome, Maria" in new.say(f"/start {second}")[0].text

    assert seen_text(new.say("/flags")) == "No open flags."
    replies = old.say("/flags")
    assert "No open flags" not in seen_text(replies)
    assert all("C-0001" not in m.text for m in replies)


def test_a_deactivated_member_gets_no_invite_until_activated(
    world: dict[str, Person], db: Engine
) -> None:
    ok("staff", "deactivate", "Maria")
    result = cm_bot("staff", "invite", "Maria")
    assert result.exit_code == 1
    assert "cm-bot staff activate Maria, then cm-bot staff invite Maria" in result.stderr

    ok("staff", "activate", "Maria")  # the bound account works again
    assert seen_text(world["Maria"].say("/flags")) == "No open flags."
    assert token_of(ok("staff", "invite", "Maria"))


def test_role_change_takes_effect_at_the_next_message(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    ok("staff", "add", "--name", "Omar")
    ok("case", "new", "--manager", "Omar")
    omar = telegram(engine, db, "1002")
    omar.say(f"/start {token_of(ok('staff', 'invite', 'Omar'))}")
    assert "Case C-0001 —" not in seen_text(omar.say("/case C-0001"))  # not on his caseload

    assert "Omar: case_manager -> supervisor" in ok("staff", "role", "Omar", "supervisor").stdout

    assert "Case C-0001 —" in seen_text(omar.say("/case C-0001"))
    assert cm_bot("staff", "role", "Omar", "boss").exit_code == 1
    (changed,) = audit(db, "staff_role_changed")
    assert changed.detail is not None
    assert (changed.detail["old_role"], changed.detail["new_role"]) == (
        "case_manager",
        "supervisor",
    )


def test_staff_list_shows_every_member_under_headings(world: dict[str, Person]) -> None:
    ok("staff", "add", "--name", "Omar")
    ok("staff", "deactivate", "Omar")
    rows = table(ok("staff", "list"))
    assert [r["NAME"] for r in rows] == ["Maria", "Sam", "Omar"]
    maria, sam, omar = rows
    assert maria == {
        "ID": maria["ID"],
        "NAME": "Maria",
        "ROLE": "case_manager",
        "TELEGRAM": "bound",
        "ACCESS": "active",
        "TIME ZONE": "UTC",
        "CASES": "1",
    }
    assert (sam["ROLE"], sam["CASES"]) == ("supervisor", "0")
    assert (omar["TELEGRAM"], omar["ACCESS"]) == ("—", "deactivated")


# -- cases ----------------------------------------------------------------------------------


def test_case_list_filters_by_manager_and_status_and_shows_no_personal_data(
    world: dict[str, Person],
) -> None:
    unsafe(world["client"])
    ok("staff", "add", "--name", "Omar")
    ok("case", "new", "--manager", "Omar")
    rows = table(ok("case", "list"))
    assert [(r["REF"], r["MANAGER"], r["LINKED"], r["OPEN FLAGS"]) for r in rows] == [
        ("C-0001", "Maria", "telegram", "1"),
        ("C-0002", "Omar", "—", "0"),
    ]
    assert rows[0]["STATUS"] == "active" and rows[1]["STATUS"] == "intake"
    assert len(rows[0]["OPENED"]) == len("2026-01-01")
    assert "2001" not in ok("case", "list").stdout  # no Telegram ids
    assert [r["REF"] for r in table(ok("case", "list", "--manager", "Omar"))] == ["C-0002"]
    assert [r["REF"] for r in table(ok("case", "list", "--status", "active"))] == ["C-0001"]
    assert cm_bot("case", "list", "--status", "open").exit_code == 1
    assert cm_bot("case", "list", "--manager", "Nobody").exit_code == 1


def test_reassign_moves_the_case_to_an_active_manager_audited_with_both(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    ok("staff", "add", "--name", "Omar")
    ok("staff", "add", "--name", "Lee")
    ok("staff", "deactivate", "Lee")
    omar = telegram(engine, db, "1002")
    omar.say(f"/start {token_of(ok('staff', 'invite', 'Omar'))}")
    unsafe(world["client"])

    result = cm_bot("case", "reassign", "C-0001", "--manager", "Lee")
    assert result.exit_code == 1 and "Lee is deactivated" in result.stderr
    assert cm_bot("case", "new", "--manager", "Lee").exit_code == 1  # nor a new case
    result = ok("case", "reassign", "c-0001", "--manager", "Omar")
    assert "C-0001: case manager Maria -> Omar" in result.stdout
    assert "1 open flag(s) on C-0001: Omar sees them with /flags" in result.stdout

    assert "C-0001" in seen_text(omar.say("/flags"))
    world["Maria"].read()
    assert "Case C-0001 —" not in seen_text(world["Maria"].say("/case C-0001"))
    with transaction(db) as session:
        ids = dict(session.execute(select(col(Staff.name), col(Staff.id))).all())
    (moved,) = audit(db, "case_reassigned")
    assert moved.detail == {"old_staff_id": ids["Maria"], "new_staff_id": ids["Omar"]}
    assert cm_bot("case", "reassign", "C-0009", "--manager", "Omar").exit_code == 1


def test_a_linked_client_needs_relink_which_moves_the_case_to_the_new_account(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    old = world["client"]
    old.tap("Good")  # an answer, which the new account keeps
    result = cm_bot("case", "invite", "C-0001")
    assert result.exit_code == 1
    assert "already linked" in result.stderr and "--relink" in result.stderr

    token = token_of(ok("case", "invite", "C-0001", "--relink"))

    replies = old.say("hello")  # a stranger now: at most the stranger's reply, once a while
    assert all("personal link" in m.text for m in replies)
    assert audit(db, "message_from_unknown_person")
    new = telegram(engine, db, "2009")
    new.say(f"/start {token}")
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "2001", lock=False) is None
        moved = uow.runs.client_for("telegram", "2009", lock=False)
    assert moved is not None and moved.case_id is not None
    with transaction(db) as session:
        kept = session.execute(select(Response).where(col(Response.key) == "intake.mood")).first()
    assert kept is not None
    assert [a.detail for a in audit(db, "client_invite_created")][-1] == {"relink": True}


def test_unlink_then_only_a_new_invite_binds(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    # A link made while the client was linked, left in an old chat.
    with engine.store.unit() as uow:
        stale = uow.cases.create_invite(
            "client", case_id=1, staff_id=None, expires_at=datetime.now(UTC) + timedelta(days=14)
        )
    result = ok("case", "unlink", "C-0001")
    assert "1 account(s) unlinked" in result.stdout and "no longer work" in result.stdout
    assert (row := table(ok("case", "list"))[0])["LINKED"] == "—", row

    stranger = telegram(engine, db, "2050")
    assert "expired" in seen_text(stranger.say(f"/start {stale}"))
    new = telegram(engine, db, "2051")
    new.say(f"/start {token_of(ok('case', 'invite', 'C-0001'))}")
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "2051", lock=False) is not None
        assert uow.runs.client_for("telegram", "2050", lock=False) is None
    (unlinked,) = audit(db, "client_unlinked")
    assert unlinked.case_id == 1 and unlinked.detail is not None
    assert unlinked.detail["accounts"] == 1
    ok("case", "unlink", "C-0001")  # the new account, in turn
    assert cm_bot("case", "unlink", "C-0001").exit_code == 1  # nothing linked now


def test_invites_are_refused_for_exited_and_erased_cases(db: Engine) -> None:
    add_staff(db, "Maria", "case_manager")
    new_case(db, "Maria")
    new_case(db, "Maria")
    ok("case", "exit", "C-0001")
    result = cm_bot("case", "invite", "C-0001")
    assert result.exit_code == 1 and "C-0001 is exited" in result.stderr
    ok("erase", "C-0002", "--yes")
    result = cm_bot("case", "invite", "C-0002", "--relink")
    assert result.exit_code == 1 and "C-0002 was erased" in result.stderr
    with transaction(db) as session:
        assert session.execute(select(Invite)).first() is None


# -- flags list -----------------------------------------------------------------------------


def test_flags_list_shows_who_acted_and_no_answer(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    unsafe(world["client"])
    maria = world["Maria"]
    maria.read()
    maria.tap("Acknowledge")
    (row,) = table(ok("flags", "list", "--open", "--case", "C-0001"))
    assert (row["CASE"], row["SEVERITY"], row["STATUS"]) == ("C-0001", "urgent", "acknowledged")
    assert row["ACKNOWLEDGED"].startswith("Maria ") and row["RESOLVED"] == "—"
    assert row["ESCALATED"] == "—" and row["REASON"] == "Client does not feel safe at home"
    flag = flag_row(db)
    assert flag.source_key and str(flag.source_value) not in ok("flags", "list").stdout.split()

    maria.tap("Resolve")
    assert table(ok("flags", "list"))[0]["RESOLVED"].startswith("Maria ")
    assert ok("flags", "list", "--open").stdout.strip() == "no flags"
    assert cm_bot("flags", "list", "--case", "C-0404").exit_code == 1


def test_an_escalation_that_reaches_nobody_is_on_record_and_listed(
    engine: ConversationEngine, db: Engine
) -> None:
    """Maria is told at once, but no supervisor exists when the flag is due to escalate."""
    unsafe(maria_and_her_client(engine, db)["client"])
    flag = flag_row(db)

    assert engine.escalate(flag.created_at + timedelta(minutes=16)) == 1

    (unreached,) = audit(db, "escalation_unreached")
    assert (unreached.actor, unreached.case_id, unreached.detail) == (
        "system",
        flag.case_id,
        {"flag_id": flag.id},
    )
    (row,) = table(ok("flags", "list"))
    assert row["ESCALATED"].endswith(" reached nobody")


# -- the audit ------------------------------------------------------------------------------


def test_every_command_is_audited_as_the_login_name(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    actor = cli_actor()
    assert actor.startswith("cli:") and actor != "cli:"
    unsafe(world["client"])
    for args in (
        ("staff", "list"),
        ("staff", "add", "--name", "Omar"),
        ("staff", "role", "Omar", "supervisor"),
        ("staff", "invite", "Omar"),
        ("staff", "deactivate", "Omar"),
        ("staff", "activate", "Omar"),
        ("case", "new", "--manager", "Maria"),
        ("case", "list"),
        ("case", "invite", "C-0002"),
        ("case", "reassign", "C-0002", "--manager", "Omar"),
        ("case", "invite", "C-0001", "--relink"),
        ("goal", "add", "C-0001", "--text", "Find a flat"),
        ("flags", "list"),
        ("schedule", "list"),
        ("export", "C-0001"),
        ("case", "unlink", "C-0002"),
        ("case", "exit", "C-0002"),
        ("erase", "C-0002", "--yes"),
    ):
        if args[:2] == ("case", "unlink"):
            telegram(engine, db, "2002").say(f"/start {token_of(ok('case', 'invite', 'C-0002'))}")
        ok(*args)
    with transaction(db) as session:
        rows = session.execute(
            select(col(AuditLog.actor), col(AuditLog.action)).where(
                col(AuditLog.actor).like("cli%")
            )
        ).all()
    by_cli = {action for who, action in rows if who == actor}
    assert {who for who, _action in rows} == {actor}  # none left as a bare "cli"
    assert {
        "staff_listed",
        "staff_added",
        "staff_role_changed",
        "staff_invite_created",
        "staff_deactivated",
        "staff_activated",
        "case_opened",
        "cases_listed",
        "client_invite_created",
        "case_reassigned",
        "client_unlinked",
        "goal_added",
        "flags_listed",
        "schedule_listed",
        "case_exported",
        "case_exited",
        "case_erased",
    } <= by_cli


def test_the_actor_without_a_login_name_is_cli_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def nobody() -> str:
        raise OSError("no login name")

    monkeypatch.setattr("getpass.getuser", nobody)
    assert cli_actor() == "cli:unknown"
