"""Helpers for exit-conversation scenarios."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.flows import FlowRegistry
from cm_bot.i18n import Translator
from cm_bot.scheduling.policy import FOLLOWUP
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, Goal, ScheduledContact
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE
from tests.support.engines import shipped_flows, wired_engine


def exit_flows(*extra: str) -> FlowRegistry:
    """The test consent flow, the shipped exit conversation, follow-up and goal check-in."""
    return shipped_flows("exit_conversation", "exit_followup", "goal_checkin", *extra)


def make_engine(
    db: Engine, translator: Translator, intake: tuple[str, ...] = ()
) -> ConversationEngine[SqlStore]:
    """The engine as bootstrap wires it (exit planning on commit), on a test clock.

    ``intake``: shipped intake flows the client has not done yet.
    """
    return wired_engine(db, translator, exit_flows(*intake), intake=intake)


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
