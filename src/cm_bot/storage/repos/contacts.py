"""Scheduled contacts as a turn ends them: answered, or cancelled with the client."""

from __future__ import annotations

from datetime import time

from sqlalchemy import bindparam, or_, select, update

from cm_bot.domain import ContactStatus
from cm_bot.engine.ports import ContactPreferences
from cm_bot.storage.models import Client, ScheduledContact
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
_CANCEL_FOLLOWUPS = (
    update(CONTACT)
    .where(
        CONTACT.c.status == ContactStatus.PENDING.value,
        CONTACT.c.case_id == bindparam("b_case"),
        CONTACT.c.kind == "followup",
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

    def cancel_followups(self, case_id: int, outcome: str) -> int:
        """Cancel the case's pending post-exit follow-ups (the client declined them)."""
        result = self._change(
            _CANCEL_FOLLOWUPS,
            {"b_case": case_id, "b_outcome": outcome, "b_now": self.now},
            ScheduledContact,
        )
        return int(result.rowcount or 0)

    def narrow_hours(self, client_id: int, start: time, end: time) -> bool:
        """Intersect the client's contact hours with ``start``-``end``; never widen them.

        An empty intersection changes nothing (the client keeps the hours they had).
        """
        client = self.session.get(Client, client_id)
        if client is None:
            return False
        new_start = max(start, client.contact_start) if client.contact_start else start
        new_end = min(end, client.contact_end) if client.contact_end else end
        if new_start >= new_end:
            return False
        if (new_start, new_end) == (client.contact_start, client.contact_end):
            return False
        client.contact_start, client.contact_end = new_start, new_end
        self.session.add(client)
        return True

    def preferences(self, client_id: int) -> ContactPreferences | None:
        """The client's safe-contact preferences, copied out of the row."""
        client = self.session.get(Client, client_id)
        if client is None:
            return None
        return ContactPreferences(
            message_first=client.message_first,
            contact_start=client.contact_start,
            contact_end=client.contact_end,
            safe_word_hash=client.safe_word_hash,
        )

    def set_preferences(
        self,
        client_id: int,
        *,
        message_first: bool | None,
        hours: tuple[time, time] | None,
        safe_word_hash: str | None,
    ) -> None:
        """Store the answers: the hours start again from the program's (then narrowed)."""
        client = self.session.get(Client, client_id)
        if client is None:
            return
        client.message_first = message_first
        client.contact_start, client.contact_end = (None, None)
        client.safe_word_hash = safe_word_hash
        self.session.add(client)
        self.session.flush()
        if hours is not None:
            self.narrow_hours(client_id, *hours)

    def clear_preferences(self, client_id: int) -> None:
        """Forget every preference: asked again after a new consent."""
        self.set_preferences(client_id, message_first=None, hours=None, safe_word_hash=None)


__all__ = ["SqlContacts"]
