"""A Spanish-speaking case manager reads a formatted flag reason in Spanish, not in English.

The referral-requested reason names the need and the service; it is stored as the English
text plus its msgid and params, so the notice translates the msgid and the need (the
service's name is its own).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.engine.referrals import REFERRAL_REQUESTED
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.referrals.support import flags_of, food_services, screened_positive
from tests.scheduling.support import MANAGER, staff_notices

Tables = dict[str, list[dict[str, Any]]]


def test_a_spanish_case_manager_reads_the_referral_request_in_spanish(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == MANAGER).values(locale="es"))
    service = food_services(directory, "en")[0]

    who.person.tap("Please refer me")

    (flag,) = flags_of(db, "referral_requested")
    assert flag.reason == f"Referral requested: food — {service}"  # the record, in English
    assert flag.reason_msgid == REFERRAL_REQUESTED
    assert flag.reason_params == {"need": "food", "service": service}
    (notice,) = [n for n in staff_notices(db) if n.flag_id == flag.id]
    reason = next(line for line in notice.text.splitlines() if service in line)
    assert f"Derivación solicitada: alimentos — {service}" in reason
    assert "Referral" not in reason and "food" not in reason
