"""The exit conversation end to end: /exit starts it, the client's answers act.

A case manager's ``/exit`` (or ``cm-bot case exit``, or the console form) exits the case,
plans the 30/90/180-day follow-ups and starts the exit conversation in one transaction:
the goals met named, how helpful the program was, what helped, whether the follow-ups are
welcome and when, and how to come back. "No" cancels the follow-ups; a time of day
narrows the contact hours; no answer keeps them. Not started while paused or without
consent.
"""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import col

from cm_bot.domain import ContactStatus, GoalStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.scheduling import run_due
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ConsentRecord, Flag
from tests.exit.support import add_goal, followups, hours_of, make_engine
from tests.rescreen.support import manager
from tests.scheduling.support import BASE, Who, clock_of, consented_client
from tests.support.people import texts
from tests.support.records import audits


def test_exit_starts_the_conversation_and_names_the_goals_met(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    add_goal(db, who.case_id, "Find a part-time job", GoalStatus.MET)
    add_goal(db, who.case_id, "Open a bank account", GoalStatus.ACTIVE)
    maria = manager(bot, db)

    reply = texts(maria.say(f"/exit {who.ref}"))

    assert f"Case {who.ref} exited" in reply
    said = texts(who.person.read())
    assert said.startswith("Hi! Do you have a few minutes?")
    assert "Find a part-time job" in said and "Open a bank account" not in said
    assert "How helpful was the program" in said
    assert len(followups(db, who.case_id)) == 3  # planned in the same transaction


def test_no_goals_met_no_goals_line(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    manager(bot, db).say(f"/exit {who.ref}")
    said = texts(who.person.read())
    assert "goals you reached" not in said and "How helpful" in said


def _to_followup_question(bot: ConversationEngine[SqlStore], db: Engine) -> Who:
    who = consented_client(bot, db)
    manager(bot, db).say(f"/exit {who.ref}")
    who.person.read()
    who.person.tap("4")
    said = texts(who.person.say("Having someone to call helped most."))
    assert "1, 3 and 6 months" in said
    return who


def test_yes_keeps_the_followups(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = _to_followup_question(bot, db)
    said = texts(who.person.tap("Yes, any time"))
    assert "welcome back" in said and "555-0100" in said
    rows = followups(db, who.case_id)
    assert [r.status for r in rows] == [ContactStatus.PENDING] * 3
    assert hours_of(db, who.client_id) == (None, None)


def test_no_cancels_the_followups(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = _to_followup_question(bot, db)
    who.person.tap("No, thank you")
    rows = followups(db, who.case_id)
    assert [r.status for r in rows] == [ContactStatus.CANCELLED] * 3
    assert audits(db, "followups_declined")


def test_evening_narrows_the_contact_hours(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = _to_followup_question(bot, db)
    who.person.tap("Yes, in the evening")
    assert hours_of(db, who.client_id) == (time(17), time(20))
    rows = followups(db, who.case_id)
    assert [r.status for r in rows] == [ContactStatus.PENDING] * 3


def test_hours_never_widen(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db, hours=(time(10), time(18)))
    manager(bot, db).say(f"/exit {who.ref}")
    who.person.read()
    who.person.tap("4")
    who.person.say("ok")
    who.person.tap("Yes, in the evening")
    assert hours_of(db, who.client_id) == (time(17), time(18))


def test_no_answer_keeps_the_followups_and_they_fire_on_time(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    manager(bot, db).say(f"/exit {who.ref}")
    who.person.read()
    rows = followups(db, who.case_id)
    assert [r.status for r in rows] == [ContactStatus.PENDING] * 3
    first = rows[0].due_at
    assert first >= BASE + timedelta(days=29)
    moment = first + timedelta(minutes=1)
    clock_of(bot).set(moment)
    run_due(bot, moment)
    assert "Do you have 2 minutes?" in texts(who.person.read())


def test_not_started_while_paused(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
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
    reply = texts(manager(bot, db).say(f"/exit {who.ref}"))
    assert "exited" in reply
    assert "a few minutes" not in texts(who.person.read())
    assert len(followups(db, who.case_id)) == 3


def test_not_started_without_consent(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    with transaction(db) as session:
        session.execute(delete(ConsentRecord).where(col(ConsentRecord.client_id) == who.client_id))
    manager(bot, db).say(f"/exit {who.ref}")
    assert "a few minutes" not in texts(who.person.read())
    assert len(followups(db, who.case_id)) == 3


def test_goodbye_is_the_last_word_even_with_intake_unfinished(
    db: Engine, translator: Translator
) -> None:
    bot = make_engine(db, translator, intake=("screening_phq",))
    who = consented_client(bot, db)  # consented, but never did the PHQ-9
    manager(bot, db).say(f"/exit {who.ref}")
    who.person.read()
    who.person.tap("4")
    who.person.say("ok")
    said = texts(who.person.tap("Yes, any time"))
    assert "welcome back" in said
    assert "little interest" not in said.lower() and "2 weeks" not in said
    assert who.person.read() == []
