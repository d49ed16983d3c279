"""The command menus Telegram shows next to the text box, defined once for every channel.

The commands themselves are handled by the engine (clients) and the staff desk
(staff); this module only says which of them a person should be offered, in what
order, and with what short description, so the menu cannot drift from what the
bot answers. No Telegram import: the runtime turns these into ``setMyCommands``.
"""

from __future__ import annotations

from cm_bot.i18n.translator import N_, Translator

Command = tuple[str, str]
"""A command without its slash, and its English description (a msgid)."""

CLIENT_COMMANDS: tuple[Command, ...] = (
    # A person first: someone in a hard week should find the way to a human at once.
    ("human", N_("Talk to a person")),
    ("help", N_("What I can do")),
    ("stop", N_("Pause the questions")),
    ("language", N_("Change the language")),
    ("timezone", N_("Set your time zone")),
    ("mydata", N_("What we hold about you")),
    ("withdraw", N_("Withdraw your consent")),
    ("erase", N_("Ask us to erase your data")),
    ("clear", N_("Clear this chat")),
    ("preferences", N_("How and when we contact you")),
)

STAFF_COMMANDS: tuple[Command, ...] = (
    ("flags", N_("Open flags, most severe first")),
    ("case", N_("A case at a glance: /case REF")),
    ("goal", N_("Add a goal: /goal REF text")),
    ("goalstatus", N_("Set a goal's status: /goalstatus REF ID met")),
    ("note", N_("Add a case note: /note REF text")),
    ("exit", N_("Exit a case: /exit REF [date]")),
    ("invite", N_("A new invite link: /invite REF")),
    ("referral", N_("Update a referral: /referral ID STATUS")),
    ("rescreen", N_("Repeat the PHQ-9 or GAD-7: /rescreen REF phq9 4w")),
    ("timezone", N_("Set your time zone")),
    ("console", N_("A sign-in link to the web console")),
)

MAX_DESCRIPTION = 256  # Telegram refuses a longer BotCommand description


def translated(
    translator: Translator, commands: tuple[Command, ...], locale: str | None
) -> list[Command]:
    """``commands`` with descriptions in ``locale``, cut to what Telegram accepts.

    A translation that runs too long must not cost the whole menu (Telegram
    refuses the call), so it is shortened rather than rejected.
    """
    return [(name, _fit(translator.gettext(locale, description))) for name, description in commands]


def menus(translator: Translator) -> list[tuple[str | None, list[Command]]]:
    """The client menu per Telegram ``language_code``: ``None`` (everyone else) first.

    The ``None`` menu is in the default locale, the language the bot speaks to a
    client whose language it does not support; every other supported locale gets
    its own menu under its two-letter language code (what Telegram matches on).
    """
    default = translator.default_locale
    result: list[tuple[str | None, list[Command]]] = [
        (None, translated(translator, CLIENT_COMMANDS, default))
    ]
    seen: set[str] = set()
    for locale in translator.locales:
        code = locale.split("_")[0].lower()  # Telegram takes ISO 639-1 only: pt_BR -> pt
        if locale == default or code in seen:
            continue
        seen.add(code)
        result.append((code, translated(translator, CLIENT_COMMANDS, locale)))
    return result


def staff_menu(translator: Translator, locale: str | None) -> list[Command]:
    """The staff menu in a staff member's locale (the default one when unset)."""
    return translated(translator, STAFF_COMMANDS, locale)


def _fit(description: str) -> str:
    description = description.strip()
    if len(description) <= MAX_DESCRIPTION:
        return description
    return description[: MAX_DESCRIPTION - 1].rstrip() + "…"


__all__ = [
    "CLIENT_COMMANDS",
    "MAX_DESCRIPTION",
    "STAFF_COMMANDS",
    "Command",
    "menus",
    "staff_menu",
    "translated",
]
