"""Helpers for exit-conversation scenarios."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.scheduling import event_handlers
from cm_bot.scheduling.policy import FOLLOWUP, SchedulePolicy
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, Goal, ScheduledContact
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE
from tests.support.paths import DATA, ROOT


def exit_flows(*extra: str) -> FlowRegistry:
    """The test consent flow, the shipped exit conversation, follow-up and goal check-in."""
    flows = [f for f in load_flows(DATA / "flows") if f.kind.value == "consent"]
    for name in ("exit_conversation", "exit_followup", "goal_checkin", *extra):
        flows.append(load_flow(ROOT / "conversations" / f"{name}.yaml"))
    return FlowRegistry(flows)


def make_engine(
    db: Engine, translator: Translator, intake: tuple[str, ...] = ()
) -> ConversationEngine[SqlStore]:
    """The engine as bootstrap wires it (exit planning on commit), on a test clock.

    ``intake``: shipped intake flows the client has not done yet.
    """
    flows = exit_flows(*intake)
    store = SqlStore(db, clock=ManualClock(BASE), handlers=event_handlers(flows, SchedulePolicy()))
    return ConversationEngine(store, flows, translator, config=EngineConfig(intake_flows=intake))


def followups(db: Engine, case_id: int) -> list[ScheduledContact]:
    with transaction(db) as session:
        rows = session.execute(
            select(ScheduledContact)
            .where(col(ScheduledContact.case_id) == case_id, col(ScheduledContact.kind) == FOLLOWUP)
            .order_by(col(ScheduledContact.due_at))
        )
        found = list(rows.scalars())
        for row in found:
            session.expunge(row)
        return found


def hours_of(db: Engine, client_id: int) -> tuple[object, object]:
    with transaction(db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        return client.contact_start, client.contact_end


def add_goal(db: Engine, case_id: int, text: str, status: str) -> None:
    with transaction(db) as session:
        session.add(Goal(case_id=case_id, text=text, created_at=BASE, status=status))
