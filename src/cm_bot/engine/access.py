"""Who is writing: invite links, staff in private and group chats, strangers.

What is kept of a stranger is bounded and names them only by a salted hash of their
account (:meth:`AccessTurn._stranger_trace`).
"""

from __future__ import annotations

from typing import Any

from cm_bot.domain import (
    InboundKind,
    InviteResult,
)
from cm_bot.engine.ports import StaffView
from cm_bot.engine.staff import StaffDesk
from cm_bot.engine.walk import FlowTurn


class AccessTurn(FlowTurn):
    """A turn that settles who the sender is before anything else is done for them."""

    def _group_message(self) -> None:
        inbound = self.inbound
        assert inbound is not None
        if not self.uow.outbox.already_told_chat(inbound.channel, inbound.chat_id):
            self.locale = self.translator.locale_for(inbound.language)
            self._reply_to_chat(
                self._(
                    "Please message me privately. I only talk one-to-one, "
                    "to keep what you share private."
                )
            )

    def _staff(self, staff: StaffView) -> None:
        """A bound staff member: staff commands and flag buttons, never the client flows."""
        inbound = self.inbound
        assert inbound is not None
        value: Any = None
        token_staff: int | None = None
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.buttons.resolve_token(inbound.payload or "")
            value = token.value if token is not None else {}
            token_staff = token.staff_id if token is not None else None
        elif (inbound.text or "").strip().startswith("/start") and self._start_token(staff):
            return
        self.desk().handle(staff, inbound.chat_id, inbound.text, value, token_staff)

    def _staff_in_group(self, staff: Any) -> bool:
        """Staff act on flag buttons in the team chat; an admin registers that chat."""
        inbound = self.inbound
        assert inbound is not None
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.buttons.resolve_token(inbound.payload or "")
            if token is None or token.staff_id is not None:
                return True  # not a team-chat button: ignore quietly in a group
            self.desk().handle(staff, inbound.chat_id, None, token.value, None)
            return True
        command = (inbound.text or "").strip().split(" ")[0].split("@")[0]
        if command == "/register_team_chat" and staff.sees_all:
            self.uow.cases.set_team_chat(inbound.chat_id)
            self.uow.audit.record(f"staff:{staff.staff_id}", "team_chat_registered", None)
            self.locale = self.translator.locale_for(staff.locale)
            self._reply_to_chat(self._("This chat will now receive urgent flags."))
            return True
        return False

    def _start_token(self, staff: StaffView | None = None) -> bool:
        """``/start <token>``: redeem an invite; True when the message was an invite.

        ``staff``: the sender is bound staff, who never become a client: a client's link
        opened by them binds nothing and stays usable (audited as that staff member).
        """
        inbound = self.inbound
        assert inbound is not None
        word, _sep, token = (inbound.text or "").strip().partition(" ")
        token = token.strip()
        if not token or word.split("@")[0] != "/start":
            return False
        outcome = self.uow.cases.redeem_invite(
            token,
            inbound.channel,
            inbound.user_id,
            inbound.chat_id,
            inbound.received_at,
            as_staff=staff is not None,
        )
        bound = outcome.result in (InviteResult.BOUND_STAFF, InviteResult.BOUND_CLIENT)
        if staff is not None or bound:
            actor = "unknown" if staff is None else f"staff:{staff.staff_id}"
            self.uow.audit.record(actor, f"invite_{outcome.result}", outcome.case_id)
        self.locale = self.translator.locale_for(
            inbound.language if staff is None else staff.locale or inbound.language
        )
        if outcome.result == InviteResult.BOUND_STAFF:
            _ = self._
            self._reply_to_chat(
                _("Welcome, {name}. Flags for your cases will arrive here.").format(
                    name=outcome.staff_name or ""
                )
                + "\n\n"
                + StaffDesk.help(_)
            )
            return True
        if outcome.result == InviteResult.BOUND_CLIENT:
            self.client = self.uow.runs.client_for(inbound.channel, inbound.user_id, lock=True)
            if self.client is not None:
                self.locale = self._client_locale()
                self._idle()
            return True
        # A stranger whose link bound nothing is a stranger: one trace a day (_unknown_person).
        sender = None if staff is not None else self._stranger()
        self._reply_to_chat(self._invite_refused(outcome.result))
        if sender is not None:
            self._stranger_trace(sender, f"invite_{outcome.result}", outcome.case_id)
        return True

    def _invite_refused(self, result: str) -> str:
        """Why a link bound nothing, exactly, and what to do next."""
        _ = self._
        if result == InviteResult.STAFF_NOT_CLIENT:
            return _(
                "This is a client's invite link, and this Telegram account is signed in as "
                "staff, so it changes nothing. The link still works: please pass it to the "
                "client it was made for."
            )
        if result == InviteResult.CASE_ENDED:
            return _(
                "This link is for a case that has ended, so it changes nothing. If you need "
                "help, please contact your case manager."
            )
        if result == InviteResult.EXPIRED:
            return _("This link has expired. Please ask your case manager for a new one.")
        if result == InviteResult.UNKNOWN:
            return _(
                "This link is not valid. Please check that you opened the whole link, or ask "
                "your case manager for a new one."
            )
        return _(
            "This link has already been used, so it changes nothing. Each link works only "
            "once: if you need a new one, please ask your case manager."
        )

    def _unknown_person(self) -> None:
        """Someone no case knows: one short explanation a day, and a trace bounded the same way.

        Anyone can write to the bot, as often as they like. What is kept of them is bounded
        and names them only by a salted hash of their account (:meth:`_stranger_trace`).
        The outbox (``already_told_chat``, on the outbox's clock) keeps the reply to one a
        day.
        """
        inbound = self.inbound
        assert inbound is not None
        if inbound.kind is InboundKind.TEXT and self._start_token():
            return
        sender = self._stranger()
        since = self.uow.now - self.config.unknown_user_reply_every
        if not self.uow.outbox.already_told_chat(inbound.channel, inbound.chat_id, since=since):
            self.locale = self.translator.locale_for(inbound.language)
            self._reply_to_chat(
                self._(
                    "Hello. This service is for clients of our case-management program. "
                    "To get started, please ask your case manager for your personal link."
                )
            )
        self._stranger_trace(sender, "message_from_unknown_person")

    def _stranger(self) -> str:
        """The name of a sender no case knows (:meth:`InboxRepo.unknown_sender`).

        Asked before anything is decided about them: on PostgreSQL it also makes two
        workers handling one stranger's updates take turns.
        """
        inbound = self.inbound
        assert inbound is not None
        return self.uow.inbox.unknown_sender(inbound.channel, inbound.user_id)

    def _stranger_trace(self, sender: str, action: str, case_id: int | None = None) -> None:
        """What is kept of a stranger's update: at most one audit row and one inbox row a day.

        Both name the sender's hash, never their Telegram id. The update that opens the
        sender's day (``unknown_user_reply_every``, on the updates' own clock,
        ``received_at``) writes the audit row and keeps its inbox row, its text dropped (the
        day's mark; a re-delivery of it is a no-op); later ones delete theirs (a
        re-delivery is recorded again and ends the same way). Called last in the turn: the
        inbox row may go.
        """
        inbound, inbound_id = self.inbound, self.inbound_id
        assert inbound is not None and inbound_id is not None
        every = self.config.unknown_user_reply_every
        first = not self.uow.inbox.sender_seen_since(
            inbound.channel, sender, inbound.received_at - every
        )
        if first:
            self.uow.audit.record(
                "unknown", action, case_id, channel=inbound.channel, sender=sender
            )
        self.uow.inbox.name_sender(inbound_id, sender, keep=first, replies=self.outbox_ids)


__all__ = ["AccessTurn"]
