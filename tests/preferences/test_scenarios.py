"""Safe-contact preferences end to end (issue 18).

Right after consent, before intake, the client is asked whether it is safe for us to
message them first, when, and for an optional safe word; ``/preferences`` asks again.
"No" turns every scheduled contact into a task for the case manager and starts no exit
conversation; the hours narrow the program's; the safe word clears the chat and flags.
"""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain import ContactStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.engine.preferences import is_safe_word
from cm_bot.scheduling import run_due
from cm_bot.scheduling.plan import ContactHours
from cm_bot.scheduling.policy import SchedulePolicy, client_zone, within
from cm_bot.scheduling.queries import upcoming
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, FlowRun
from tests.preferences.support import every_stored_text, prefs_of, set_prefs
from tests.rescreen.support import manager
from tests.scheduling.support import (
    BASE,
    add_contact,
    add_goal,
    consented_client,
    contacts,
    exit_case,
    flags,
    sent_to,
)
from tests.support.people import make_client, texts
from tests.support.records import audits, client_id_of

EVENING, MORNING = (time(17), time(20)), (time(9), time(12))


def test_a_new_consent_asks_the_preferences_before_intake_and_keeps_no_safe_word(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    person = make_client(bot, db)
    person.say("hello")
    for _ in range(3):
        person.tap("Yes")
    assert "Is it safe for us to message you first?" in texts(person.seen[-1:])
    assert person.step() == "contact_preferences.message_first"

    person.tap("No")
    person.tap("In the evening")
    said = texts(person.say("  Blue   Bird "))

    assert "Your choices are saved" in said and "How are you today?" in said
    assert person.step() == "intake.mood"  # intake comes after the preferences
    client_id = client_id_of(db, person.user_id)
    assert client_id is not None
    first, start, end, hashed = prefs_of(db, client_id)
    assert first is False and (start, end) == EVENING
    assert hashed is not None and is_safe_word("BLUE bird", hashed)
    assert "blue" not in every_stored_text(db)  # only the salted hash is kept
    (audit,) = audits(db, "contact_preferences_set")
    assert audit.detail == {"message_first": False, "hours": "evening", "safe_word": "set"}


def test_a_client_who_consented_before_is_not_made_to_answer_them(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    said = texts(who.person.say("hello"))
    assert "How are you today?" in said and "message you first" not in said
    assert prefs_of(db, who.client_id) == (None, None, None, None)


def test_preferences_asks_again_and_new_hours_replace_the_old_ones(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    assert "Is it safe for us" in texts(who.person.say("/preferences"))
    who.person.tap("Yes")
    who.person.tap("In the morning")
    who.person.tap("Skip this question")
    assert prefs_of(db, who.client_id) == (True, *MORNING, None)

    who.person.tap("Good")  # intake began; /preferences waits for the end of a questionnaire
    assert "Let's finish these questions first" in texts(who.person.say("/preferences"))
    assert who.person.step() == "intake.worry"

    with transaction(db) as session:  # intake over
        for run in session.execute(select(FlowRun)).scalars():
            run.status = "completed"
    who.person.say("/preferences")
    who.person.tap("Yes")
    who.person.tap("In the evening")
    who.person.tap("Skip this question")

    assert prefs_of(db, who.client_id) == (True, *EVENING, None)  # evening, not empty
    assert len(audits(db, "contact_preferences_set")) == 2


def test_asked_again_a_client_keeps_or_replaces_or_drops_the_safe_word(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    person = who.person
    person.say("hello")  # intake starts; mark it done so /preferences may ask

    _intake_done(db)
    person.say("/preferences")
    person.tap("Yes")
    person.tap("Any time")
    assert "already have a safe word" not in texts(person.seen[-1:])  # none yet: not asked
    person.tap("Skip this question")
    _intake_done(db)
    person.say("/preferences")
    person.tap("Yes")
    person.tap("Any time")
    person.say("Blue Bird")
    first = prefs_of(db, who.client_id)[3]
    assert first is not None

    _intake_done(db)
    person.say("/preferences")
    person.tap("Yes")
    assert "You already have a safe word. Do you want to keep it?" in texts(person.tap("Any time"))
    assert "Your choices are saved" in texts(person.tap("Yes"))  # kept: not asked for a new one
    assert prefs_of(db, who.client_id)[3] == first

    _intake_done(db)
    person.say("/preferences")
    person.tap("Yes")
    person.tap("Any time")
    assert "You can choose a safe word" in texts(person.tap("No"))
    person.say("Green Hill")
    hashed = prefs_of(db, who.client_id)[3]
    assert hashed is not None and is_safe_word("green hill", hashed)
    assert not is_safe_word("blue bird", hashed)

    _intake_done(db)
    person.say("/preferences")
    person.tap("Yes")
    person.tap("Any time")
    person.tap("No")
    person.tap("Skip this question")  # no safe word any more
    assert prefs_of(db, who.client_id)[3] is None


def _intake_done(db: Engine) -> None:
    """Every run finished: ``/preferences`` waits for the end of a questionnaire."""
    with transaction(db) as session:
        for run in session.execute(select(FlowRun)).scalars():
            run.status = "completed"


def test_hours_narrow_the_programs_and_never_widen_them(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    with transaction(db) as session:
        client = session.get(Client, who.client_id)
        assert client is not None
        program = SchedulePolicy(contact_hours=ContactHours(time(9), time(18)))
        assert client_zone(client, program)[1] == ContactHours(time(9), time(18))  # any time
        client.contact_start, client.contact_end = EVENING
        assert client_zone(client, program)[1] == ContactHours(time(17), time(18))
        client.contact_start, client.contact_end = MORNING
        assert client_zone(client, program)[1] == ContactHours(*MORNING)
    # A part of the day the program does not work at all: the program's hours, not wider.
    assert within(ContactHours(*EVENING), ContactHours(time(9), time(16))) == ContactHours(
        time(9), time(16)
    )


def test_not_safe_to_message_first_turns_the_due_checkin_into_a_staff_task_once(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    set_prefs(db, who.client_id, message_first=False)
    goal = add_goal(db, who.case_id, BASE - timedelta(days=7))
    contact = add_contact(db, who, BASE, kind="checkin", flow_id="goal_checkin", goal_id=goal)
    with transaction(db) as session:
        (before,) = upcoming(session, who.ref)
    assert before.next_action == "becomes a staff task (not safe to message)"

    run_due(bot, BASE + timedelta(minutes=1))
    run_due(bot, BASE + timedelta(minutes=30))  # a second pass: no second task

    row = next(c for c in contacts(db, who.case_id) if c.id == contact)
    assert row.status == ContactStatus.STAFF_TASK
    (task,) = flags(db, "staff_task")
    assert task.severity == Severity.ROUTINE
    assert task.reason.endswith("call or see them for their goal check-in")
    assert sent_to(db, who.client_id) == 0  # nothing to the client
    assert "call or see them for their goal check-in" in texts(manager(bot, db).say("/flags"))
    with transaction(db) as session:
        listed = {r.contact_id: r for r in upcoming(session, who.ref)}
    assert listed[contact].next_action == "staff task: call or see the client"
    planned = [c for c in contacts(db, who.case_id) if c.id != contact]
    assert [c.status for c in planned] == [ContactStatus.PENDING]  # the goal's next one
    assert planned[0].due_at > BASE + timedelta(days=5)


def test_the_30_day_followup_becomes_a_task_that_names_it(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    set_prefs(db, who.client_id, message_first=False)
    exited = BASE - timedelta(days=30)
    exit_case(db, who, exited.date(), exited)

    run_due(bot, BASE + timedelta(hours=1))

    (task,) = flags(db, "staff_task")
    assert task.reason.endswith("call or see them for the follow-up at 30 days")
    assert sent_to(db, who.client_id) == 0


def test_exit_starts_no_exit_conversation_for_a_client_not_safe_to_message_first(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    set_prefs(db, who.client_id, message_first=False)

    reply = texts(manager(bot, db).say(f"/exit {who.ref}"))

    assert f"Case {who.ref} exited" in reply
    assert who.person.read() == []
    with transaction(db) as session:
        runs = session.execute(
            select(FlowRun).where(col(FlowRun.flow_id) == "exit_conversation")
        ).all()
    assert runs == []
    (task,) = flags(db, "staff_task")
    assert task.reason.endswith("call or see them for the exit conversation")


def test_withdrawal_forgets_the_preferences(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = consented_client(bot, db)
    who.person.say("/preferences")
    who.person.tap("No")
    who.person.tap("In the morning")
    who.person.say("kettle")
    assert prefs_of(db, who.client_id)[0] is False

    who.person.say("/withdraw")
    who.person.tap("Yes, withdraw")

    assert prefs_of(db, who.client_id) == (None, None, None, None)


def test_mydata_and_case_show_the_preferences_but_never_the_word(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    who.person.say("/preferences")
    who.person.tap("No")
    who.person.tap("In the evening")
    who.person.say("kettle")

    mine = texts(who.person.say("/mydata"))
    staff = texts(manager(bot, db).say(f"/case {who.ref}"))

    for said in (mine, staff):
        assert "Safe to message first: No" in said
        assert "Preferred contact hours: In the evening" in said
        assert "Safe word: set" in said
        assert "kettle" not in said


def test_the_end_of_a_pause_is_not_announced_to_a_client_not_safe_to_message_first(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    set_prefs(db, who.client_id, message_first=False)
    maria = manager(bot, db)
    who.person.say("I want to kill myself")  # an urgent flag pauses the client
    maria.read()

    maria.tap("Resolve")

    assert who.person.read() == []  # their next message carries on, unannounced
