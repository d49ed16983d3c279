"""The engine as bootstrap wires it, for scenario tests: shipped flows, a test clock.

Bootstrap gives the store scheduling's event handlers (an exit plans its follow-ups, a
goal its first check-in, a referral its check-in, all on commit) and, where a program has a
directory, the directory port. Scenario suites (exit, preferences, follow-ups, referrals)
differ only in which flows they load and which make up intake.
"""

from __future__ import annotations

from sqlalchemy import Engine

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.program import shipped_program
from cm_bot.resources.port import directory_part
from cm_bot.scheduling import event_handlers
from cm_bot.scheduling.policy import SchedulePolicy
from cm_bot.storage.repository import SqlStore
from tests.scheduling.support import BASE
from tests.support.paths import DATA, ROOT


def shipped_flows(*names: str, test_intake: bool = False) -> FlowRegistry:
    """The test consent flow (and the test ``intake`` if asked) with these shipped flows."""
    flows = [f for f in load_flows(DATA / "flows") if test_intake or f.kind.value == "consent"]
    flows += [load_flow(ROOT / "conversations" / f"{name}.yaml") for name in names]
    return FlowRegistry(flows)


def wired_engine(
    db: Engine,
    translator: Translator,
    flows: FlowRegistry,
    *,
    intake: tuple[str, ...] = (),
    clock: ManualClock | None = None,
    directory: bool = False,
) -> ConversationEngine[SqlStore]:
    """The engine over ``flows`` with bootstrap's event handlers, on a test clock.

    ``directory``: the shipped program and its resource directory (services are offered).
    """
    handlers = event_handlers(flows, SchedulePolicy())
    clock = clock or ManualClock(BASE)
    if not directory:
        store = SqlStore(db, clock=clock, handlers=handlers)
        return ConversationEngine(
            store, flows, translator, config=EngineConfig(intake_flows=intake)
        )
    program = shipped_program()
    store = SqlStore(db, clock=clock, handlers=handlers, directory=directory_part(program.needs))
    config = EngineConfig(intake_flows=intake, program=program)
    return ConversationEngine(store, flows, translator, config=config)
