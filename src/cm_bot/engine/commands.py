"""The client's commands (``/help``, ``/human`` ...) and the menus they open.

One :class:`~cm_bot.engine.registry.Registry` maps each command name to its handler;
a handler registers itself where it is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cm_bot.domain import (
    Button,
    ClientStatus,
    RunStatus,
    Severity,
)
from cm_bot.engine import safety
from cm_bot.engine.clearing import AUTO_CLEAR_HOURS, CLEAR_PAYLOAD, clear_chat
from cm_bot.engine.menus import CONFIRM_LABELS, resume_menu, runless_menu
from cm_bot.engine.ports import RunState
from cm_bot.engine.registry import Registry
from cm_bot.engine.walk import FlowTurn
from cm_bot.engine.zones import close_zones, zone_named
from cm_bot.i18n.translator import N_

# What still works while paused: reaching a person, help, language, time zone, data rights.
PAUSED_COMMANDS = frozenset(
    {"human", "help", "language", "timezone", "mydata", "withdraw", "erase", "clear"}
)
PAUSED_ACTIONS = frozenset({"lang", "withdraw", "keep", "erase"})

Command = Callable[["CommandTurn", RunState | None, str], None]
COMMANDS: Registry[Command] = Registry()


class CommandTurn(FlowTurn):
    """A turn that runs the client's commands and answers their menus."""

    def _command(self, run: RunState | None, text: str) -> None:
        """A ``/command`` (``/cmd@bot arg`` too): its registered handler, else the list."""
        word, _sep, argument = text.partition(" ")
        name = word[1:].split("@", 1)[0].casefold()
        handler = COMMANDS.get(name) or CommandTurn._unknown_command
        handler(self, run, argument.strip())

    def _unknown_command(self, run: RunState | None, _argument: str) -> None:
        self.say(self._("Sorry, I don't know that command.") + "\n\n" + self._help())
        self._reask(run)

    @COMMANDS.register("start")
    def _on_start(self, run: RunState | None, _argument: str) -> None:
        if self.client is not None and not self._may_collect(run):
            self.begin_consent_again()
        elif run is not None and run.status in (RunStatus.ACTIVE, RunStatus.PAUSED):
            self._offer_resume(run, restarting=True)
        else:
            self._idle()

    @COMMANDS.register("help")
    def _on_help(self, run: RunState | None, _argument: str) -> None:
        self.say(self._help(), [[Button(self._("Clear this chat"), CLEAR_PAYLOAD)]])
        self._reask(run)

    @COMMANDS.register("clear")
    def _on_clear(self, run: RunState | None, argument: str) -> None:
        if argument:
            self._auto_clear(run, argument)
        else:
            self.clear_this_chat()

    def clear_this_chat(self, line: str | None = None) -> None:
        """Delete what Telegram still lets us delete of this chat; one neutral line stays.

        Nothing is asked again after it: a question on the screen could name the program.
        ``line``: the neutral line (default "Done."; the safe word's is "OK.").
        """
        assert self.client is not None
        channel = self.inbound.channel if self.inbound else self._client_channel()
        ids = clear_chat(
            self.uow, channel=channel, chat_id=self.client.chat_id, client_id=self.client.client_id
        )
        self.uow.audit.record(
            f"client:{self.client.client_id}", "chat_cleared", self.client.case_id, ids=len(ids)
        )
        self.say(line if line is not None else self._("Done."))

    def _auto_clear(self, run: RunState | None, argument: str) -> None:
        """``/clear 12``: delete messages once 12 hours old; ``/clear off``: stop."""
        assert self.client is not None
        word = argument.casefold().removesuffix("h").strip()
        if word in ("off", "0", self._("off").casefold()):
            self.uow.outbox.set_auto_clear(self.client.client_id, None)
            self.say(self._("Okay. Messages will no longer be deleted automatically."))
        elif word.isdigit() and int(word) in AUTO_CLEAR_HOURS:
            self.uow.outbox.set_auto_clear(self.client.client_id, int(word))
            self.say(
                self._(
                    "Okay. From now on I will delete our messages once they are {hours} hours old."
                ).format(hours=int(word))
            )
        else:
            self.say(
                self._(
                    "Send /clear to delete this chat now, /clear and a number of hours from "
                    "1 to 47 to delete messages once they are that old (e.g. /clear 12), "
                    "or /clear off."
                )
            )
        self._reask(run)

    @COMMANDS.register("stop")
    def _on_stop(self, run: RunState | None, _argument: str) -> None:
        self._pause(run)

    @COMMANDS.register("language")
    def _on_language(self, run: RunState | None, argument: str) -> None:
        self._language(run, argument)

    @COMMANDS.register("human")
    def _on_human(self, run: RunState | None, _argument: str) -> None:
        self._human()
        self._reask(run)

    @COMMANDS.register("withdraw")
    def _on_withdraw(self, run: RunState | None, _argument: str) -> None:
        self._offer_withdraw(run)

    @COMMANDS.register("timezone")
    def _on_timezone(self, run: RunState | None, argument: str) -> None:
        self._timezone(argument)
        self._reask(run)

    @COMMANDS.register("mydata")
    def _on_mydata(self, run: RunState | None, _argument: str) -> None:
        self._my_data()
        self._reask(run)

    @COMMANDS.register("erase")
    def _on_erase(self, _run: RunState | None, _argument: str) -> None:
        self.say(
            self._(
                "Do you want us to erase what we hold about you? Your case manager will "
                "be asked to do it and will confirm with you."
            ),
            self.buttons([self._confirm("erase")]),
        )

    def _help(self) -> str:
        return (
            self._(
                "I ask short questions for your case manager. Tap a button or type your answer.\n"
                "/human — talk to a person from the program\n"
                "/stop — pause; send any message to carry on later\n"
                "/language — change the language\n"
                "/timezone — set your time zone, e.g. /timezone Europe/Kyiv\n"
                "/withdraw — withdraw your consent\n"
                "/mydata — what we hold about you\n"
                "/erase — ask us to erase it\n"
                "/help — show this message"
            )
            + "\n"
            + self._("/clear — delete this chat from this phone")
            + "\n"
            + self._("/preferences — how and when we contact you, and your safe word")
        )

    def _pause(self, run: RunState | None) -> None:
        if run is None or run.status != RunStatus.ACTIVE:
            self.say(self._("Nothing is running right now, so there is nothing to pause."))
            return
        run.status = RunStatus.PAUSED
        self.uow.runs.save_run(run)
        self.say(
            self._(
                "Paused. Your answers so far are saved. Send any message when you'd like "
                "to carry on."
            )
        )

    def _confirm(self, act: str) -> list[tuple[str, Any]]:
        """A confirmation's two buttons: do it (1), or keep going (2)."""
        return [
            (self._(CONFIRM_LABELS[act][0]), {"act": act, "n": 1}),
            (self._(CONFIRM_LABELS["keep"][0]), {"act": "keep", "n": 2}),
        ]

    def _typed_menu_choice(self, run: RunState | None, text: str) -> bool:
        """Text while a menu is open answers the menu, never the question under it.

        A menu is open while the client holds buttons of no question (the language
        picker, the withdraw and erase confirmations): issuing a question's buttons
        retires them. Text that names no option gets the menu again.
        """
        values, choice = self._menu_choice(text)
        if not values:
            return False
        if choice is not None:
            self._runless_action(run, choice.get("act"), choice)
            return True
        acts = {str(v.get("act")) for v in values}
        self.say(self._("Please choose one of the options above."))
        if "lang" in acts:
            self._language(run, "")
        elif "withdraw" in acts:
            self._offer_withdraw(run)
        elif "erase" in acts:
            self._command(run, "/erase")
        return True

    def _menu_choice(self, text: str) -> tuple[list[dict[str, Any]], Mapping[str, Any] | None]:
        """The open menu's buttons (empty: none open) and the one the text names, if any."""
        assert self.client is not None
        values = self.uow.buttons.menu_values(self.client.client_id)
        if not values:
            return values, None
        return values, runless_menu(values, self._, self._language_names).choose(text)

    def _language_names(self, code: str) -> list[str]:
        """Every name a language may be typed as: its own, English, and the reader's."""
        translator = self.translator
        return [
            translator.language_name(code),
            translator.language_name_in(code, "en"),
            translator.language_name_in(code, self.locale),
        ]

    def _typed_resume_choice(self, run: RunState, text: str) -> None:
        """At the resume offer: 1 or "continue" continues, 2 starts again, else ask again."""
        choice = resume_menu(self._).choose(text)
        if choice is None or self.paused:
            self._offer_resume(run)
        elif choice["act"] == "resume":
            self._continue(run)
        else:
            self.restart(run)

    def _language(self, run: RunState | None, argument: str) -> None:
        translator = self.translator
        chosen = translator.negotiate(argument) if argument else None
        if chosen is None:
            choices = [
                (translator.language_name(code), {"act": "lang", "locale": code, "n": n})
                for n, code in enumerate(translator.locales, 1)
            ]
            self.say(self._("Which language would you like?"), self.buttons([choices]))
            return
        self._set_language(run, chosen)

    def _set_language(self, run: RunState | None, locale: str) -> None:
        assert self.client is not None
        self.uow.runs.set_client(self.client.client_id, locale=locale)
        self.client.locale = locale
        self.locale = locale
        self.say(self._("Okay, I will write in English from now on."))
        if run is not None:
            run.locale = locale
            self.uow.runs.save_run(run)
            self._reask(run)

    def _human(self) -> None:
        """``/human``, in any state: a high flag (escalated like any other) and when to expect."""
        assert self.client is not None
        if self.uow.flags.open_flag_exists(self.client.client_id, "client_asked_for_contact"):
            self.say(
                self._(
                    "The program already knows you'd like to talk to a person. Someone will "
                    "contact you. Staff usually answer {response_time}."
                ).format(response_time=self._(self.program.response_time))
            )
            return
        self.flag_then_tell(
            Severity.HIGH,
            N_("Client asked to talk to a person (/human)"),
            rule_id="client_asked_for_contact",
            dedupe_key=f"human:{self.client.client_id}:{self.inbound_id}",
            tell=safety.human_reply(self.program, self._, self.locale),
        )

    def _timezone(self, argument: str) -> None:
        """``/timezone Europe/Kyiv``: scheduled messages come in the client's own hours."""
        assert self.client is not None
        zone = zone_named(argument)
        if zone is None:
            close = close_zones(argument)
            text = self._("Please send your time zone like this: /timezone Europe/Kyiv")
            if close:
                text = (
                    self._("I don't know that time zone. Did you mean one of these?")
                    + "\n"
                    + "\n".join(f"/timezone {name}" for name in close)
                    + "\n\n"
                    + text
                )
            self.say(text)
            return
        self.uow.runs.set_client(self.client.client_id, timezone=str(zone))
        self.say(self._("Thank you. I will use the time zone {zone}.").format(zone=str(zone)))

    def _my_data(self) -> None:
        assert self.client is not None
        data = self.uow.runs.data_summary(self.client.client_id)
        self.uow.audit.record(
            f"client:{self.client.client_id}", "client_read_own_data", self.client.case_id
        )
        lines = [
            self._("What we hold about you:"),
            self._("Answers to questions: {count}").format(count=data["answers"]),
            self._("Screening results: {count}").format(count=data["scores"]),
            self._("Notes to your case manager (flags): {count}").format(count=data["flags"]),
            self._("Referrals to services: {count}").format(count=data["referrals"]),
        ]
        if data["consent_action"] == "granted":
            lines.append(
                self._("Consent: given on {day}").format(day=data["consent_at"].date().isoformat())
            )
        lines.extend(self._preference_lines())
        lines.append(
            self._("For a full copy, ask your case manager. To have it erased, send /erase.")
        )
        self.say("\n".join(lines))

    def _preference_lines(self) -> list[str]:
        """The safe-contact preferences for ``/mydata`` (:mod:`cm_bot.engine.preferences`)."""
        return []

    def _offer_withdraw(self, run: RunState | None) -> None:
        assert self.client is not None
        if self.client.status in (ClientStatus.WITHDRAWN, ClientStatus.DECLINED):
            self._not_collecting()
            return
        self.say(
            self._(
                "Do you want to withdraw your consent? I will stop asking questions and "
                "stop contacting you, and your case manager will be told."
            ),
            self.buttons([self._confirm("withdraw")]),
        )

    def _withdraw(self) -> None:
        client = self.client
        assert client is not None
        consent = self.consent_flow
        run = self.uow.runs.current_run(client.client_id)
        if run is not None:
            run.status = RunStatus.ABANDONED  # may be offered again after a new consent
            self.uow.runs.save_run(run, ended=True)
        self.uow.runs.record_consent(
            client,
            action="withdrawn",
            flow_id=consent.id if consent else "consent",
            version=consent.version if consent else 0,
            text_sha256="",
            locale=self.locale,
            decisions={},
            inbound_id=self.inbound_id,
        )
        self.uow.runs.set_client(client.client_id, status=ClientStatus.WITHDRAWN)
        client.status = ClientStatus.WITHDRAWN
        cancelled = self.uow.contacts.cancel_contacts(client.client_id, "opted_out")
        self.uow.contacts.clear_preferences(client.client_id)  # asked again after a new consent
        self.uow.audit.record(
            f"client:{client.client_id}", "consent_withdrawn", client.case_id, cancelled=cancelled
        )
        self.flag_then_tell(
            Severity.ROUTINE,
            N_("Client withdrew consent; collection and scheduled contacts stopped"),
            rule_id="consent_withdrawn",
            dedupe_key=f"withdrawn:{client.client_id}:{self.inbound_id}",
            tell=self._(
                "Your consent is withdrawn. I won't ask you anything else or contact you again. "
                "Your case manager has been told. If you change your mind, send /start."
            ),
        )

    def _runless_action(
        self, run: RunState | None, action: object, value: Mapping[str, Any]
    ) -> None:
        assert self.client is not None
        self.uow.buttons.forget_buttons(self.client.client_id)  # a confirmation is answered once
        if action == "lang":
            locale = self.translator.negotiate(str(value.get("locale", "")))
            if locale:
                self._set_language(run, locale)
        elif action == "withdraw":
            if self.client is not None and self.client.status not in (
                ClientStatus.WITHDRAWN,
                ClientStatus.DECLINED,
            ):
                self._withdraw()
        elif action == "keep":
            self.say(self._("Thank you. Nothing has changed."))
            self._reask(run)
        elif action == "erase":
            assert self.client is not None
            self.flag_then_tell(
                Severity.ROUTINE,
                N_("Client asks for their data to be erased (cm-bot erase)"),
                rule_id="erasure_requested",
                dedupe_key=f"erase:{self.client.client_id}:{self.inbound_id}",
                tell=self._(
                    "I've asked your case manager to erase your data. They will "
                    "confirm with you when it is done."
                ),
            )


__all__ = ["COMMANDS", "PAUSED_ACTIONS", "PAUSED_COMMANDS", "CommandTurn"]
