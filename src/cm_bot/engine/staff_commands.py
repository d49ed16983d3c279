"""Staff commands (``/flags``, ``/case REF`` ...): each handler registers itself by name.

The second layer of the staff desk: :class:`CommandDesk` adds the commands to the
notices of :class:`~cm_bot.engine.staff_alerts.AlertDesk`;
:class:`cm_bot.engine.staff.StaffDesk` routes a staff member's message to them. Every
read of case data and every refused attempt is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cm_bot.domain import CaseStatus, GoalStatus, ReferralReason, ReferralStatus
from cm_bot.domain.rescreen import RESCREEN_INSTRUMENTS, STOP, every_text, parse_every
from cm_bot.engine.case_summary import GOAL_STATUS_NAMES, case_summary
from cm_bot.engine.exiting import EXIT_FLOW, exit_context
from cm_bot.engine.notices import (
    REFERRAL_REASON_WORDS,
    REFERRAL_STATUS_WORDS,
    Gettext,
    when,
)
from cm_bot.engine.ports import CaseView, ReferralView, StaffView
from cm_bot.engine.registry import Registry
from cm_bot.engine.staff_access import sees_case
from cm_bot.engine.staff_alerts import AlertDesk
from cm_bot.engine.zones import zone_named, zone_of

INVITE_TTL = timedelta(days=14)
MAX_EXIT_AHEAD = timedelta(days=366)  # /exit dates: from the case's opening to a year ahead
REF_AUDITED = 20  # characters of a typed case ref kept in the audit log and echoed back
RESCREEN_NAMES = {"phq9": "PHQ-9", "gad7": "GAD-7"}  # as staff name the instruments

# Staff commands by name (``/flags``, ``/case REF`` ...); each handler registers itself
# below. Called with the desk, the staff member, the text after the command, ``reply``
# and their gettext.
StaffCommand = Callable[
    ["CommandDesk", StaffView, str, Callable[..., None], Callable[[str], str]], None
]
STAFF_COMMANDS: Registry[StaffCommand] = Registry()


class CommandDesk(AlertDesk):
    """The staff commands, on top of the flag notices."""

    @staticmethod
    def help(_: Gettext) -> str:
        """Staff commands."""
        return (
            _(
                "Staff commands:\n"
                "/flags — open flags, most severe first\n"
                "/case REF — a case at a glance, with messages kept during a pause\n"
                "/goal REF text — add a goal (checked in weekly)\n"
                "/note REF text — add a case note\n"
                "/exit REF [YYYY-MM-DD] — exit a case and schedule follow-ups\n"
                "/invite REF — a new invite link for the client\n"
                "/timezone Europe/Kyiv — show times in your time zone\n"
                "/console — a sign-in link to the web console"
            )
            + "\n"
            + _("/referral ID STATUS [reason] — update a referral (see /case REF)")
            + "\n"
            + _("/rescreen REF phq9|gad7 4w — repeat the PHQ-9 or GAD-7 (off stops it)")
            + "\n"
            + _("/goalstatus REF ID met|changed|dropped|active — a goal's status")
        )

    def _allowed(
        self,
        staff: StaffView,
        ref: str,
        reply: Callable[[str], None],
        _: Gettext,
        command: str = "case",
    ) -> Any:
        if not ref:
            reply(
                _("Send /{command} followed by a case reference, e.g. /{command} C-0001").format(
                    command=command
                )
            )
            return None
        case = self.uow.cases.case_by_ref(ref)
        if case is None or not sees_case(staff, case.manager_id):
            # One reply for a ref that does not exist and one of another caseload, so refs
            # cannot be probed; both attempts are audited.
            self.uow.audit.record(
                f"staff:{staff.staff_id}",
                "access_refused",
                None if case is None else case.case_id,
                command=command,
                **({"ref": ref[:REF_AUDITED]} if case is None else {}),
            )
            reply(
                _("No case {ref} in your caseload. Send a case reference like C-0001.").format(
                    ref=ref[:REF_AUDITED]
                )
            )
            return None
        return case

    @STAFF_COMMANDS.register("flags")
    def _flags(self, staff: StaffView, _rest: str, reply: Callable[..., None], _: Gettext) -> None:
        flags = self.uow.flags.open_flags(staff, limit=20)
        shown = flags[:10]
        self.uow.audit.record(
            f"staff:{staff.staff_id}",
            "read_flags",
            None,
            count=len(flags),
            cases=sorted({f.case_id for f in shown if f.case_id is not None}),
            flags=[f.flag_id for f in shown],
        )
        if not flags:
            reply(_("No open flags."))
            return
        for flag in shown:
            reply(
                self.notice(flag, staff.locale, staff.timezone),
                self._buttons(flag, staff.staff_id, _),
                case=flag.case_id,
            )
        if len(flags) > 10:
            reply(_("…and {count} more.").format(count=len(flags) - 10))

    @STAFF_COMMANDS.register("case")
    def _case(self, staff: StaffView, ref: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, ref.split(" ")[0], reply, _)
        if case is None:
            return
        self.uow.audit.record(f"staff:{staff.staff_id}", "read_case", case.case_id)
        reply(self.summary(case.case_id, _, zone_of(staff.timezone)), case=case.case_id)

    @STAFF_COMMANDS.register("timezone")
    def _timezone(
        self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/timezone Europe/Kyiv``: the zone this staff member reads every time in."""
        if not rest:
            reply(
                _(
                    "Times are shown in {zone}. To change this, send /timezone followed by "
                    "your time zone, e.g. /timezone Europe/Kyiv"
                ).format(zone=zone_of(staff.timezone).key)
            )
            return
        zone = zone_named(rest)
        if zone is None:
            reply(
                _(
                    "Sorry, I don't know that time zone. Please send a name from the time zone "
                    "list, e.g. /timezone Europe/Kyiv or /timezone America/New_York "
                    "(/timezone UTC for UTC)."
                )
            )
            return
        self.uow.cases.set_staff_timezone(staff.staff_id, zone.key)
        self.uow.audit.record(
            f"staff:{staff.staff_id}", "staff_timezone_set", None, timezone=zone.key
        )
        reply(
            _("Done. Times are now shown in {zone} (now: {time}).").format(
                zone=zone.key, time=when(self.now, zone)
            )
        )

    def summary(self, case_id: int, _: Gettext, zone: ZoneInfo | None = None) -> str:
        """``/case``: status, consent, scores, goals, open flags, next contact.

        Times are shown in ``zone`` (UTC if ``None``).
        """
        text = case_summary(self.uow.cases.case_summary(case_id), _, zone)
        referrals = self.uow.referrals.of_case(case_id)
        if not referrals:
            return text
        lines = [text, "", _("Referrals:")]
        for referral in referrals:
            status = _(REFERRAL_STATUS_WORDS.get(referral.status, referral.status))
            if referral.reason:
                status += f" ({_(REFERRAL_REASON_WORDS.get(referral.reason, referral.reason))})"
            lines.append(
                _("#{id} {need} — {service}: {status}, since {time}").format(
                    id=referral.referral_id,
                    need=referral.need,
                    service=referral.service_name or referral.service_id,
                    status=status,
                    time=when(referral.updated_at, zone),
                )
            )
        return "\n".join(lines)

    def set_referral_status(
        self,
        staff: StaffView,
        referral_id: int,
        status: str,
        reason: str | None,
        *,
        via: str,
    ) -> ReferralView | None:
        """A staff member's change of a referral's status (``/referral``, the console).

        Returns the referral as it was; ``None`` when it does not exist or is outside the
        member's caseload (one answer for both, audited as ``access_refused``). The change
        is an event row and an audit row in the caller's transaction.
        """
        referral = self.uow.referrals.referral(referral_id)
        actor = f"staff:{staff.staff_id}"
        if referral is None or not sees_case(staff, referral.manager_id):
            self.uow.audit.record(
                actor,
                "access_refused",
                None if referral is None else referral.case_id,
                command="referral",
                referral=referral_id,
                via=via,
            )
            return None
        self.uow.referrals.set_status(referral_id, status, reason, actor=actor)
        self.uow.audit.record(
            actor,
            "referral_status",
            referral.case_id,
            referral=referral_id,
            status=status,
            reason=reason,
            was=referral.status,
            via=via,
        )
        return referral

    @STAFF_COMMANDS.register("referral")
    def _referral(
        self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/referral ID STATUS [reason]``: a referral's new status, audited, with its event."""
        words = rest.lower().split()
        statuses = [str(s) for s in ReferralStatus]
        reasons = [str(r) for r in ReferralReason]
        if (
            len(words) not in (2, 3)
            or not words[0].lstrip("#").isdigit()
            or words[1] not in statuses
            or (len(words) == 3 and words[2] not in reasons)
        ):
            reply(
                _(
                    "Send /referral with the referral's number, its new status and, if you "
                    "like, a reason, e.g. /referral 12 completed got_help\n"
                    "Statuses: {statuses}\nReasons: {reasons}"
                ).format(statuses=", ".join(statuses), reasons=", ".join(reasons))
            )
            return
        referral_id = int(words[0].lstrip("#"))
        reason = words[2] if len(words) == 3 else None
        referral = self.set_referral_status(staff, referral_id, words[1], reason, via="telegram")
        if referral is None:
            reply(_("No referral {id} in your caseload.").format(id=referral_id))
            return
        reply(
            _("Referral #{id} ({need} — {service}, case {ref}): {old} → {new}.").format(
                id=referral_id,
                need=referral.need,
                service=referral.service_name or referral.service_id,
                ref=referral.case_ref or "—",
                old=referral.status,
                new=words[1] + (f" ({reason})" if reason else ""),
            ),
            case=referral.case_id,
        )

    @STAFF_COMMANDS.register("rescreen")
    def _rescreen(
        self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/rescreen REF phq9|gad7 EVERY|off``: repeat an instrument on a case, audited."""
        words = rest.split()
        usage = _(
            "Send /rescreen with a case reference, phq9 or gad7, and how often (from 1w to "
            "26w, or in days: 30d), e.g. /rescreen C-0001 phq9 4w. To stop: "
            "/rescreen C-0001 phq9 off"
        )
        if len(words) != 3:
            reply(usage)
            return
        ref, instrument, every = words[0], words[1].lower(), words[2].lower()
        days = parse_every(every)
        if instrument not in RESCREEN_INSTRUMENTS or (days is None and every != STOP):
            reply(usage)
            return
        case = self._allowed(staff, ref, reply, _, "rescreen")
        if case is None:
            return
        reply(
            self.set_rescreen(case, instrument, days, f"staff:{staff.staff_id}", _),
            case=case.case_id,
        )

    def set_rescreen(
        self, case: CaseView, instrument: str, days: int | None, actor: str, _: Gettext
    ) -> str:
        """Set (``days``) or stop (``None``) a re-screen; the caller checked access. What happened.

        Audited as ``actor`` (``staff:<id>``, ``cli:<login>``) by the unit of work.
        """
        name = RESCREEN_NAMES[instrument]
        if days is not None and case.status not in (CaseStatus.INTAKE, CaseStatus.ACTIVE):
            return _("Case {ref} has ended, so no re-screen can be planned.").format(ref=case.ref)
        changed = self.uow.cases.set_rescreen(case.case_id, instrument, days, actor=actor)
        if days is None:
            text = (
                _("The {instrument} re-screen of {ref} is stopped.")
                if changed
                else _("No {instrument} re-screen runs for {ref}.")
            )
            return text.format(instrument=name, ref=case.ref)
        return _(
            "The {instrument} will be asked again for {ref} every {every} ({days} days), the "
            "first time in {days} days, in the client's contact hours."
        ).format(instrument=name, ref=case.ref, every=every_text(days), days=days)

    @STAFF_COMMANDS.register("goal")
    def _goal(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "goal")
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the goal's text: /goal REF text"))
            return
        self.uow.cases.add_goal(case.case_id, text.strip(), "weekly", None, staff.staff_id)
        reply(_("Goal added to {ref}. Check-ins will be weekly.").format(ref=case.ref))

    @STAFF_COMMANDS.register("goalstatus")
    def _goal_status(
        self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/goalstatus REF ID STATUS``: a goal met, changed, dropped (or active again)."""
        ref, goal_id, status = ([*rest.split(), "", "", ""])[:3]
        case = self._allowed(staff, ref, reply, _, "goalstatus")
        if case is None:
            return
        wanted = status.lower()
        if not goal_id.isdigit() or wanted not in set(GoalStatus):
            reply(_("Send /goalstatus REF ID met|changed|dropped|active (the ID is in /case REF)"))
            return
        if not self.uow.cases.set_goal_status(
            case.case_id, int(goal_id), wanted, actor=f"staff:{staff.staff_id}"
        ):
            reply(_("Case {ref} has no goal #{id}.").format(ref=case.ref, id=goal_id))
            return
        reply(
            _("Goal #{id} of {ref} is now {status}.").format(
                id=goal_id, ref=case.ref, status=_(GOAL_STATUS_NAMES[GoalStatus(wanted)])
            )
        )

    @STAFF_COMMANDS.register("note")
    def _note(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "note")
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the note's text: /note REF text"))
            return
        self.uow.cases.add_note(case.case_id, staff.staff_id, text.strip())
        reply(_("Note added to {ref}.").format(ref=case.ref))

    @STAFF_COMMANDS.register("exit")
    def _exit(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, day = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "exit")
        if case is None:
            return
        try:
            exit_day = date.fromisoformat(day.strip()) if day.strip() else self.now.date()
        except ValueError:
            reply(_("Please give the exit date as YYYY-MM-DD."))
            return
        error = self.exit_day_error(case, exit_day, _)
        if error is not None:
            reply(error)
            return
        self.exit_case(case, exit_day, f"staff:{staff.staff_id}")
        reply(_("Case {ref} exited on {day}.").format(ref=case.ref, day=exit_day.isoformat()))

    def exit_case(self, case: CaseView, exit_day: date, actor: str) -> bool:
        """Exit ``case`` and start the client's exit conversation in this unit of work.

        One path for ``/exit``, ``cm-bot case exit`` and the console. The follow-ups are
        planned when the unit of work commits (on ``CaseExited``). The conversation is not
        started for a client without a current consent, withdrawn, unreachable or paused:
        then the follow-ups simply stay as planned. True when it was started.
        """
        self.uow.cases.exit_case(case.case_id, datetime.combine(exit_day, datetime.min.time(), UTC))
        self.uow.audit.record(actor, "case_exited", case.case_id)
        if (
            self.start_flow is None
            or case.client_id is None
            or self.flows is None
            or EXIT_FLOW not in self.flows
        ):
            return False
        client = self.uow.runs.client_by_id(case.client_id)
        if client is None:
            return False
        context = exit_context(self.uow.cases.met_goals(case.case_id))
        return bool(self.start_flow(self.uow, client, EXIT_FLOW, context))

    def exit_day_error(self, case: CaseView, exit_day: date, _: Gettext) -> str | None:
        """Why ``exit_day`` cannot be the case's exit date, or None."""
        opened = (case.opened_at or self.now).date()
        latest = (self.now + MAX_EXIT_AHEAD).date()
        if opened <= exit_day <= latest:
            return None
        return _("The exit date must be between {first} and {last}.").format(
            first=opened.isoformat(), last=latest.isoformat()
        )

    @STAFF_COMMANDS.register("invite")
    def _invite(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, rest.split(" ")[0], reply, _, "invite")
        if case is None:
            return
        if case.status in (CaseStatus.EXITED.value, CaseStatus.CLOSED.value):
            reply(
                _("Case {ref} has ended, so a new invite link would bind nobody.").format(
                    ref=case.ref
                )
            )
            return
        if case.client_id is not None and self.uow.cases.client_linked(case.client_id):
            reply(
                _(
                    "The client of {ref} is already linked to Telegram, so a new link would "
                    "bind nobody. If they changed accounts, an admin can unlink the old one "
                    "first: cm-bot case unlink {ref}"
                ).format(ref=case.ref)
            )
            return
        token = self.uow.cases.create_invite(
            "client", case_id=case.case_id, staff_id=None, expires_at=self.now + INVITE_TTL
        )
        self.uow.audit.record(f"staff:{staff.staff_id}", "invite_created", case.case_id)
        reply(
            _("Invite link for {ref} (single use, valid 14 days):\n{link}").format(
                ref=case.ref, link=invite_link(self.bot_username, token)
            )
        )

    @STAFF_COMMANDS.register("console")
    def _console(
        self, staff: StaffView, _rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/console``: a single-use sign-in link to the web console, valid 10 minutes."""
        if not self.console_url:
            reply(
                _(
                    "The web console is not set up here yet. Please ask your administrator "
                    "if you need it."
                )
            )
            return
        token = self.uow.cases.issue_console_link(staff.staff_id, self.now)
        self.uow.audit.record(f"staff:{staff.staff_id}", "console_link_created", None)
        reply(
            _(
                "Your sign-in link to the web console (works once, for 10 minutes, only for "
                "you):\n{link}"
            ).format(link=f"{self.console_url.rstrip('/')}/login/{token}")
        )


def invite_link(bot_username: str | None, token: str) -> str:
    """A Telegram deep link that starts the bot with the token."""
    return f"https://t.me/{bot_username or 'your_bot'}?start={token}"


__all__ = ["INVITE_TTL", "STAFF_COMMANDS", "CommandDesk", "StaffCommand", "invite_link"]
