"""Follow-ups that compare with intake: same keys, new needs flagged, "Stop these messages".

Intake asks housing (AHC item 1, ``screening_ahc``), money (AHC item 11) and employment
status (``intake_basics``); the 30/90/180-day follow-up asks the same three questions under
the same keys. A need the client names, or housing or money positive now but not at
intake, raises one routine flag whether or not they ask for help; safety stays urgent and
stops the questions; "Stop these messages" cancels every follow-up left.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from cm_bot.domain import ContactStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import run_due
from cm_bot.storage import SqlStore
from tests.exit.support import followups
from tests.followups.support import (
    answer_followup,
    answers_of,
    audit_actions,
    do_intake,
    exit_now,
    flags_of,
    followup_due,
)
from tests.scheduling.support import BASE, clock_of, sent_to
from tests.support.people import texts

NEW_NEEDS = "exit_followup.new_needs"


def _new_need_flags(db: Engine, client_id: int) -> list[str]:
    return [f.reason for f in flags_of(db, client_id) if f.rule_id == NEW_NEEDS]


def test_followup_answers_are_stored_under_the_intake_keys(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db, housing="steady", money="Not hard at all", work="Working part-time")
    exit_now(who, db)
    assert "Do you have 2 minutes?" in followup_due(bot, who, 30)
    answer_followup(
        who, housing="worried", money="Somewhat hard", work="Not working and looking for work"
    )
    assert answers_of(db, who.client_id, "ahc.q1") == [
        ("screening_ahc", "steady"),
        ("exit_followup", "worried"),
    ]
    assert answers_of(db, who.client_id, "ahc.q11") == [
        ("intake_basics", "not_hard"),
        ("exit_followup", "somewhat_hard"),
    ]
    assert answers_of(db, who.client_id, "employment.status") == [
        ("intake_basics", "part_time"),
        ("exit_followup", "looking"),
    ]


def test_housing_worse_than_at_intake_raises_a_routine_flag_without_a_help_request(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db, housing="steady")
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = answer_followup(who, housing="worried", want_help="No")
    assert "Thank you for telling us how you are doing" in said
    (flag,) = [f for f in flags_of(db, who.client_id) if f.rule_id == NEW_NEEDS]
    assert flag.severity == Severity.ROUTINE
    assert flag.reason == "Follow-up after exit: new needs since intake: living situation"
    assert not [f for f in flags_of(db, who.client_id) if "help_requested" in f.rule_id]


def test_money_harder_than_at_intake_raises_a_routine_flag(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db, money="Not hard at all")
    exit_now(who, db)
    followup_due(bot, who, 90)
    answer_followup(who, money="Very hard")
    assert _new_need_flags(db, who.client_id) == [
        "Follow-up after exit: new needs since intake: financial strain"
    ]


def test_a_named_need_raises_a_routine_flag_even_without_asking_for_help(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    answer_followup(who, needs=("Food", "Work"), want_help="No")
    assert _new_need_flags(db, who.client_id) == [
        "Follow-up after exit: new needs since intake: food, employment"
    ]


def test_no_flag_for_housing_or_money_already_a_need_at_intake(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    # The rule: housing and money answers are compared with intake's; a need the case
    # already knew of from intake raises nothing new. Needs the client names always do.
    who = do_intake(bot, db, housing="worried", money="Very hard")
    exit_now(who, db)
    followup_due(bot, who, 30)
    answer_followup(who, housing="not_steady", money="Somewhat hard")
    assert _new_need_flags(db, who.client_id) == []


def test_nothing_new_no_flag(bot: ConversationEngine[SqlStore], db: Engine) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    answer_followup(who)
    assert flags_of(db, who.client_id) == []


def test_safety_stays_urgent_and_stops_the_questions(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = answer_followup(who, needs=("Food", "Safety: someone hurts or scares me"))
    assert "You deserve to be safe" in said
    assert "reconnecting with support" not in said
    found = flags_of(db, who.client_id)
    assert [(f.rule_id, f.severity) for f in found] == [
        ("exit_followup.safety_need", Severity.URGENT),
        (NEW_NEEDS, Severity.ROUTINE),
    ]
    assert found[1].reason.endswith("new needs since intake: food")  # safety: urgent only
    assert who.person.step() is None


def _stop_at(bot: ConversationEngine[SqlStore], db: Engine, days: int) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    if days > 30:
        followup_due(bot, who, 30)
        answer_followup(who)
    followup_due(bot, who, days)
    said = texts(who.person.tap("Stop these messages"))
    assert "We will not send you these messages again" in said
    assert "nothing for you to answer" not in said
    statuses = [row.status for row in followups(db, who.case_id)]
    assert statuses == [ContactStatus.ANSWERED] * (2 if days > 30 else 1) + [
        ContactStatus.CANCELLED
    ] * (1 if days > 30 else 2)
    assert "followups_stopped" in audit_actions(db, who.case_id)
    sent = sent_to(db, who.client_id)
    for later in (90, 180, 200, 400):  # the scheduler runs on past 180 days
        moment = BASE + timedelta(days=later, hours=23)
        clock_of(bot).set(moment)
        run_due(bot, moment)
    assert sent_to(db, who.client_id) == sent
    assert who.person.read() == []


def test_stop_these_messages_at_30_days_cancels_the_rest(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    _stop_at(bot, db, 30)


def test_stop_these_messages_at_90_days_cancels_the_rest(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    _stop_at(bot, db, 90)


def test_not_now_ends_this_one_and_keeps_the_next(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = texts(who.person.tap("Not now"))
    assert "take care" in said and "nothing for you to answer" not in said
    statuses = [row.status for row in followups(db, who.case_id)]
    assert statuses == [ContactStatus.ANSWERED, ContactStatus.PENDING, ContactStatus.PENDING]
    assert "Do you have 2 minutes?" in followup_due(bot, who, 90)
