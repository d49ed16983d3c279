"""Helpers for scheduling tests: clients with consent in a zone, exits, counting what was sent."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import col

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.loader import load_flow
from cm_bot.i18n import Translator
from cm_bot.scheduling import plan_followups, run_due
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    Case,
    Client,
    ConsentRecord,
    Flag,
    Goal,
    Outbox,
    ScheduledContact,
    Staff,
)
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork
from tests.support.people import Person

_users = itertools.count(1)
MANAGER = "Maria"
MANAGER_CHAT = "9001"


# A fixed noon, far ahead of the wall clock. The engine, the store and the dispatcher take
# their time from the injected clock (see ``make_engine``); the only wall-clock readers left
# are the test person's update stamps and outbox reads (tests/support/people.py), and those
# only need the test's time not to lie in their past.
BASE = datetime(2099, 1, 7, 12, tzinfo=UTC)


def base_now() -> datetime:
    """The scheduling tests' "now": where every engine's clock starts (:data:`BASE`)."""
    return BASE


def clock_of(engine: ConversationEngine[SqlStore]) -> ManualClock:
    """The test clock an engine of ``make_engine`` reads: move it to move time."""
    clock = engine.store.clock
    assert isinstance(clock, ManualClock)
    return clock


@dataclass
class Who:
    person: Person
    client_id: int
    case_id: int
    ref: str


def consented_client(
    engine: ConversationEngine,
    db: Engine,
    *,
    tz: str | None = None,
    hours: tuple[time, time] | None = None,
) -> Who:
    """A linked client with a current consent, whose case manager is bound to Telegram."""
    with contextlib.suppress(ValueError):
        staff = add_staff(db, MANAGER, "case_manager")
        with transaction(db) as session:
            session.execute(
                update(Staff).where(col(Staff.id) == staff.id).values(telegram_user_id=MANAGER_CHAT)
            )
    user = f"user{next(_users)}"
    case = new_case(db, MANAGER)
    client_id = link_client(db, case.ref, "console", user, user)
    consent = engine.consent_flow
    assert consent is not None and case.id is not None
    with transaction(db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        client.timezone = tz
        if hours:
            client.contact_start, client.contact_end = hours
        session.add(
            ConsentRecord(
                client_id=client_id,
                case_id=case.id,
                action="granted",
                flow_id=consent.id,
                version=consent.version,
                text_sha256="test",
                locale="en",
                decisions={"contact": True, "store": True},
            )
        )
    return Who(Person(engine, db, user), client_id, case.id, case.ref)


def exit_case(db: Engine, who: Who, day: date, now: datetime, tz: str = "UTC") -> list[int]:
    """What `cm-bot case exit` and `/exit` do: exit and plan in one transaction."""
    with transaction(db) as session:
        uow = SqlUnitOfWork(session, now=now)
        uow.cases.exit_case(who.case_id, datetime.combine(day, time(0), UTC))
        return plan_followups(uow, who.case_id, day, [30, 90, 180], tz, now)


def exited_client(engine: ConversationEngine, db: Engine, now: datetime, *, days_ago: int) -> Who:
    """A consented client exited ``days_ago`` days before ``now`` (planned that day).

    The first dispatch pass has run, just after ``now``: with ``days_ago=30`` the
    30-day follow-up has gone out and the scheduler waits for the answer.
    """
    who = consented_client(engine, db)
    exited = now - timedelta(days=days_ago)
    exit_case(db, who, exited.date(), exited)
    run_due(engine, now + timedelta(minutes=20))
    return who


def sent_to(db: Engine, client_id: int) -> int:
    """Outbox rows written to a client."""
    with transaction(db) as session:
        return int(
            session.execute(
                select(func.count()).select_from(Outbox).where(col(Outbox.client_id) == client_id)
            ).scalar_one()
        )


def contacts(db: Engine, case_id: int | None = None) -> list[ScheduledContact]:
    with transaction(db) as session:
        query = select(ScheduledContact).order_by(col(ScheduledContact.id))
        if case_id is not None:
            query = query.where(col(ScheduledContact.case_id) == case_id)
        return list(session.execute(query).scalars())


def case_row(db: Engine, case_id: int) -> Case:
    with transaction(db) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def flags(db: Engine, rule_id: str | None = None) -> list[Flag]:
    with transaction(db) as session:
        query = select(Flag).order_by(col(Flag.id))
        if rule_id is not None:
            query = query.where(col(Flag.rule_id) == rule_id)
        return list(session.execute(query).scalars())


def staff_notices(db: Engine) -> list[Outbox]:
    with transaction(db) as session:
        return list(
            session.execute(
                select(Outbox).where(col(Outbox.chat_id) == MANAGER_CHAT).order_by(col(Outbox.id))
            ).scalars()
        )


def add_goal(db: Engine, case_id: int, created_at: datetime, **values: Any) -> int:
    with transaction(db) as session:
        goal = Goal(case_id=case_id, text="Find a part-time job", created_at=created_at, **values)
        session.add(goal)
        session.flush()
        assert goal.id is not None
        return goal.id


def add_contact(db: Engine, who: Who, due_at: datetime, **values: Any) -> int:
    """A pending follow-up of an exited case, due at a time (as the planner would write it)."""
    with transaction(db) as session:
        if values.get("kind", "followup") == "followup":
            session.execute(update(Case).where(col(Case.id) == who.case_id).values(status="exited"))
        contact = ScheduledContact(
            case_id=who.case_id,
            client_id=who.client_id,
            flow_id=values.pop("flow_id", "exit_followup"),
            kind=values.pop("kind", "followup"),
            due_at=due_at,
            **values,
        )
        session.add(contact)
        session.flush()
        assert contact.id is not None
        return contact.id


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
