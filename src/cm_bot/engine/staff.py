"""The staff side of the conversation: flag notices, one-tap actions, case commands.

Staff are an allow-list: only a Telegram account bound through a staff invite is
staff. Every read of case data and every refused attempt is audited. Notices
carry the minimum necessary: case ref, severity, reason, the question as the
client saw it with a non-free-text answer (or, for a score rule, the score and
its band), and when, in the reader's own time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cm_bot.domain import Button, Outbound
from cm_bot.domain.values import CADENCES, FlagStatus
from cm_bot.engine.notices import (
    PRIORITY,
    Gettext,
    Shown,
    answer_label,
    flow_scores,
    notice_text,
    score_line,
    shorten,
    shown_answer,
    step_of,
    when,
)
from cm_bot.engine.ports import StaffView
from cm_bot.engine.staff_access import sees_case
from cm_bot.engine.staff_alerts import ESCALATED, HANDED_OVER, MANAGER_UNREACHABLE
from cm_bot.engine.staff_commands import (
    INVITE_TTL,
    STAFF_COMMANDS,
    CommandDesk,
    invite_link,
)
from cm_bot.engine.zones import zone_of


class StaffDesk(CommandDesk):
    """Staff-facing work inside one unit of work; writes everything to the outbox.

    The top of three layers: flag notices (:class:`~cm_bot.engine.staff_alerts.AlertDesk`),
    the commands (:class:`~cm_bot.engine.staff_commands.CommandDesk`), and here the routing
    of a staff member's message or button press to them.
    """

    # -- staff messages --------------------------------------------------------------------

    def handle(
        self,
        staff: StaffView,
        chat_id: str,
        text: str | None,
        token_value: Any | None,
        token_staff: int | None,
    ) -> None:
        """One message or button press from a bound staff member."""
        _ = self.translator.get(staff.locale).gettext

        def reply(
            message: str, buttons: Sequence[Sequence[Button]] = (), *, case: int | None = None
        ) -> None:
            """``case``: the reply quotes that case (erased with it)."""
            out = Outbound(
                channel="telegram",
                chat_id=chat_id,
                text=message,
                buttons=tuple(tuple(r) for r in buttons),
            )
            self.outbox_ids.append(
                self.uow.outbox.enqueue(
                    out, staff_id=staff.staff_id, inbound_id=self.inbound_id, case_id=case
                )
            )

        if token_value is not None:
            self._button(staff, token_value, token_staff, reply, _)
            return
        word, _sep, rest = (text or "").strip().partition(" ")
        command = word.lstrip("/").split("@", 1)[0].casefold()
        rest = rest.strip()
        handler = STAFF_COMMANDS.get(command)
        if handler is None:
            reply(self.help(_))
        else:
            handler(self, staff, rest, reply, _)

    def _button(
        self,
        staff: StaffView,
        value: Any,
        token_staff: int | None,
        reply: Callable[..., None],
        _: Gettext,
    ) -> None:
        if (
            not isinstance(value, dict)
            or "flag" not in value
            or (token_staff is not None and token_staff != staff.staff_id)
        ):
            self.uow.audit.record(f"staff:{staff.staff_id}", "unknown_button", None)
            reply(_("That button is no longer valid."))
            return
        flag = self.uow.flags.flag_view(int(value["flag"]))
        if flag is None:
            reply(_("That button is no longer valid."))
            return
        if not sees_case(staff, flag.manager_id):
            self.uow.audit.record(f"staff:{staff.staff_id}", "access_refused", flag.case_id)
            reply(_("You don't have access to case {ref}.").format(ref=flag.case_ref or "—"))
            return
        act = value.get("act")
        if act == "open" and flag.case_id is not None:
            self.uow.audit.record(f"staff:{staff.staff_id}", "read_case", flag.case_id)
            reply(self.summary(flag.case_id, _, zone_of(staff.timezone)), case=flag.case_id)
            return
        status = {"ack": FlagStatus.ACKNOWLEDGED, "resolve": FlagStatus.RESOLVED}.get(str(act))
        if status is None:
            return
        if self.uow.flags.act_on_flag(flag.flag_id, status, staff.staff_id, self.now):
            self.refresh_notices(flag.flag_id)
            if status == FlagStatus.RESOLVED:
                self.end_pause(flag)


__all__ = [
    "CADENCES",
    "ESCALATED",
    "HANDED_OVER",
    "INVITE_TTL",
    "MANAGER_UNREACHABLE",
    "PRIORITY",
    "STAFF_COMMANDS",
    "Gettext",
    "Shown",
    "StaffDesk",
    "answer_label",
    "flow_scores",
    "invite_link",
    "notice_text",
    "score_line",
    "shorten",
    "shown_answer",
    "step_of",
    "when",
]
