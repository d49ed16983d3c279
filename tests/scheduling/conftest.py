"""Fixtures for scheduling: the shipped check-in and follow-up flows on the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from tests.scheduling.support import BASE

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"


def scheduling_flows() -> FlowRegistry:
    """The test consent and intake flows plus the shipped goal check-in and exit follow-up."""
    flows = list(load_flows(DATA / "flows"))
    for name in ("goal_checkin", "exit_followup"):
        flows.append(load_flow(ROOT / "conversations" / f"{name}.yaml"))
    return FlowRegistry(flows)


def make_engine(
    db: Engine, translator: Translator, clock: ManualClock | None = None
) -> ConversationEngine[SqlStore]:
    """A fresh engine, as a restarted process would build it, on a test clock.

    The clock starts at ``support.BASE`` unless one is passed (a restarted process
    shares the test's clock).
    """
    return ConversationEngine(
        SqlStore(db, clock=clock or ManualClock(BASE)),
        scheduling_flows(),
        translator,
        config=EngineConfig(intake_flows=()),
    )


@pytest.fixture
def sched(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    return make_engine(db, translator)
