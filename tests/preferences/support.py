"""Helpers for safe-contact preference scenarios: the engine as bootstrap wires it."""

from __future__ import annotations

from datetime import time

from sqlalchemy import Engine, MetaData, select

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine
from cm_bot.flows import FlowRegistry
from cm_bot.i18n import Translator
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from cm_bot.storage.repository import SqlStore
from tests.support.engines import shipped_flows, wired_engine

SHIPPED = ("contact_preferences", "exit_conversation", "exit_followup", "goal_checkin")


def preference_flows() -> FlowRegistry:
    """The test consent and intake, and the shipped preferences, exit, follow-up, check-in."""
    return shipped_flows(*SHIPPED, test_intake=True)


def make_engine(
    db: Engine, translator: Translator, clock: ManualClock | None = None
) -> ConversationEngine[SqlStore]:
    """The engine with exit planning on commit, the test ``intake``, on a test clock."""
    return wired_engine(db, translator, preference_flows(), intake=("intake",), clock=clock)


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
