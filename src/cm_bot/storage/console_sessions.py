"""Sign-in to the web console: single-use links and server-side sessions, as rows.

A link comes from ``/console`` in Telegram (through the engine's
``uow.cases.issue_console_link``) or ``cm-bot console link NAME``: only its token's
SHA-256 is stored, bound to one staff member, valid :data:`LINK_TTL` and used once.
Opening it starts a session (its token hashed too) that ends after :data:`IDLE` without a
request, :data:`ABSOLUTE` after it began, at sign-out, or when the member is deactivated.
Every time passed in is the caller's "now" (the injected clock): nothing here reads the
wall clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from cm_bot.domain.time import aware
from cm_bot.storage.admin_common import AdminError, record_audit, staff_by_name
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ConsoleLink, ConsoleSession, Staff

LINK_TTL = timedelta(minutes=10)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)


def token_hash(token: str) -> str:
    """How a link or session token is stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening a link did: a new session's token, or why not (``refused``)."""

    staff_id: int | None
    session_token: str | None = None
    refused: str | None = None  # unknown | used | expired | inactive


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The staff member behind a live session, and the session's CSRF token."""

    session_id: int
    staff_id: int
    name: str
    role: str
    locale: str | None
    timezone: str | None
    telegram_user_id: str | None
    csrf: str


def issue_link(session: Session, staff_id: int, now: datetime) -> str:
    """A new sign-in link token for one staff member, valid :data:`LINK_TTL` from ``now``."""
    token = secrets.token_urlsafe(24)
    session.add(
        ConsoleLink(
            token_sha256=token_hash(token),
            staff_id=staff_id,
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class LinkHolder:
    """Whom a live sign-in link is for (the page that asks them to continue greets them)."""

    staff_id: int
    name: str
    locale: str | None


def link_holder(session: Session, token: str, now: datetime) -> LinkHolder | None:
    """The active staff member of an unused, unexpired link, without using it.

    Opening a link is a GET anything may make (a link preview, a mail scanner); only the
    person's own press of the button (:func:`open_link`, a POST) spends it.
    """
    link = session.exec(
        select(ConsoleLink).where(col(ConsoleLink.token_sha256) == token_hash(token))
    ).first()
    if link is None or link.used_at is not None or aware(link.expires_at) <= now:
        return None
    staff = session.get(Staff, link.staff_id)
    if staff is None or not staff.active or staff.id is None:
        return None
    return LinkHolder(staff.id, staff.name, staff.locale)


def open_link(session: Session, token: str, now: datetime) -> Opened:
    """Use a link once: a session for its (active) staff member, or the reason there is none."""
    link = session.exec(
        select(ConsoleLink)
        .where(col(ConsoleLink.token_sha256) == token_hash(token))
        .with_for_update()
    ).first()
    if link is None:
        return Opened(None, refused="unknown")
    if link.used_at is not None:
        return Opened(link.staff_id, refused="used")
    link.used_at = now  # spent whatever follows: a link is never tried twice
    if aware(link.expires_at) <= now:
        return Opened(link.staff_id, refused="expired")
    staff = session.get(Staff, link.staff_id)
    if staff is None or not staff.active:
        return Opened(link.staff_id, refused="inactive")
    session_token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_sha256=token_hash(session_token),
            staff_id=link.staff_id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return Opened(link.staff_id, session_token=session_token)


def session_for(session: Session, token: str, now: datetime) -> SignedIn | None:
    """The live session of ``token`` (and its last request moved to ``now``), else ``None``.

    Revoked, idle for :data:`IDLE`, older than :data:`ABSOLUTE` or of a deactivated
    member: no session (an expired one is revoked on the way).
    """
    row = session.exec(
        select(ConsoleSession, Staff)
        .join(Staff, col(Staff.id) == col(ConsoleSession.staff_id))
        .where(col(ConsoleSession.token_sha256) == token_hash(token))
    ).first()
    if row is None:
        return None
    console, staff = row
    if console.revoked_at is not None:
        return None
    if (
        not staff.active
        or now - aware(console.last_seen_at) >= IDLE
        or now - aware(console.created_at) >= ABSOLUTE
    ):
        console.revoked_at = now
        return None
    console.last_seen_at = now
    assert console.id is not None and staff.id is not None
    return SignedIn(
        console.id,
        staff.id,
        staff.name,
        staff.role,
        staff.locale,
        staff.timezone,
        staff.telegram_user_id,
        console.csrf,
    )


def end_session(session: Session, token: str, now: datetime) -> int | None:
    """Sign out: revoke the session of ``token``; returns its staff id (``None``: none live)."""
    console = session.exec(
        select(ConsoleSession).where(col(ConsoleSession.token_sha256) == token_hash(token))
    ).first()
    if console is None or console.revoked_at is not None:
        return None
    console.revoked_at = now
    return console.staff_id


def revoke_sessions(session: Session, staff_id: int, now: datetime) -> int:
    """End every live console session of a staff member at once; returns how many."""
    result = session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.staff_id) == staff_id, col(ConsoleSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def console_link(engine: Engine, name: str, actor: str, now: datetime) -> str:
    """``cm-bot console link NAME``: a sign-in link token for an active staff member (audited)."""
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if not staff.active or staff.id is None:
            raise AdminError(f"{staff.name} is deactivated: no console link")
        token = issue_link(session, staff.id, now)
        record_audit(session, actor, "console_link_created", staff_id=staff.id)
        return token


def sign_out_everywhere(engine: Engine, name: str, actor: str, now: datetime) -> int:
    """``cm-bot console revoke NAME``: end a member's console sessions now (a lost phone).

    Their Telegram access stays; unused sign-in links are spent too. Audited with the
    count; returns how many sessions ended.
    """
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        assert staff.id is not None
        ended = revoke_sessions(session, staff.id, now)
        session.execute(
            update(ConsoleLink)
            .where(col(ConsoleLink.staff_id) == staff.id, col(ConsoleLink.used_at).is_(None))
            .values(used_at=now)
        )
        record_audit(session, actor, "console_sessions_revoked", staff_id=staff.id, ended=ended)
        return ended


def colleagues(session: Session) -> list[tuple[int, str, str]]:
    """Active staff members as (id, name, role), by name: whom a flag can be assigned to."""
    rows = session.exec(
        select(Staff.id, Staff.name, Staff.role)
        .where(col(Staff.active).is_(True))
        .order_by(col(Staff.name))
    ).all()
    return [(int(i), str(n), str(r)) for i, n, r in rows if i is not None]


__all__ = [
    "ABSOLUTE",
    "IDLE",
    "LINK_TTL",
    "LinkHolder",
    "Opened",
    "SignedIn",
    "colleagues",
    "console_link",
    "end_session",
    "issue_link",
    "link_holder",
    "open_link",
    "revoke_sessions",
    "session_for",
    "sign_out_everywhere",
    "token_hash",
]
