"""Staff update a referral with /referral ID STATUS [reason] and see referrals in /case.

Every change is a referral event and an audit row; a referral of another caseload is
refused like an unknown one (and the attempt audited); a wrong word gets the list of
valid ones.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.domain import ReferralStatus
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.admin import add_staff
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.referrals.support import events, referrals, screened_positive
from tests.scheduling.support import MANAGER_CHAT, Who
from tests.support.people import Person, texts
from tests.support.records import audits

Tables = dict[str, list[dict[str, Any]]]
OTHER_CHAT = "9002"


@pytest.fixture
def referred(bot: ConversationEngine[SqlStore], db: Engine, directory: Tables) -> Who:
    who = screened_positive(bot, db)
    who.person.tap("Please refer me")
    return who


def _maria(bot: ConversationEngine[SqlStore], db: Engine) -> Person:
    maria = Person(bot, db, MANAGER_CHAT, channel="telegram")
    maria.read()  # the flag notices so far
    return maria


def test_the_case_manager_moves_a_referral_on_and_every_change_is_kept_and_audited(
    bot: ConversationEngine[SqlStore], db: Engine, referred: Who
) -> None:
    maria = _maria(bot, db)
    (referral,) = referrals(db)

    accepted = texts(maria.say(f"/referral {referral.id} accepted"))
    done = texts(maria.say(f"/referral {referral.id} completed got_help"))

    assert f"Referral #{referral.id}" in accepted and "requested → accepted" in accepted
    assert "accepted → completed (got_help)" in done
    assert referrals(db)[0].status == ReferralStatus.COMPLETED
    staff_actor = events(db, referral.id or 0)[-1][2]
    assert staff_actor.startswith("staff:")
    assert events(db, referral.id or 0) == [
        ("requested", None, "client"),
        ("accepted", None, staff_actor),
        ("completed", "got_help", staff_actor),
    ]
    rows = audits(db, "referral_status")
    assert [(r.detail or {}).get("status") for r in rows] == ["accepted", "completed"]
    assert all(r.case_id == referred.case_id for r in rows)
    summary = texts(maria.say(f"/case {referred.ref}"))
    assert "Referrals:" in summary and f"#{referral.id} hunger — " in summary
    assert "completed (got help)" in summary


def test_a_wrong_status_or_reason_gets_the_valid_words(
    bot: ConversationEngine[SqlStore], db: Engine, referred: Who
) -> None:
    maria = _maria(bot, db)
    (referral,) = referrals(db)

    for wrong in (f"/referral {referral.id} done", f"/referral {referral.id} failed bored"):
        reply = texts(maria.say(wrong))
        assert "Statuses: requested, accepted, rejected, in_progress, completed" in reply
        assert "Reasons: got_help, could_not_contact, not_eligible" in reply
    assert referrals(db)[0].status == ReferralStatus.REQUESTED


def test_a_referral_of_another_caseload_is_refused_and_the_attempt_audited(
    bot: ConversationEngine[SqlStore], db: Engine, referred: Who
) -> None:
    olga_staff = add_staff(db, "Olga", "case_manager")
    with transaction(db) as session:
        session.execute(
            update(Staff).where(col(Staff.id) == olga_staff.id).values(telegram_user_id=OTHER_CHAT)
        )
    olga = Person(bot, db, OTHER_CHAT, channel="telegram")
    (referral,) = referrals(db)

    reply = texts(olga.say(f"/referral {referral.id} cancelled"))

    assert f"No referral {referral.id} in your caseload." in reply
    assert referrals(db)[0].status == ReferralStatus.REQUESTED
    (refused,) = [
        a for a in audits(db, "access_refused") if (a.detail or {}).get("command") == "referral"
    ]
    assert refused.case_id == referred.case_id and refused.actor == f"staff:{olga_staff.id}"


def test_the_staff_help_names_the_command(
    bot: ConversationEngine[SqlStore], db: Engine, referred: Who
) -> None:
    assert "/referral ID STATUS [reason]" in texts(_maria(bot, db).say("/help"))
