"""The command menu (setMyCommands): per language for clients, per chat for staff, never fatal."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.channels.telegram_runtime import CommandMenu
from cm_bot.engine.commands_menu import (
    CLIENT_COMMANDS,
    MAX_DESCRIPTION,
    STAFF_COMMANDS,
    menus,
    staff_menu,
)
from cm_bot.i18n import Translator
from cm_bot.storage.admin import add_staff, bound_staff_chats
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.support.telegram import WAIT, Bot, BotFactory, Chat

CLIENT = 5552001
STAFF_UK = 5552101  # a staff member who reads Ukrainian
STAFF_EN = 5552102  # no locale of their own: the default one
LEAVER = 5552103  # bound, but no longer active
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
DEFAULT = {"type": "default"}


def chat_scope(chat_id: int) -> dict[str, Any]:
    return {"type": "chat", "chat_id": chat_id}


def bind_staff(db: Engine, name: str, user_id: int, *, locale: str | None = None) -> None:
    """A staff member as a staff invite leaves them: bound to their Telegram account."""
    add_staff(db, name, "case_manager")
    with transaction(db) as session:
        session.execute(
            update(Staff)
            .where(col(Staff.name) == name)
            .values(telegram_user_id=str(user_id), locale=locale)
        )


def deactivate(db: Engine, name: str) -> None:
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == name).values(active=False))


def shown(commands: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["command"], c["description"]) for c in commands]


def expected(translator: Translator, locale: str | None, source: Any) -> list[tuple[str, str]]:
    return [(name, translator.gettext(locale, text)) for name, text in source]


async def published(bot: Bot, scope: dict[str, Any], language_code: str = "") -> None:
    """Wait for one menu (the staff chats' come last, so theirs means all were tried)."""
    await bot.api.wait_until(
        lambda: bool(bot.api.commands(scope=scope, language_code=language_code)),
        timeout=WAIT,
        what=f"the command menu for {scope} {language_code}",
    )


# -- the definition ----------------------------------------------------------------------------


def test_menus_are_what_telegram_accepts_in_every_locale(translator: Translator) -> None:
    assert [name for name, _ in CLIENT_COMMANDS] == [
        "human", "help", "stop", "language", "timezone", "mydata", "withdraw", "erase", "clear",
        "preferences",
    ]  # fmt: skip
    assert [name for name, _ in STAFF_COMMANDS] == [
        "flags", "case", "goal", "goalstatus", "note", "exit", "invite", "referral", "rescreen",
        "timezone",
        "console",
    ]  # fmt: skip
    published = menus(translator)
    assert published[0][0] is None
    assert {code for code, _ in published[1:]} == set(translator.locales) - {"en"}
    staff = [staff_menu(translator, locale) for locale in (None, *translator.locales)]
    for commands in [c for _, c in published] + staff:
        assert commands
        for name, description in commands:
            assert COMMAND.match(name), name
            assert 0 < len(description) <= MAX_DESCRIPTION, description


def test_a_translation_too_long_for_telegram_is_shortened_not_refused() -> None:
    class Wordy(Translator):
        def gettext(self, locale: str | None, message: str) -> str:
            return message * 40

    [(_, commands)] = menus(Wordy(None))
    assert all(len(d) <= MAX_DESCRIPTION and d.endswith("…") for _, d in commands)


def test_bound_staff_chats_are_the_active_bound_ones(db: Engine) -> None:
    bind_staff(db, "Olena", STAFF_UK, locale="uk")
    bind_staff(db, "Maria", STAFF_EN)
    bind_staff(db, "Pat", LEAVER)
    deactivate(db, "Pat")
    add_staff(db, "Newcomer", "case_manager")  # invited, not yet bound
    assert bound_staff_chats(db) == [(str(STAFF_UK), "uk"), (str(STAFF_EN), None)]


# -- through the real frameworks and the emulator --------------------------------------------------


async def test_start_up_publishes_the_client_menus_and_each_staff_menu(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    bind_staff(bot.db, "Olena", STAFF_UK, locale="uk")
    bind_staff(bot.db, "Maria", STAFF_EN)
    bind_staff(bot.db, "Pat", LEAVER)
    deactivate(bot.db, "Pat")
    await bot.start_polling()
    await published(bot, chat_scope(STAFF_EN))
    api, tr = bot.api, bot.app.translator

    default = shown(api.commands(scope=DEFAULT))
    assert default[0] == ("human", "Talk to a person")
    assert default == list(CLIENT_COMMANDS)
    for code in ("es", "uk"):
        menu = shown(api.commands(scope=DEFAULT, language_code=code))
        assert [name for name, _ in menu] == [name for name, _ in CLIENT_COMMANDS]
        assert menu == expected(tr, code, CLIENT_COMMANDS)

    assert shown(api.commands(scope=chat_scope(STAFF_UK)))[0][0] == "flags"
    assert shown(api.commands(scope=chat_scope(STAFF_UK))) == expected(tr, "uk", STAFF_COMMANDS)
    assert shown(api.commands(scope=chat_scope(STAFF_EN))) == list(STAFF_COMMANDS)
    assert api.commands(scope=chat_scope(LEAVER)) == []
    # Exactly these: the default, one per other locale, one per active bound staff chat.
    assert sorted((s["type"], lang) for s, lang, _ in api.command_menus) == [
        ("chat", ""), ("chat", ""), ("default", ""), ("default", "es"), ("default", "uk"),
    ]  # fmt: skip
    await bot.stop()


async def test_a_failing_set_my_commands_never_stops_the_bot(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cm_bot.channels.telegram_runtime")
    canary = "Bad Request: chat 5552101 canary-Orchid-77"
    bot = await make_bot()
    bind_staff(bot.db, "Olena", STAFF_UK, locale="uk")
    bot.api.fail_next("setMyCommands", status=400, description=canary)  # the default menu
    bot.api.fail_next("setMyCommands", status=502, times=1)  # then the first language's
    client_id = bot.link(CLIENT)
    await bot.start_polling()

    chat = Chat(bot, CLIENT)
    await chat.say("hello")
    assert chat.sent(), "the client got no answer"
    assert client_id

    await published(bot, chat_scope(STAFF_UK))
    assert bot.api.commands(scope=DEFAULT) == []  # refused, and not retried
    assert bot.api.commands(scope=DEFAULT, language_code="uk")  # later menus still published
    warnings = [r for r in caplog.records if "setMyCommands failed" in r.getMessage()]
    assert len(warnings) == 2
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "canary" not in caplog.text and str(STAFF_UK) not in caplog.text
    await bot.stop()


async def test_a_menu_list_that_cannot_be_read_is_a_warning(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cm_bot.channels.telegram_runtime")
    bot = await make_bot()

    def broken() -> list[CommandMenu]:
        raise ConnectionError("database at db.internal:5432 went away")

    assert await bot.runtime.publish_menus(broken) == 0
    assert "could not list the command menus (ConnectionError)" in caplog.text
    assert "db.internal" not in caplog.text
    assert bot.api.command_menus == []
