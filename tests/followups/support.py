"""Helpers for follow-up scenarios: real intake, an exit, and the 30/90/180-day follow-ups.

The engine runs the test consent flow, the shipped AHC screening and ``intake_basics`` as
intake (the default order's tail), the shipped follow-up, the supplemental, and the
referral flows, with the directory port and scheduling's event handlers as bootstrap wires
them, on a :class:`ManualClock` starting at the scheduling tests' noon.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.flows import FlowRegistry
from cm_bot.i18n import Translator
from cm_bot.scheduling import run_due
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Flag, Response
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE, Who, clock_of, consented_client, exit_case
from tests.support.engines import shipped_flows, wired_engine
from tests.support.people import texts

INTAKE = ("screening_ahc", "intake_basics")
SHIPPED = (
    "screening_ahc",
    "intake_basics",
    "screening_ahc_supplemental",
    "exit_followup",
    "referral_offer",
    "referral_checkin",
)
# AHC item 1's options are long, so the client taps their numbers.
HOUSING = {"steady": "1", "worried": "2", "not_steady": "3"}


def followup_flows() -> FlowRegistry:
    return shipped_flows(*SHIPPED)


def make_engine(
    db: Engine, translator: Translator, intake: tuple[str, ...] = INTAKE
) -> ConversationEngine[SqlStore]:
    """The engine as bootstrap wires it, on a test clock (``clock_of(engine)``)."""
    return wired_engine(db, translator, followup_flows(), intake=intake, directory=True)


def do_intake(
    engine: ConversationEngine[SqlStore],
    db: Engine,
    *,
    housing: str = "steady",
    money: str = "Not hard at all",
    work: str = "Working part-time",
    language: str = "en",
) -> Who:
    """A consented client who answers intake: housing, money and work; skips the rest."""
    who = consented_client(engine, db)
    who.person.language = language
    who.person.say("hello")
    who.person.tap(HOUSING[housing])
    while who.person.step() is not None and who.person.step() != "intake_basics.ahc_q11":
        who.person.tap(_skip(who))
    who.person.tap(money)
    who.person.tap(work)
    who.person.read()
    return who


def _skip(who: Who) -> str:
    """The "Skip this question" button in the person's language (the last row's)."""
    return who.person.buttons[-1].label


def exit_now(who: Who, db: Engine) -> None:
    """The case exits at the clock's start; follow-ups planned at 30, 90 and 180 days."""
    exit_case(db, who, BASE.date(), BASE)


def followup_due(engine: ConversationEngine[SqlStore], who: Who, days: int) -> str:
    """Move to ``days`` after exit (and a little), run the scheduler; what the client got."""
    moment = BASE + timedelta(days=days, hours=23)
    clock_of(engine).set(moment)
    run_due(engine, moment)
    return texts(who.person.read())


def answer_followup(
    who: Who,
    *,
    housing: str = "steady",
    money: str = "Not hard at all",
    work: str = "Working part-time",
    needs: tuple[str, ...] = ("None of these",),
    want_help: str = "No",
) -> str:
    """Answer a follow-up that has just arrived; everything the client was told after."""
    person = who.person
    person.tap("Yes")
    person.tap("Good")
    person.tap(HOUSING[housing])
    person.tap(money)
    person.tap(work)
    said = []
    for need in needs:
        said += person.tap(need)
    said += person.tap("Done")
    if person.step() == "exit_followup.want_help":
        said += person.tap(want_help)
    return texts(said)


def answers_of(db: Engine, client_id: int, key: str) -> list[tuple[str, object]]:
    """Every stored answer to ``key``: (flow, value), oldest first."""
    with transaction(db) as session:
        rows = session.execute(
            select(Response)
            .where(col(Response.client_id) == client_id, col(Response.key) == key)
            .order_by(col(Response.id))
        ).scalars()
        return [(r.flow_id, r.value) for r in rows]


def flags_of(db: Engine, client_id: int) -> list[Flag]:
    with transaction(db) as session:
        found = list(
            session.execute(
                select(Flag).where(col(Flag.client_id) == client_id).order_by(col(Flag.id))
            ).scalars()
        )
        for flag in found:
            session.expunge(flag)
        return found


def audit_actions(db: Engine, case_id: int) -> list[str]:
    with transaction(db) as session:
        return [
            a.action
            for a in session.execute(
                select(AuditLog).where(col(AuditLog.case_id) == case_id).order_by(col(AuditLog.id))
            ).scalars()
        ]
