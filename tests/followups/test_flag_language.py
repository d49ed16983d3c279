"""A Spanish-speaking case manager reads a follow-up's new-needs flag in Spanish.

The reason lists the needs; each is a msgid (its English name), translated one by one.
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.engine.followup_needs import NEW_NEEDS
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.followups.support import answer_followup, do_intake, exit_now, flags_of, followup_due
from tests.scheduling.support import MANAGER, staff_notices


def test_a_spanish_case_manager_reads_the_new_needs_in_spanish(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = do_intake(bot, db)
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == MANAGER).values(locale="es"))
    exit_now(who, db)
    followup_due(bot, who, 30)
    answer_followup(who, needs=("Food", "Work"), want_help="No")

    (flag,) = [f for f in flags_of(db, who.client_id) if f.rule_id == "exit_followup.new_needs"]
    assert flag.reason == "Follow-up after exit: new needs since intake: food, employment"
    assert (flag.reason_msgid, flag.reason_params) == (
        NEW_NEEDS,
        {"needs": ["food", "employment"]},
    )
    (notice,) = [n for n in staff_notices(db) if n.flag_id == flag.id]
    reason = next(line for line in notice.text.splitlines() if "Seguimiento" in line)
    assert "Seguimiento tras el cierre: necesidades nuevas desde la admisión: " in reason
    assert "alimentos" in reason and "empleo" in reason
    assert "Follow-up" not in reason and "food" not in reason and "employment" not in reason
