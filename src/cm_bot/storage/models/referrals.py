"""Referrals: what a client was offered, the referrals made, every status change."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cm_bot.storage.models.base import utcnow

# -- Referrals (issue 17) ---------------------------------------------------------------------
# What a client was offered from the directory, the referrals made, and every status change.
# ``service_id`` is an HSDS id (no foreign key, as above); the service's name is kept as it
# was offered, for the check-in's question and for reports after a re-import.


class Referral(SQLModel, table=True):
    """A referral of a case's client to a directory service; its history in ``referral_event``."""

    __tablename__ = "referral"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    need: str
    service_id: str
    service_name: str = ""
    made_by: str  # "client" | "staff:<id>"
    status: str = Field(index=True)  # ReferralStatus
    reason: str | None = None  # ReferralReason
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReferralEvent(SQLModel, table=True):
    """One status change of a referral: to what, why, by whom, when (its first row: made)."""

    __tablename__ = "referral_event"

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    status: str
    reason: str | None = None
    actor: str  # "client" | "staff:<id>" | "system"
    at: datetime = Field(default_factory=utcnow)


class ReferralOffer(SQLModel, table=True):
    """A service offered to a client for a need, and what they chose (``None``: no answer yet).

    ``service_id`` is ``None`` when nothing in the directory matched the need.
    """

    __tablename__ = "referral_offer"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    need: str
    service_id: str | None = None
    choice: str | None = None  # refer | self | not_now
    referral_id: int | None = Field(default=None, foreign_key="referral.id")
    offered_at: datetime = Field(default_factory=utcnow)
    answered_at: datetime | None = None
