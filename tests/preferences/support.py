"""Helpers for safe-contact preference scenarios: the engine as bootstrap wires it."""

from __future__ import annotations

from datetime import time

from sqlalchemy import Engine, MetaData, select

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.scheduling import event_handlers
from cm_bot.scheduling.policy import SchedulePolicy
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE
from tests.support.paths import DATA, ROOT

SHIPPED = ("contact_preferences", "exit_conversation", "exit_followup", "goal_checkin")


def preference_flows() -> FlowRegistry:
    """The test consent and intake, and the shipped preferences, exit, follow-up, check-in."""
    flows = list(load_flows(DATA / "flows"))
    flows.extend(load_flow(ROOT / "conversations" / f"{name}.yaml") for name in SHIPPED)
    return FlowRegistry(flows)


def make_engine(
    db: Engine, translator: Translator, clock: ManualClock | None = None
) -> ConversationEngine[SqlStore]:
    """The engine with exit planning on commit, intake ``intake``, on a test clock."""
    flows = preference_flows()
    store = SqlStore(
        db, clock=clock or ManualClock(BASE), handlers=event_handlers(flows, SchedulePolicy())
    )
    return ConversationEngine(
        store, flows, translator, config=EngineConfig(intake_flows=("intake",))
    )


def prefs_of(
    db: Engine, client_id: int
) -> tuple[bool | None, time | None, time | None, str | None]:
    """(message_first, contact_start, contact_end, safe_word_hash) as stored."""
    with transaction(db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        return client.message_first, client.contact_start, client.contact_end, client.safe_word_hash


def set_prefs(db: Engine, client_id: int, *, message_first: bool | None) -> None:
    with transaction(db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        client.message_first = message_first


def every_stored_text(db: Engine) -> str:
    """Every value of every row of every table, as one string (to look for a word in)."""
    metadata = MetaData()
    metadata.reflect(db)
    parts: list[str] = []
    with db.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts).casefold()
