"""Helpers for referral scenarios: a small directory, an engine that offers from it, clients.

The engine runs the test consent flow, the shipped Hunger Vital Sign screening as the whole
intake (two questions, so a positive food screen is quick to reach), and the shipped
referral offer and check-in flows. Its store reads the directory through the port bootstrap
wires (``cm_bot.resources.port``) and plans referral check-ins through scheduling's event
handlers, on a :class:`ManualClock` starting at the scheduling tests' noon.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.flows import FlowRegistry
from cm_bot.i18n import Translator
from cm_bot.resources.hsds import read_package
from cm_bot.resources.store import import_package
from cm_bot.scheduling import run_due
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag, Referral, ReferralEvent, ReferralOffer, ScheduledContact
from cm_bot.storage.repository import SqlStore
from tests.resources.directory import build, ident, write_csv
from tests.scheduling.support import BASE, Who, clock_of, consented_client
from tests.support.engines import shipped_flows, wired_engine

INTAKE = ("screening_hvs",)
FOOD = ("Food Pantry", "Emergency Food")


def referral_flows() -> FlowRegistry:
    """The test consent flow, the shipped food screening and the two referral flows."""
    return shipped_flows("screening_hvs", "referral_offer", "referral_checkin")


def make_engine(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    """The engine as bootstrap wires it, on a test clock (``clock_of(engine)``)."""
    return wired_engine(db, translator, referral_flows(), intake=INTAKE, directory=True)


def load_directory(db: Engine, folder: Path, count: int = 30) -> dict[str, list[dict[str, Any]]]:
    """The synthetic directory (tests/resources/directory.py) of ``count`` services, imported."""
    tables = build(count, BASE.date())
    import_package(db, read_package(write_csv(folder, tables)), "cli:test", BASE)
    return tables


def food_services(tables: dict[str, list[dict[str, Any]]], language: str | None) -> list[str]:
    """The names of the food services a client would be offered, in order (as match ranks)."""
    terms = {ident("term", 0), ident("term", 1)}
    tagged = {r["link_id"] for r in tables["attribute"] if r["taxonomy_term_id"] in terms}
    speaks = {r["service_id"] for r in tables["language"] if r["code"] == language}
    found = [s for s in tables["service"] if s["id"] in tagged and s["status"] == "active"]
    found.sort(key=lambda s: s["name"])
    found.sort(key=lambda s: s["assured_date"], reverse=True)
    if language:
        found.sort(key=lambda s: s["id"] not in speaks)
    return [s["name"] for s in found]


def screened_positive(
    engine: ConversationEngine[SqlStore], db: Engine, language: str = "en"
) -> Who:
    """A consented client who has just answered the food screening "often true" twice."""
    who = consented_client(engine, db)
    who.person.language = language
    who.person.say("hello")  # intake begins: the first food question
    who.person.say("1")
    who.person.say("1")  # the last answer: intake is over
    return who


def referrals(db: Engine) -> list[Referral]:
    with transaction(db) as session:
        return list(session.execute(select(Referral).order_by(col(Referral.id))).scalars())


def events(db: Engine, referral_id: int) -> list[tuple[str, str | None, str]]:
    with transaction(db) as session:
        rows = session.execute(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id) == referral_id)
            .order_by(col(ReferralEvent.id))
        ).scalars()
        return [(e.status, e.reason, e.actor) for e in rows]


def offers(db: Engine) -> list[ReferralOffer]:
    with transaction(db) as session:
        return list(
            session.execute(select(ReferralOffer).order_by(col(ReferralOffer.id))).scalars()
        )


def referral_contacts(db: Engine) -> list[ScheduledContact]:
    with transaction(db) as session:
        return list(
            session.execute(
                select(ScheduledContact)
                .where(col(ScheduledContact.kind) == "referral")
                .order_by(col(ScheduledContact.id))
            ).scalars()
        )


def flags_of(db: Engine, rule_id: str) -> list[Flag]:
    with transaction(db) as session:
        return list(
            session.execute(
                select(Flag).where(col(Flag.rule_id) == rule_id).order_by(col(Flag.id))
            ).scalars()
        )


def days_later(engine: ConversationEngine[SqlStore], days: int) -> None:
    """Move the clock ``days`` (and a little) ahead and run the scheduler once."""
    clock = clock_of(engine)
    clock.advance(timedelta(days=days, minutes=30))
    run_due(engine, clock.now())
