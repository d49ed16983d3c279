"""Helpers for re-screen scenarios: the engine with the re-screen flows, baselines, answers.

The engine runs the test consent flow and the shipped ``rescreen_phq9`` / ``rescreen_gad7``
flows; its store plans re-screens through scheduling's event handlers, on a
:class:`ManualClock` starting at the scheduling tests' noon (``BASE``, a Wednesday, UTC).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.scheduling import event_handlers
from cm_bot.scheduling.policy import SchedulePolicy
from cm_bot.storage.db import transaction
from cm_bot.storage.models import FlowRun, RescreenPlan, ScheduledContact, ScoreResult
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE, MANAGER_CHAT, Who
from tests.support.paths import DATA, ROOT
from tests.support.people import Person

LABELS = ("Not at all", "Several days", "More than half the days", "Nearly every day")


def rescreen_flows() -> FlowRegistry:
    """The test consent flow and the two shipped re-screen flows."""
    flows = [f for f in load_flows(DATA / "flows") if f.kind.value == "consent"]
    for name in ("rescreen_phq9", "rescreen_gad7"):
        flows.append(load_flow(ROOT / "conversations" / f"{name}.yaml"))
    return FlowRegistry(flows)


def make_engine(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    """The engine as bootstrap wires it, on a test clock (``clock_of(engine)``)."""
    flows = rescreen_flows()
    store = SqlStore(db, clock=ManualClock(BASE), handlers=event_handlers(flows, SchedulePolicy()))
    return ConversationEngine(store, flows, translator, config=EngineConfig(intake_flows=()))


def manager(engine: ConversationEngine[SqlStore], db: Engine) -> Person:
    """The case manager of ``consented_client`` cases, in Telegram; earlier notices read."""
    maria = Person(engine, db, MANAGER_CHAT, channel="telegram")
    maria.read()
    return maria


def baseline(db: Engine, who: Who, instrument: str, value: float, at: datetime) -> None:
    """An intake score of ``instrument`` (with a run of its own), as intake stores it."""
    with transaction(db) as session:
        run = FlowRun(
            client_id=who.client_id,
            case_id=who.case_id,
            flow_id="screening_phq" if instrument == "phq9" else "screening_gad",
            flow_version=2,
            status="completed",
            started_at=at,
            updated_at=at,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(
            ScoreResult(
                case_id=who.case_id,
                client_id=who.client_id,
                run_id=run.id,
                flow_id=run.flow_id,
                score_id=instrument,
                instrument=instrument,
                value=value,
                band=None,
                result={"instrument": instrument},
                computed_at=at,
            )
        )


def answer_phq9(person: Person, items: tuple[int, ...]) -> None:
    """Tap the PHQ-9 answers ``items`` (nine values 0-3), then skip the difficulty item."""
    assert len(items) == 9
    for value in items:
        person.tap(LABELS[value])
    person.tap("Not difficult at all")


def scores(db: Engine, case_id: int, instrument: str = "phq9") -> list[float]:
    with transaction(db) as session:
        return [
            float(v or 0)
            for v in session.execute(
                select(col(ScoreResult.value))
                .where(
                    col(ScoreResult.case_id) == case_id, col(ScoreResult.instrument) == instrument
                )
                .order_by(col(ScoreResult.computed_at), col(ScoreResult.id))
            ).scalars()
        ]


def rescreens(db: Engine, case_id: int) -> list[ScheduledContact]:
    with transaction(db) as session:
        return list(
            session.execute(
                select(ScheduledContact)
                .where(
                    col(ScheduledContact.case_id) == case_id,
                    col(ScheduledContact.kind) == "rescreen",
                )
                .order_by(col(ScheduledContact.id))
            ).scalars()
        )


def plans(db: Engine) -> list[RescreenPlan]:
    with transaction(db) as session:
        return list(session.execute(select(RescreenPlan).order_by(col(RescreenPlan.id))).scalars())
