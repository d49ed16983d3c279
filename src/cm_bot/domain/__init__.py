"""Pure values shared by every layer: inbound events, outbound messages, flags.

Nothing here does I/O or imports a Telegram library or SQL, so the engine, the
channels and the store can all agree on these shapes.
"""

from cm_bot.domain.events import Inbound, InboundKind
from cm_bot.domain.messages import Button, Outbound, Priority
from cm_bot.domain.values import (
    CaseStatus,
    ClientStatus,
    ContactStatus,
    FlagStatus,
    GoalStatus,
    InboxStatus,
    InviteResult,
    OutboxKind,
    OutboxStatus,
    ReferralReason,
    ReferralStatus,
    RunStatus,
    ServiceStatus,
    Severity,
    StaffRole,
)

__all__ = [
    "Button",
    "CaseStatus",
    "ClientStatus",
    "ContactStatus",
    "FlagStatus",
    "GoalStatus",
    "Inbound",
    "InboundKind",
    "InboxStatus",
    "InviteResult",
    "Outbound",
    "OutboxKind",
    "OutboxStatus",
    "Priority",
    "ReferralReason",
    "ReferralStatus",
    "RunStatus",
    "ServiceStatus",
    "Severity",
    "StaffRole",
]
