"""Re-screens end to end: /rescreen plans them, the dispatcher asks them, the trend is read.

A case manager sets ``/rescreen C-0001 phq9 4w``; four weeks later (not before, inside
contact hours, not while the client is paused) the client is asked the PHQ-9; the
answers are scored into the intake's series; at 8 weeks or more without a response a
``high`` flag reaches the case manager, once; item 9 above 0 on a re-screen raises the
urgent flag and the crisis reply; ``off`` stops it; another caseload is refused.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from cm_bot.domain import ContactStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import run_due
from cm_bot.storage import SqlStore
from cm_bot.storage.data_rights import export_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, Flag
from tests.rescreen.support import (
    answer_phq9,
    baseline,
    manager,
    plans,
    rescreens,
    scores,
)
from tests.scheduling.support import (
    BASE,
    clock_of,
    consented_client,
    flags,
    sent_to,
    staff_notices,
)
from tests.support.people import texts
from tests.support.records import audits

WEEK = timedelta(weeks=1)
NEW_YORK = ZoneInfo("America/New_York")


def _at(bot: ConversationEngine[SqlStore], moment: datetime) -> None:
    clock_of(bot).set(moment)


def test_asked_four_weeks_later_scored_and_marked(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    baseline(db, who, "phq9", 16, BASE - timedelta(days=1))
    maria = manager(bot, db)

    reply = texts(maria.say(f"/rescreen {who.ref} phq9 4w"))

    assert "every 4w (28 days)" in reply
    [contact] = rescreens(db, who.case_id)
    assert contact.flow_id == "rescreen_phq9" and contact.status == ContactStatus.PENDING
    assert BASE + 4 * WEEK <= contact.due_at <= BASE + 4 * WEEK + timedelta(minutes=15)
    assert [a.actor for a in audits(db, "rescreen_set")] == [f"staff:{_staff_id(db)}"]

    # Not before four weeks.
    before = BASE + 4 * WEEK - timedelta(hours=1)
    _at(bot, before)
    run_due(bot, before)
    assert sent_to(db, who.client_id) == 0

    due = BASE + 4 * WEEK + timedelta(minutes=20)
    _at(bot, due)
    run_due(bot, due)
    asked = texts(who.person.read())
    assert "how you have been feeling" in asked
    assert "Little interest or pleasure in doing things" in asked

    answer_phq9(who.person, (1, 1, 1, 1, 1, 1, 1, 1, 0))  # 8: a drop of 50 % from 16
    assert scores(db, who.case_id) == [16, 8]
    run_due(bot, due + timedelta(minutes=5))  # settles it, plans the next
    first, second = rescreens(db, who.case_id)
    assert first.status == ContactStatus.ANSWERED and first.closed_at is not None
    assert second.status == ContactStatus.PENDING
    assert second.due_at >= due + 4 * WEEK - timedelta(minutes=1)

    summary = texts(maria.say(f"/case {who.ref}"))
    assert "PHQ-9 over time: 16 (" in summary and "8 (" in summary
    assert "response" in summary
    assert "Re-screen: PHQ-9 every 28 days" in summary

    exported = export_case(db, who.ref, "test", now=due)
    [plan] = exported["rescreen_plans"]
    assert plan["instrument"] == "phq9" and plan["every_days"] == 28 and plan["active"]
    [series] = exported["score_series"]
    assert [(p["value"], p["marks"]) for p in series["points"]] == [(16, []), (8, ["response"])]


def test_outside_contact_hours_it_waits_for_the_morning(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db, tz="America/New_York", hours=(time(9), time(18)))
    baseline(db, who, "phq9", 16, BASE - timedelta(days=1))
    evening = BASE + timedelta(hours=11, minutes=30)  # 23:30 UTC = 18:30 in New York
    _at(bot, evening)
    manager(bot, db).say(f"/rescreen {who.ref} phq9 2w")

    [contact] = rescreens(db, who.case_id)
    local = contact.due_at.astimezone(NEW_YORK)
    assert local.date() == (evening + 2 * WEEK).astimezone(NEW_YORK).date() + timedelta(days=1)
    assert time(9) <= local.time() < time(9, 15)  # the next morning, spread a little

    late = evening + 2 * WEEK + timedelta(minutes=30)  # 19:00 New York: outside the hours
    _at(bot, late)
    run_due(bot, late)
    assert sent_to(db, who.client_id) == 0
    morning = contact.due_at + timedelta(minutes=1)
    _at(bot, morning)
    run_due(bot, morning)
    assert sent_to(db, who.client_id) > 0
    [row] = rescreens(db, who.case_id)
    assert row.sent_at is not None
    assert time(9) <= row.sent_at.astimezone(NEW_YORK).time() < time(18)


def test_not_while_paused_by_an_urgent_flag(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    baseline(db, who, "phq9", 16, BASE - timedelta(days=1))
    manager(bot, db).say(f"/rescreen {who.ref} phq9 4w")
    with transaction(db) as session:
        session.add(
            Flag(
                client_id=who.client_id,
                case_id=who.case_id,
                severity=Severity.URGENT,
                reason="test",
                rule_id="test",
                dedupe_key="pause",
            )
        )

    due = BASE + 4 * WEEK + timedelta(minutes=20)
    _at(bot, due)
    run_due(bot, due)

    assert sent_to(db, who.client_id) == 0
    [contact] = rescreens(db, who.case_id)
    assert contact.status == ContactStatus.PENDING and contact.due_at > due


def test_not_improving_at_eight_weeks_flags_the_case_manager_once(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    baseline(db, who, "phq9", 16, BASE)
    maria = manager(bot, db)
    maria.say(f"/rescreen {who.ref} phq9 4w")

    moment = BASE
    for _round in range(3):  # at 4, 8 and 12 weeks
        [pending] = [c for c in rescreens(db, who.case_id) if c.status == ContactStatus.PENDING]
        moment = pending.due_at + timedelta(minutes=5)
        _at(bot, moment)
        run_due(bot, moment)
        who.person.read()
        answer_phq9(who.person, (2, 1, 1, 1, 1, 1, 1, 1, 0))  # 9: no response from 16
        run_due(bot, moment + timedelta(minutes=5))
        if _round == 0:
            assert flags(db, "phq9_not_improving") == []  # 4 weeks: too early to say

    assert scores(db, who.case_id) == [16, 9, 9, 9]
    [flag] = flags(db, "phq9_not_improving")
    assert flag.severity == Severity.HIGH and flag.case_id == who.case_id
    assert flag.dedupe_key == f"notimproving:{who.case_id}:phq9"
    notices = texts(maria.read())
    assert "Not improving on the PHQ-9" in notices
    summary = texts(maria.say(f"/case {who.ref}"))
    assert "not improving" in summary


def test_item_9_on_a_rescreen_raises_the_urgent_flag_and_the_crisis_reply(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    baseline(db, who, "phq9", 16, BASE)
    manager(bot, db).say(f"/rescreen {who.ref} phq9 4w")
    due = BASE + 4 * WEEK + timedelta(minutes=20)
    _at(bot, due)
    run_due(bot, due)
    who.person.read()

    for _item in range(8):
        who.person.tap("Not at all")
    reply = texts(who.person.tap("Several days"))  # item 9

    assert "You matter" in reply and "We will stop the questions here for now." in reply
    [flag] = flags(db, "rescreen_phq9.phq9_item9")  # the intake rule, in the re-screen flow
    assert flag.severity == Severity.URGENT and flag.case_id == who.case_id
    assert any("PHQ-9 item 9" in n.text for n in staff_notices(db))
    assert who.person.step() is None  # the questions stopped
    # All nine items were answered (item 10 is optional and unscored): scored, as at intake.
    assert scores(db, who.case_id) == [16, 1]


def test_off_stops_it(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    maria = manager(bot, db)
    maria.say(f"/rescreen {who.ref} phq9 4w")

    reply = texts(maria.say(f"/rescreen {who.ref} phq9 off"))

    assert "is stopped" in reply
    [contact] = rescreens(db, who.case_id)
    assert contact.status == ContactStatus.CANCELLED
    assert contact.outcome == "rescreen_changed"
    [plan] = plans(db)
    assert plan.stopped_at is not None
    due = BASE + 4 * WEEK + timedelta(minutes=20)
    _at(bot, due)
    run_due(bot, due)
    assert sent_to(db, who.client_id) == 0
    assert "No PHQ-9 re-screen runs" in texts(maria.say(f"/rescreen {who.ref} phq9 off"))
    assert [a.action for a in audits(db, "rescreen_stopped")] == ["rescreen_stopped"]


def test_a_new_interval_replaces_the_old_one(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    maria = manager(bot, db)
    maria.say(f"/rescreen {who.ref} phq9 4w")
    maria.say(f"/rescreen {who.ref} phq9 2w")

    old, new = rescreens(db, who.case_id)
    assert old.status == ContactStatus.CANCELLED and new.status == ContactStatus.PENDING
    assert new.due_at < BASE + 2 * WEEK + timedelta(minutes=16)
    [plan] = plans(db)
    assert (plan.every_days, plan.revision) == (14, 2)


def test_an_exited_case_gets_no_more_rescreens(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    maria = manager(bot, db)
    maria.say(f"/rescreen {who.ref} gad7 30d")
    maria.say(f"/exit {who.ref}")
    due = BASE + timedelta(days=30, minutes=20)
    _at(bot, due)
    run_due(bot, due)

    [contact] = rescreens(db, who.case_id)
    assert contact.flow_id == "rescreen_gad7"
    assert (contact.status, contact.outcome) == (ContactStatus.CANCELLED, "case_exited")
    assert "has ended" in texts(maria.say(f"/rescreen {who.ref} gad7 4w"))


def test_usage_and_another_caseload(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    maria = manager(bot, db)
    for wrong in ("", who.ref, f"{who.ref} phq9", f"{who.ref} phq2 4w", f"{who.ref} phq9 4x"):
        assert "/rescreen C-0001 phq9 4w" in texts(maria.say(f"/rescreen {wrong}".strip()))
    for too_often in ("3d", "27w"):
        assert "from 1w to 26w" in texts(maria.say(f"/rescreen {who.ref} phq9 {too_often}"))

    from sqlalchemy import update
    from sqlmodel import col

    from cm_bot.storage.admin import add_staff
    from cm_bot.storage.models import Staff
    from tests.support.people import Person

    olga_staff = add_staff(db, "Olga", "case_manager")
    with transaction(db) as session:
        session.execute(
            update(Staff).where(col(Staff.id) == olga_staff.id).values(telegram_user_id="9002")
        )
    olga = Person(bot, db, "9002", channel="telegram")
    refused = texts(olga.say(f"/rescreen {who.ref} phq9 4w"))

    assert f"No case {who.ref} in your caseload" in refused
    assert plans(db) == [] and rescreens(db, who.case_id) == []
    [audit] = audits(db, "access_refused")
    assert audit.case_id == who.case_id and (audit.detail or {}).get("command") == "rescreen"
    with transaction(db) as session:
        case = session.get(Case, who.case_id)
        assert case is not None and case.status == "intake"


def _staff_id(db: Engine) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from cm_bot.storage.models import Staff
    from tests.scheduling.support import MANAGER

    with transaction(db) as session:
        staff_id = session.execute(
            select(col(Staff.id)).where(col(Staff.name) == MANAGER)
        ).scalar_one()
        return int(staff_id)


def test_unanswered_it_is_reminded_once_then_no_response_and_the_next_is_planned(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    manager(bot, db).say(f"/rescreen {who.ref} phq9 4w")
    due = BASE + 4 * WEEK + timedelta(minutes=20)
    for moment in (due, due + timedelta(days=3, minutes=5), due + timedelta(days=6, minutes=10)):
        _at(bot, moment)
        run_due(bot, moment)

    first, second = rescreens(db, who.case_id)
    assert (first.status, first.attempts) == (ContactStatus.NO_RESPONSE, 2)
    assert second.status == ContactStatus.PENDING
    assert second.due_at >= due + 4 * WEEK - timedelta(minutes=1)
    assert sent_to(db, who.client_id) >= 2  # the questions, then the reminder


def test_consent_withdrawn_stops_it(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    manager(bot, db).say(f"/rescreen {who.ref} phq9 4w")
    who.person.say("/withdraw")
    who.person.tap("Yes, withdraw")
    due = BASE + 4 * WEEK + timedelta(minutes=20)
    _at(bot, due)
    run_due(bot, due)

    [contact] = rescreens(db, who.case_id)
    assert contact.status == ContactStatus.CANCELLED
    assert sent_to(db, who.client_id) == len(who.person.seen)  # nothing after the withdrawal
