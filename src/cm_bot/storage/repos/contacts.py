"""Scheduled contacts as a turn ends them: answered, or cancelled with the client."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select, update

from cm_bot.domain import ContactStatus
from cm_bot.storage.models import ScheduledContact
from cm_bot.storage.repos.base import CASE, CONTACT, Repo, one_of

_CONTACT_FINISHED = (
    update(CONTACT)
    .where(
        CONTACT.c.id == bindparam("b_id"),
        one_of(CONTACT.c.status, (ContactStatus.PENDING.value, ContactStatus.SENT.value)),
    )
    .values(
        status=ContactStatus.ANSWERED.value,
        outcome=bindparam("b_outcome"),
        updated_at=bindparam("b_now"),
    )
)
_CANCEL_CONTACTS = (
    update(CONTACT)
    .where(
        CONTACT.c.status == ContactStatus.PENDING.value,
        or_(
            CONTACT.c.client_id == bindparam("b_client"),
            CONTACT.c.case_id.in_(
                select(CASE.c.id).where(CASE.c.client_id == bindparam("b_client"))
            ),
        ),
    )
    .values(
        status=ContactStatus.CANCELLED.value,
        outcome=bindparam("b_outcome"),
        updated_at=bindparam("b_now"),
    )
)


class SqlContacts(Repo):
    """Implements :class:`cm_bot.engine.ports.ContactsRepo`."""

    def contact_finished(self, contact_id: int, outcome: str) -> None:
        """Record that the client answered (or a rule ended) the contact's flow."""
        self._change(
            _CONTACT_FINISHED,
            {"b_id": contact_id, "b_outcome": outcome, "b_now": self.now},
            ScheduledContact,
        )

    def cancel_contacts(self, client_id: int, outcome: str) -> int:
        """Cancel pending contacts of the client's cases."""
        result = self._change(
            _CANCEL_CONTACTS,
            {"b_client": client_id, "b_outcome": outcome, "b_now": self.now},
            ScheduledContact,
        )
        return int(result.rowcount or 0)


__all__ = ["SqlContacts"]
