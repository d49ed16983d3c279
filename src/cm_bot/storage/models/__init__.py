"""The case record as SQLModel tables.

Every answer, state change, flag and outgoing message is a row, written in the
transaction that handles the inbound event that caused it. Times are UTC.
Only this package imports SQL. One module per area: the case record itself, the web
console's sign-in, the resource directory and referrals; all share one ``metadata``.
"""

from __future__ import annotations

from cm_bot.storage.models.base import metadata, partial_index, utcnow
from cm_bot.storage.models.case_record import (
    AuditLog,
    Case,
    CaseNote,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    HeldMessage,
    InboundMessage,
    Invite,
    Outbox,
    ProgramSetting,
    PromptToken,
    RescreenPlan,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)
from cm_bot.storage.models.console import (
    ConsoleLink,
    ConsoleSession,
)
from cm_bot.storage.models.directory import (
    ResourceAddress,
    ResourceAttribute,
    ResourceLanguage,
    ResourceLocation,
    ResourceOrganization,
    ResourcePhone,
    ResourceSchedule,
    ResourceService,
    ResourceServiceAtLocation,
    ResourceTaxonomyTerm,
)
from cm_bot.storage.models.referrals import (
    Referral,
    ReferralEvent,
    ReferralOffer,
)

__all__ = [
    "AuditLog",
    "Case",
    "CaseNote",
    "ChannelIdentity",
    "Client",
    "ConsentRecord",
    "ConsoleLink",
    "ConsoleSession",
    "Flag",
    "FlowRun",
    "Goal",
    "HeldMessage",
    "InboundMessage",
    "Invite",
    "Outbox",
    "ProgramSetting",
    "PromptToken",
    "Referral",
    "ReferralEvent",
    "ReferralOffer",
    "RescreenPlan",
    "ResourceAddress",
    "ResourceAttribute",
    "ResourceLanguage",
    "ResourceLocation",
    "ResourceOrganization",
    "ResourcePhone",
    "ResourceSchedule",
    "ResourceService",
    "ResourceServiceAtLocation",
    "ResourceTaxonomyTerm",
    "Response",
    "ScheduledContact",
    "ScoreResult",
    "Staff",
    "metadata",
    "partial_index",
    "utcnow",
]
