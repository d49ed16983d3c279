"""Readers of the record: each opens its own transaction and returns plain rows or values.

They read the database the way a person checking it would, so tests assert on what was
really stored, not on what the engine says it stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    ChannelIdentity,
    Client,
    FlowRun,
    InboundMessage,
    Response,
)

OPEN = ("active", "paused")


def count(db: Engine, table: type[Any], *where: Any) -> int:
    """How many rows of ``table`` match ``where`` (all of them without it)."""
    with transaction(db) as session:
        return int(
            session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


def rows(db: Engine, table: type[Any], *where: Any) -> list[Any]:
    """The rows of ``table`` matching ``where``, oldest first."""
    with transaction(db) as session:
        query = select(table).where(*where).order_by(col(table.id))
        return list(session.execute(query).scalars())


def client_id_of(db: Engine, user_id: str, channel: str | None = None) -> int | None:
    """The client linked to this chat user (on ``channel``, if given); None if nobody is."""
    where = [col(ChannelIdentity.external_user_id) == user_id]
    if channel is not None:
        where.append(col(ChannelIdentity.channel) == channel)
    with transaction(db) as session:
        found = session.execute(select(ChannelIdentity.client_id).where(*where)).scalar()
        return None if found is None else int(found)


def ids(db: Engine, user_id: str) -> tuple[int, int]:
    """(client id, case id) of the person linked as ``user_id``."""
    client_id = client_id_of(db, user_id)
    assert client_id is not None, f"nobody is linked as {user_id!r}"
    with transaction(db) as session:
        case_id = session.execute(
            select(Case.id).where(col(Case.client_id) == client_id)
        ).scalar_one()
        return client_id, int(case_id)


def client(db: Engine, user_id: str) -> Client:
    """The client row of the person linked as ``user_id``."""
    client_id, _case_id = ids(db, user_id)
    with transaction(db) as session:
        row = session.get(Client, client_id)
        assert row is not None
        return row


def status(db: Engine, user_id: str) -> str:
    return client(db, user_id).status


def open_run_of(db: Engine, client_id: int) -> FlowRun | None:
    """This client's newest active or paused run (never another client's)."""
    with transaction(db) as session:
        return (
            session.execute(
                select(FlowRun)
                .where(col(FlowRun.client_id) == client_id, col(FlowRun.status).in_(OPEN))
                .order_by(col(FlowRun.id).desc())
            )
            .scalars()
            .first()
        )


def open_run(db: Engine, user_id: str) -> FlowRun | None:
    client_id, _case_id = ids(db, user_id)
    return open_run_of(db, client_id)


def where(run: FlowRun | None) -> str | None:
    """``flow.step`` of an open run, as the tests name places in a conversation."""
    return None if run is None else f"{run.flow_id}.{run.step_id}"


def open_step(db: Engine, user_id: str) -> str | None:
    return where(open_run(db, user_id))


def responses(db: Engine, client_id: int | None = None) -> list[tuple[str, Any]]:
    """Every stored answer as (key, value), oldest first: a duplicated answer shows twice."""
    matching = [] if client_id is None else [col(Response.client_id) == client_id]
    return [(r.key, r.value) for r in rows(db, Response, *matching)]


def answers_to(db: Engine, key: str) -> list[Any]:
    """Every stored value for ``key``, oldest first (one answer given once is ``[value]``)."""
    return [value for k, value in responses(db) if k == key]


def inbox_statuses(db: Engine) -> list[str]:
    with transaction(db) as session:
        return [str(s) for s in session.execute(select(col(InboundMessage.status))).scalars()]


def audits(db: Engine, action: str) -> list[AuditLog]:
    """Audit rows of one action, oldest first."""
    return rows(db, AuditLog, col(AuditLog.action) == action)
