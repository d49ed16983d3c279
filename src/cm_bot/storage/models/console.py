"""The web console's sign-in links and sessions (tokens stored hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cm_bot.storage.models.base import utcnow


class ConsoleLink(SQLModel, table=True):
    """A single-use sign-in link to the web console, bound to one staff member.

    Only the token's SHA-256 is stored; it expires 10 minutes after it was made.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A signed-in web console session: a server-side row, revocable (token stored hashed)."""

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    csrf: str  # the token every POST of this session must carry
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
