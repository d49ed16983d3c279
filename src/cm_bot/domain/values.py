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


class ContactStatus(StrEnum):
    """A scheduled contact's life (``scheduledcontact.status``)."""

    PENDING = "pending"  # planned, not yet sent
    SENT = "sent"  # its flow started; waiting for the answer
    ANSWERED = "answered"
    NO_RESPONSE = "no_response"  # a follow-up unanswered after its reminder
    MISSED = "missed"  # a check-in unanswered within its window
    CANCELLED = "cancelled"
    # Not safe to message the client first: a task for the case manager (call or see them).
    STAFF_TASK = "staff_task"


class InboxStatus(StrEnum):
    """An inbound update's life (``inboundmessage.status``)."""

    PENDING = "pending"  # recorded (acked), not yet handled
    DONE = "done"
    DEAD = "dead"  # failed too often: dead-lettered


class OutboxStatus(StrEnum):
    """An outgoing message's life (``outbox.status``)."""

    PENDING = "pending"
    CLAIMED = "claimed"  # taken by a sender
    SENDING = "sending"  # handed to the channel; the answer not yet known
    SENT = "sent"
    UNKNOWN = "unknown"  # the channel may or may not have delivered it
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxKind(StrEnum):
    """What an outbox row asks the channel to do (``outbox.kind``)."""

    MESSAGE = "message"  # send (or edit) a message
    DELETE = "delete"  # delete earlier messages of the chat (``outbox.delete_ids``, up to 100)


class GoalStatus(StrEnum):
    """A goal's life (``goal.status``): only active goals are checked in on."""

    ACTIVE = "active"
    MET = "met"
    CHANGED = "changed"
    DROPPED = "dropped"


class StaffRole(StrEnum):
    """What a staff member may do."""

    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class InviteResult(StrEnum):
    """What redeeming a deep-link invite did (``InviteOutcome.result``)."""

    BOUND_CLIENT = "bound_client"
    BOUND_STAFF = "bound_staff"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    ALREADY_BOUND = "already_bound"
    CASE_ENDED = "case_ended"
    STAFF_NOT_CLIENT = "staff_not_client"  # a staff member opened a client's invite


class ServiceStatus(StrEnum):
    """A directory service's status (Open Referral HSDS 3.0); only ``active`` is offered.

    A service missing from a re-import of the directory becomes ``inactive``: it is kept,
    because referrals point at it.
    """

    ACTIVE = "active"
    INACTIVE = "inactive"
    DEFUNCT = "defunct"
    TEMPORARILY_CLOSED = "temporarily closed"


class ReferralStatus(StrEnum):
    """A referral's status: the Gravity Project's referral Task statuses, and self-referral.

    ``requested`` (the client asked to be referred), then ``accepted`` / ``rejected`` by the
    service, ``in_progress``, and an end: ``completed``, ``cancelled`` or ``failed``.
    ``self_referred``: the client contacts the service themselves.
    """

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    SELF_REFERRED = "self_referred"


class ReferralReason(StrEnum):
    """Why a referral reached its status (optional; findhelp's outcome reasons)."""

    GOT_HELP = "got_help"
    COULD_NOT_CONTACT = "could_not_contact"
    NOT_ELIGIBLE = "not_eligible"
    NO_CAPACITY = "no_capacity"
    NO_LONGER_INTERESTED = "no_longer_interested"
    REFERRED_ELSEWHERE = "referred_elsewhere"
    OTHER = "other"


# How often a goal is checked in on (stored on the goal; the planner spaces check-ins by it).
CADENCES = ("weekly", "fortnightly", "monthly")
