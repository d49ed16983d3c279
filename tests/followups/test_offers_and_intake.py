"""Services for a follow-up's new needs; the money and work questions asked once at intake.

A need new at a follow-up gets the matching services of the directory, one at a time, as
after intake (only the new needs; never while paused by an urgent flag; nothing for
"None of these" or "Something else"). Intake asks AHC item 11 and employment status in
``intake_basics``, after the AHC screening by default; the AHC supplemental takes item 11
from it instead of asking again, and still scores financial strain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.settings import Settings
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Response, ScoreResult
from tests.followups.support import (
    answer_followup,
    answers_of,
    do_intake,
    exit_now,
    flags_of,
    followup_due,
    make_engine,
)
from tests.referrals.support import food_services, offers
from tests.support.people import texts


def test_a_new_food_need_is_offered_food_services_and_only_that(
    bot: ConversationEngine[SqlStore], db: Engine, directory: dict[str, list[dict[str, Any]]]
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 90)
    said = answer_followup(who, needs=("Food", "Something else"))
    assert "Here is a service that may be able to help with getting food." in said
    assert food_services(directory, "en")[0] in said
    assert {o.need for o in offers(db)} == {"food"}
    texts(who.person.tap("Not now"))
    assert {o.need for o in offers(db)} == {"food"}  # "Something else": nothing to match


def test_no_new_need_no_offer(
    bot: ConversationEngine[SqlStore], db: Engine, directory: dict[str, list[dict[str, Any]]]
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = answer_followup(who, needs=("None of these",))
    assert "Here is a service" not in said
    assert offers(db) == []


def test_a_need_known_at_intake_is_not_offered_again_at_the_followup(
    bot: ConversationEngine[SqlStore], db: Engine, directory: dict[str, list[dict[str, Any]]]
) -> None:
    who = do_intake(bot, db, housing="worried")
    intake_offers = len(offers(db))
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = answer_followup(who, housing="worried")
    assert "Here is a service" not in said
    assert len(offers(db)) == intake_offers


def test_nothing_is_offered_while_paused_by_safety(
    bot: ConversationEngine[SqlStore], db: Engine, directory: dict[str, list[dict[str, Any]]]
) -> None:
    who = do_intake(bot, db)
    exit_now(who, db)
    followup_due(bot, who, 30)
    said = answer_followup(who, needs=("Food", "Safety: someone hurts or scares me"))
    assert "Here is a service" not in said
    assert offers(db) == []


def test_intake_basics_runs_after_the_ahc_by_default() -> None:
    flows = Settings().intake_flows
    assert flows[flows.index("screening_ahc") + 1] == "intake_basics"


def test_the_supplemental_takes_item_11_from_intake_and_still_scores_financial_strain(
    db: Engine, translator: Translator
) -> None:
    bot = make_engine(
        db, translator, ("screening_ahc", "intake_basics", "screening_ahc_supplemental")
    )
    who = do_intake(bot, db, money="Very hard")
    # The supplemental is next: its first question is item 12, not item 11 again.
    assert who.person.step() == "screening_ahc_supplemental.ahc_q12"
    money_asked = [m for m in who.person.seen if "pay for the very basics" in m.text]
    assert len(money_asked) == 1
    assert answers_of(db, who.client_id, "ahc.q11") == [
        ("intake_basics", "very_hard"),
        ("screening_ahc_supplemental", "very_hard"),
    ]
    with transaction(db) as session:
        provenance = session.execute(
            select(Response.provenance).where(
                col(Response.flow_id) == "screening_ahc_supplemental",
                col(Response.key) == "ahc.q11",
            )
        ).scalar_one()
    assert provenance is not None and provenance.startswith("taken from the money and work")
    while who.person.step() is not None:
        who.person.tap(who.person.buttons[-1].label)  # skip the rest of the supplemental
    with transaction(db) as session:
        result = session.execute(
            select(ScoreResult.result).where(
                col(ScoreResult.flow_id) == "screening_ahc_supplemental"
            )
        ).scalar_one()
    assert "financial_strain" in result["positive_domains"]
    strain = [f for f in flags_of(db, who.client_id) if f.rule_id.endswith("ahc_financial_strain")]
    assert [f.rule_id for f in strain] == ["intake_basics.ahc_financial_strain"]  # once
