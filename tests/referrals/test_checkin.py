"""The loop closes: 14 days after a referral the client is asked whether they got help.

"Yes, I got help" completes the referral; "Still waiting" asks once more 14 days later;
"I couldn't get help" asks why, fails the referral with that reason, tells the case
manager and offers the next matching service. Nobody answering gets one reminder and then
the contact ends unanswered; a client paused by an urgent flag is not asked until the pause
ends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cm_bot.domain import ContactStatus, ReferralStatus
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from tests.referrals.support import (
    days_later,
    events,
    flags_of,
    food_services,
    referral_contacts,
    referrals,
    screened_positive,
)
from tests.scheduling.support import Who
from tests.support.people import texts

Tables = dict[str, list[dict[str, Any]]]


def _referred(bot: ConversationEngine[SqlStore], db: Engine, choice: str) -> Who:
    who = screened_positive(bot, db)
    who.person.tap(choice)
    who.person.read()
    return who


def test_fourteen_days_later_the_client_is_asked_and_yes_completes_the_referral(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "Please refer me")
    service = food_services(directory, "en")[0]

    days_later(bot, 13)
    assert who.person.read() == []  # not yet
    days_later(bot, 1)
    asked = who.person.read()

    assert f"Did you get help from {service}?" in texts(asked)
    assert [b.label for b in who.person.buttons] == [
        "Yes, I got help",
        "Still waiting",
        "I couldn't get help",
    ]
    said = texts(who.person.tap("Yes, I got help"))
    assert "I'm glad to hear that." in said
    (referral,) = referrals(db)
    assert (referral.status, referral.reason) == (ReferralStatus.COMPLETED, "got_help")
    assert events(db, referral.id or 0) == [
        ("requested", None, "client"),
        ("completed", "got_help", "client"),
    ]
    (contact,) = referral_contacts(db)
    assert contact.status == ContactStatus.ANSWERED


def test_still_waiting_asks_once_more_fourteen_days_later_and_then_tells_the_case_manager(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "I'll contact them myself")
    days_later(bot, 14)
    who.person.read()

    said = texts(who.person.tap("Still waiting"))

    assert "I will ask you again in 14 days." in said
    assert [c.dedupe_key for c in referral_contacts(db)][-1].endswith(":2")
    days_later(bot, 14)
    assert "Did you get help from" in texts(who.person.read())
    said = texts(who.person.tap("Still waiting"))
    assert "I have let your case manager know you are still waiting" in said
    assert len(referral_contacts(db)) == 2  # once more only
    assert len(flags_of(db, "referral_still_waiting")) == 1
    assert referrals(db)[0].status == ReferralStatus.SELF_REFERRED


def test_could_not_get_help_asks_why_fails_the_referral_flags_it_and_offers_the_next_service(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "Please refer me")
    first, second = food_services(directory, "en")[:2]
    days_later(bot, 14)
    who.person.read()

    asked = texts(who.person.tap("I couldn't get help"))
    assert "What got in the way?" in asked
    assert "I couldn't reach them" in [b.label for b in who.person.buttons]
    said = texts(who.person.tap("I couldn't reach them"))

    failed = referrals(db)[0]
    assert (failed.status, failed.reason) == (ReferralStatus.FAILED, "could_not_contact")
    (flag,) = flags_of(db, "referral_failed")
    assert flag.severity == "routine"
    assert flag.reason == f"Referral failed: food — {first} (could not make contact)"
    assert "I have let your case manager know." in said
    assert second in said and first not in said.split("another service")[1]
    who.person.tap("Please refer me")
    assert [(r.service_name, r.status) for r in referrals(db)] == [
        (first, ReferralStatus.FAILED),
        (second, ReferralStatus.REQUESTED),
    ]


def test_no_answer_gets_one_reminder_and_then_the_contact_ends_unanswered(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "Please refer me")
    days_later(bot, 14)
    assert "Did you get help from" in texts(who.person.read())

    days_later(bot, 3)
    assert "Did you get help from" in texts(who.person.read())  # the one reminder
    days_later(bot, 3)

    (contact,) = referral_contacts(db)
    assert contact.status == ContactStatus.NO_RESPONSE
    assert who.person.read() == []
    assert referrals(db)[0].status == ReferralStatus.REQUESTED


def test_a_client_paused_by_an_urgent_flag_is_not_asked_until_the_pause_ends(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "Please refer me")
    who.person.say("I want to kill myself")  # words of crisis: an urgent flag, the bot pauses
    who.person.read()

    days_later(bot, 14)

    assert "Did you get help from" not in texts(who.person.read())
    (contact,) = referral_contacts(db)
    assert contact.status == ContactStatus.PENDING  # deferred, not lost


def test_a_referral_staff_closed_meanwhile_is_not_asked_about(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = _referred(bot, db, "Please refer me")
    (referral,) = referrals(db)
    with bot.store.unit() as uow:
        uow.referrals.set_status(referral.id or 0, "completed", "got_help", actor="staff:1")

    days_later(bot, 14)

    assert who.person.read() == []
    (contact,) = referral_contacts(db)
    assert (contact.status, contact.outcome) == (ContactStatus.CANCELLED, "referral_ended")
