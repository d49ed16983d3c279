"""The staff side of the conversation: flag notices, one-tap actions, case commands.

Staff are an allow-list: only a Telegram account bound through a staff invite is
staff. Every read of case data and every refused attempt is audited. Notices
carry the minimum necessary: case ref, severity, reason, the question key and a
non-free-text answer, and when.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cm_bot.domain import Button, Outbound, Priority, Severity
from cm_bot.engine.ports import FlagView, StaffTarget, StaffUnitOfWork, StaffView
from cm_bot.engine.safety import resumed
from cm_bot.i18n.translator import N_, Translator

SEVERITY_NAMES = {
    Severity.URGENT: N_("Urgent"),
    Severity.HIGH: N_("High"),
    Severity.ROUTINE: N_("Routine"),
}
SEVERITY_MARKS = {Severity.URGENT: "🔴", Severity.HIGH: "🟠", Severity.ROUTINE: "🔵"}
PRIORITY = {
    Severity.URGENT: Priority.URGENT,
    Severity.HIGH: Priority.HIGH,
    Severity.ROUTINE: Priority.NORMAL,
}
CADENCES = ("weekly", "fortnightly", "monthly")
# Stored status words, shown to staff in their language.
WORDS = {
    "intake": N_("intake"),
    "active": N_("active"),
    "exited": N_("exited"),
    "closed": N_("closed"),
    "granted": N_("granted"),
    "declined": N_("declined"),
    "withdrawn": N_("withdrawn"),
    "answered": N_("answered"),
    "no_response": N_("no response"),
    "unreachable": N_("unreachable"),
    "opted_out": N_("opted out"),
    "no_consent": N_("no current consent"),
}
INVITE_TTL = timedelta(days=14)

Gettext = Callable[[str], str]
log = logging.getLogger(__name__)
MAX_EXIT_AHEAD = timedelta(days=366)  # /exit dates: from the case's opening to a year ahead
HELD_TEXT = 300  # characters of each held message /case shows


def when(moment: datetime | None) -> str:
    """A time as staff read it: UTC, to the minute."""
    if moment is None:
        return "—"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def notice_text(flag: FlagView, _: Gettext) -> str:
    """The body of a flag notice, with its current status."""
    severity = Severity(flag.severity)
    translate = _  # reasons are data (marked N_ where they are written), not literals here
    lines = [
        SEVERITY_MARKS[severity]
        + " "
        + _("{severity} flag — case {ref}").format(
            severity=_(SEVERITY_NAMES[severity]), ref=flag.case_ref or "—"
        ),
        _("Reason: {reason}").format(reason=translate(flag.reason)),
    ]
    if flag.source_key:
        answer = "—" if flag.source_value is None else str(flag.source_value)
        lines.append(
            _("Question: {key} — answer: {answer}").format(key=flag.source_key, answer=answer)
        )
    lines.append(_("Raised: {time}").format(time=when(flag.created_at)))
    if severity is Severity.URGENT and flag.client_id is not None and flag.status != "resolved":
        lines.append(_("The bot is paused for this client until the flag is resolved."))
    if flag.held:
        lines.append(
            _("New messages from the client: {count} (with words of crisis: {crisis})").format(
                count=flag.held, crisis=flag.held_crisis
            )
            + " — /case "
            + (flag.case_ref or "")
        )
    if flag.status == "acknowledged":
        lines.append(
            _("Acknowledged by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at)
            )
        )
    elif flag.status == "resolved":
        lines.append(
            _("Resolved by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at)
            )
        )
    return "\n".join(lines)


@dataclass
class StaffDesk:
    """Staff-facing work inside one unit of work; writes everything to the outbox."""

    uow: StaffUnitOfWork
    translator: Translator
    outbox_ids: list[int]
    inbound_id: int | None = None
    bot_username: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    # -- notices ---------------------------------------------------------------------

    def _buttons(self, flag: FlagView, staff_id: int | None, _: Gettext) -> list[list[Button]]:
        def button(label: str, act: str) -> Button:
            return Button(
                _(label), self.uow.staff_token(staff_id, {"flag": flag.flag_id, "act": act})
            )

        row = []
        if flag.status == "open":
            row.append(button(N_("Acknowledge"), "ack"))
        if flag.status != "resolved":
            row.append(button(N_("Resolve"), "resolve"))
        row.append(button(N_("Open case"), "open"))
        return [row]

    def alert(self, flag_id: int, targets: Sequence[StaffTarget], severity: Severity) -> None:
        """Tell the case manager; when they cannot be reached, supervisors and the team at once.

        A case manager with no linked Telegram, who blocked the bot or was deactivated is
        no target (``staff_targets``); an urgent or high flag then goes straight to the
        supervisors, admins and team chat rather than waiting for escalation.
        """
        team = severity is Severity.URGENT
        if not targets and severity in (Severity.URGENT, Severity.HIGH):
            targets = self.uow.escalation_targets()
            team = True
            # Escalated now, so the timed escalation does not tell the same people again.
            self.uow.mark_escalated(flag_id, self.now)
        if not self.notify(flag_id, targets, team=team) and severity is not Severity.ROUTINE:
            log.warning(
                "%s flag %s reaches nobody: no case manager, supervisor, admin or team chat "
                "can be reached on Telegram",
                severity.value,
                flag_id,
            )

    def notify(self, flag_id: int, targets: Sequence[StaffTarget], *, team: bool) -> int:
        """Send a flag notice to each target (and the team chat for urgent ones)."""
        flag = self.uow.flag_view(flag_id)
        if flag is None:
            return 0
        destinations: list[tuple[str, str, int | None, str | None]] = [
            (t.channel, t.chat_id, t.staff_id, t.locale) for t in targets
        ]
        team_chat = self.uow.team_chat() if team else None
        if team_chat:
            destinations.append(("telegram", team_chat, None, None))
        for channel, chat_id, staff_id, locale in destinations:
            _ = self.translator.get(locale).gettext
            message = Outbound(
                channel=channel,
                chat_id=chat_id,
                text=notice_text(flag, _),
                buttons=tuple(tuple(r) for r in self._buttons(flag, staff_id, _)),
                priority=PRIORITY[Severity(flag.severity)],
            )
            self.outbox_ids.append(
                self.uow.enqueue(
                    message, staff_id=staff_id, flag_id=flag_id, inbound_id=self.inbound_id
                )
            )
        return len(destinations)

    def refresh_notices(self, flag_id: int) -> None:
        """Edit every notice about a flag to show its new status (and the buttons left)."""
        flag = self.uow.flag_view(flag_id)
        if flag is None:
            return
        for outbox_id, channel, chat_id in self.uow.notices_of(flag_id):
            _ = self.translator.get(None).gettext
            message = Outbound(
                channel=channel,
                chat_id=chat_id,
                text=notice_text(flag, _),
                buttons=tuple(tuple(r) for r in self._buttons(flag, None, _)),
                priority=Priority.HIGH,
                edit_of=outbox_id,
            )
            self.outbox_ids.append(
                self.uow.enqueue(message, flag_id=flag_id, inbound_id=self.inbound_id)
            )

    def escalate(self, now: datetime, urgent_after: timedelta, high_after: timedelta) -> int:
        """Tell supervisors about urgent/high flags nobody acknowledged in time (once each)."""
        count = 0
        for severity, after in (("urgent", urgent_after), ("high", high_after)):
            for flag in self.uow.due_escalations(severity, now - after):
                self.uow.mark_escalated(flag.flag_id, now)
                self.uow.audit("system", "flag_escalated", flag.case_id, flag_id=flag.flag_id)
                if not self.notify(
                    flag.flag_id, self.uow.escalation_targets(), team=severity == "urgent"
                ):
                    log.warning(
                        "%s flag %s could not be escalated: no supervisor, admin or team "
                        "chat can be reached on Telegram",
                        severity,
                        flag.flag_id,
                    )
                count += 1
        return count

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

        def reply(message: str, buttons: Sequence[Sequence[Button]] = ()) -> None:
            out = Outbound(
                channel="telegram",
                chat_id=chat_id,
                text=message,
                buttons=tuple(tuple(r) for r in buttons),
            )
            self.outbox_ids.append(
                self.uow.enqueue(out, staff_id=staff.staff_id, inbound_id=self.inbound_id)
            )

        if token_value is not None:
            self._button(staff, token_value, token_staff, reply, _)
            return
        word, _sep, rest = (text or "").strip().partition(" ")
        command = word.lstrip("/").split("@", 1)[0].casefold()
        rest = rest.strip()
        handlers: dict[str, Callable[[], None]] = {
            "flags": lambda: self._flags(staff, reply, _),
            "case": lambda: self._case(staff, rest, reply, _),
            "goal": lambda: self._goal(staff, rest, reply, _),
            "note": lambda: self._note(staff, rest, reply, _),
            "exit": lambda: self._exit(staff, rest, reply, _),
            "invite": lambda: self._invite(staff, rest, reply, _),
        }
        handler = handlers.get(command)
        if handler is None:
            reply(self.help(_))
        else:
            handler()

    @staticmethod
    def help(_: Gettext) -> str:
        """Staff commands."""
        return _(
            "Staff commands:\n"
            "/flags — open flags, most severe first\n"
            "/case REF — a case at a glance, with messages kept during a pause\n"
            "/goal REF text — add a goal (checked in weekly)\n"
            "/note REF text — add a case note\n"
            "/exit REF [YYYY-MM-DD] — exit a case and schedule follow-ups\n"
            "/invite REF — a new invite link for the client"
        )

    def _allowed(self, staff: StaffView, ref: str, reply: Callable[[str], None], _: Gettext) -> Any:
        case = self.uow.case_by_ref(ref) if ref else None
        if case is None:
            reply(_("No case {ref}. Send a case reference like C-0001.").format(ref=ref or "—"))
            return None
        if not staff.sees_all and case.manager_id != staff.staff_id:
            self.uow.audit(f"staff:{staff.staff_id}", "access_refused", case.case_id)
            reply(_("You don't have access to case {ref}.").format(ref=case.ref))
            return None
        return case

    def _flags(self, staff: StaffView, reply: Callable[..., None], _: Gettext) -> None:
        flags = self.uow.open_flags(staff, limit=20)
        self.uow.audit(f"staff:{staff.staff_id}", "read_flags", None, count=len(flags))
        if not flags:
            reply(_("No open flags."))
            return
        for flag in flags[:10]:
            reply(notice_text(flag, _), self._buttons(flag, staff.staff_id, _))
        if len(flags) > 10:
            reply(_("…and {count} more.").format(count=len(flags) - 10))

    def _case(self, staff: StaffView, ref: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, ref.split(" ")[0], reply, _)
        if case is None:
            return
        self.uow.audit(f"staff:{staff.staff_id}", "read_case", case.case_id)
        reply(self.summary(case.case_id, _))

    def summary(self, case_id: int, _: Gettext) -> str:
        """``/case``: status, consent, scores, goals, open flags, next contact."""
        data = self.uow.case_summary(case_id)
        translate = _
        lines = [
            _("Case {ref} — {status}").format(
                ref=data["ref"], status=_(WORDS.get(data["status"], data["status"]))
            )
        ]
        consent = data["consent"]
        if consent is None:
            lines.append(_("Consent: not yet given"))
        else:
            lines.append(
                _("Consent: {action} (version {version}, {time})").format(
                    action=_(WORDS.get(consent["action"], consent["action"])),
                    version=consent["version"],
                    time=when(consent["at"]),
                )
            )
        for score in data["scores"]:
            value = "—" if score["score"] is None else f"{score['score']:g}"
            extra = score["band"] or ", ".join(score["positive_domains"] or []) or "—"
            lines.append(
                _("Score {name}: {value} ({band})").format(
                    name=score["id"], value=value, band=extra
                )
            )
        for goal in data["goals"]:
            progress = "—" if goal["last_progress"] is None else str(goal["last_progress"])
            lines.append(
                _("Goal: {text} — last progress {progress}/10").format(
                    text=goal["text"], progress=progress
                )
            )
        for flag in data["open_flags"]:
            lines.append(
                _("Open flag #{id}: {severity} — {reason}").format(
                    id=flag["id"],
                    severity=_(SEVERITY_NAMES[Severity(flag["severity"])]),
                    reason=translate(flag["reason"]),
                )
            )
        if data["followup_outcome"]:
            lines.append(
                _("Follow-up outcome: {outcome}").format(
                    outcome=_(WORDS.get(data["followup_outcome"], data["followup_outcome"]))
                )
            )
        contact = data["next_contact"]
        lines.append(
            _("Next contact: {when}").format(when=when(contact["due_at"]) if contact else "—")
        )
        if data["held"]:
            lines.append("")
            lines.append(
                _("Messages kept while the bot was paused ({shown} of {total}):").format(
                    shown=len(data["held"]), total=data["held_total"]
                )
            )
            for held in data["held"]:
                text = held["text"] or _("[no text: {kind}]").format(kind=held["kind"])
                if len(text) > HELD_TEXT:
                    text = text[:HELD_TEXT] + "…"
                mark = " ⚠" if held["crisis"] else ""
                lines.append(f"{when(held['at'])}{mark}: {text}")
        return "\n".join(lines)

    def _goal(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _)
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the goal's text: /goal REF text"))
            return
        self.uow.add_goal(case.case_id, text.strip(), "weekly", None, staff.staff_id)
        reply(_("Goal added to {ref}. Check-ins will be weekly.").format(ref=case.ref))

    def _note(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _)
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the note's text: /note REF text"))
            return
        self.uow.add_note(case.case_id, staff.staff_id, text.strip())
        reply(_("Note added to {ref}.").format(ref=case.ref))

    def _exit(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, day = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _)
        if case is None:
            return
        try:
            exit_day = date.fromisoformat(day.strip()) if day.strip() else self.now.date()
        except ValueError:
            reply(_("Please give the exit date as YYYY-MM-DD."))
            return
        opened = (case.opened_at or self.now).date()
        latest = (self.now + MAX_EXIT_AHEAD).date()
        if not opened <= exit_day <= latest:
            reply(
                _("The exit date must be between {first} and {last}.").format(
                    first=opened.isoformat(), last=latest.isoformat()
                )
            )
            return
        self.uow.exit_case(case.case_id, datetime.combine(exit_day, datetime.min.time(), UTC))
        self.uow.audit(f"staff:{staff.staff_id}", "case_exited", case.case_id)
        reply(_("Case {ref} exited on {day}.").format(ref=case.ref, day=exit_day.isoformat()))

    def _invite(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, rest.split(" ")[0], reply, _)
        if case is None:
            return
        token = self.uow.create_invite(
            "client", case_id=case.case_id, staff_id=None, expires_at=self.now + INVITE_TTL
        )
        self.uow.audit(f"staff:{staff.staff_id}", "invite_created", case.case_id)
        reply(
            _("Invite link for {ref} (single use, valid 14 days):\n{link}").format(
                ref=case.ref, link=invite_link(self.bot_username, token)
            )
        )

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
            self.uow.audit(f"staff:{staff.staff_id}", "unknown_button", None)
            reply(_("That button is no longer valid."))
            return
        flag = self.uow.flag_view(int(value["flag"]))
        if flag is None:
            reply(_("That button is no longer valid."))
            return
        if not staff.sees_all and flag.manager_id != staff.staff_id:
            self.uow.audit(f"staff:{staff.staff_id}", "access_refused", flag.case_id)
            reply(_("You don't have access to case {ref}.").format(ref=flag.case_ref or "—"))
            return
        act = value.get("act")
        if act == "open" and flag.case_id is not None:
            self.uow.audit(f"staff:{staff.staff_id}", "read_case", flag.case_id)
            reply(self.summary(flag.case_id, _))
            return
        status = {"ack": "acknowledged", "resolve": "resolved"}.get(str(act))
        if status is None:
            return
        if self.uow.act_on_flag(flag.flag_id, status, staff.staff_id, self.now):
            self.refresh_notices(flag.flag_id)
            if status == "resolved":
                self.end_pause(flag)

    def end_pause(self, flag: FlagView) -> None:
        """A resolved urgent flag ends the client's pause: tell them once, in their language.

        Their next message carries on where the conversation stopped (the engine).
        """
        if flag.severity != Severity.URGENT.value or flag.client_id is None:
            return
        if self.uow.open_urgent_flag(flag.client_id) is not None:
            return  # another urgent flag still holds the pause
        client = self.uow.client_by_id(flag.client_id)
        if client is None or client.status != "active":
            return  # withdrawn, declined, erased or unreachable: no contact
        _ = self.translator.get(client.locale).gettext
        message = Outbound(
            channel=client.channel,
            chat_id=client.chat_id,
            text=resumed(_),
            priority=Priority.HIGH,
        )
        self.outbox_ids.append(
            self.uow.enqueue(message, client_id=client.client_id, inbound_id=self.inbound_id)
        )
        self.uow.audit("system", "pause_ended", flag.case_id, flag_id=flag.flag_id)


def invite_link(bot_username: str | None, token: str) -> str:
    """A Telegram deep link that starts the bot with the token."""
    return f"https://t.me/{bot_username or 'your_bot'}?start={token}"


__all__ = ["CADENCES", "INVITE_TTL", "StaffDesk", "invite_link", "notice_text", "when"]
