"""Closed vocabularies stored in the case record; their string values are stable in the database."""

from enum import StrEnum


class Severity(StrEnum):
    """How soon a human must look at a flag."""

    URGENT = "urgent"
    HIGH = "high"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """Sort key: most severe first."""
        return {"urgent": 0, "high": 1, "routine": 2}[self.value]


class FlagStatus(StrEnum):
    """A flag's life: raised, seen by a person, dealt with."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ClientStatus(StrEnum):
    """Whether the bot may talk to and collect from this person."""

    ACTIVE = "active"
    DECLINED = "declined"  # declined the required consent purpose
    WITHDRAWN = "withdrawn"  # withdrew consent: no collection, no contact
    UNREACHABLE = "unreachable"  # blocked the bot or the account is gone
    ERASED = "erased"


class CaseStatus(StrEnum):
    """Where the case is in the case-management cycle."""

    INTAKE = "intake"
    ACTIVE = "active"
    EXITED = "exited"
    CLOSED = "closed"


class RunStatus(StrEnum):
    """One walk through one flow."""

    ACTIVE = "active"
    PAUSED = "paused"  # /stop: kept, offered again on the next message
    COMPLETED = "completed"
    ENDED = "ended"  # ended early by a rule (e.g. consent declined, crisis path)
    ABANDONED = "abandoned"  # replaced by a restart


# How often a goal is checked in on (stored on the goal; the planner spaces check-ins by it).
CADENCES = ("weekly", "fortnightly", "monthly")
