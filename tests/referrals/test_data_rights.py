"""Data rights: the export holds the client's offers and referrals with their history; erasure
leaves only the tombstone (ids, dates, statuses), nothing about the need or the service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.data_rights import erase_case, export_case, to_csv
from tests.referrals.support import days_later, events, food_services, offers, referrals
from tests.referrals.support import screened_positive as screened

Tables = dict[str, list[dict[str, Any]]]


def _with_history(bot: ConversationEngine[SqlStore], db: Engine) -> tuple[str, str]:
    who = screened(bot, db)
    who.person.tap("Please refer me")
    days_later(bot, 14)
    who.person.read()
    who.person.tap("Yes, I got help")
    return who.ref, referrals(db)[0].service_name


def test_the_export_holds_the_offers_and_each_referral_with_its_history(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    ref, service = _with_history(bot, db)

    data = export_case(db, ref)

    assert [(o["need"], o["choice"]) for o in data["referral_offers"]] == [("hunger", "refer")]
    (referral,) = data["referrals"]
    assert (referral["need"], referral["service_name"], referral["status"]) == (
        "hunger",
        service,
        "completed",
    )
    assert [(h["status"], h["reason"], h["actor"]) for h in referral["history"]] == [
        ("requested", None, "client"),
        ("completed", "got_help", "client"),
    ]
    assert service in to_csv(data)


def test_erasure_keeps_only_dates_and_statuses_of_referrals(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    ref, service = _with_history(bot, db)
    assert service == food_services(directory, "en")[0]

    erase_case(db, ref)

    assert offers(db) == []
    (referral,) = referrals(db)
    assert referral.status == "completed"
    assert (referral.need, referral.service_id, referral.service_name, referral.reason) == (
        "erased",
        "",
        "",
        None,
    )
    assert referral.client_id is None and referral.created_at is not None
    assert events(db, referral.id or 0) == [
        ("requested", None, "erased"),
        ("completed", None, "erased"),
    ]
    data = export_case(db, ref)
    assert service not in to_csv(data)
