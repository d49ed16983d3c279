"""Menus answer themselves on Telegram too, through aiogram and python-telegram-bot.

"/language" then a typed "2" at the consent question picks the second language; it
never answers the question underneath (it once declined consent by accident).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, ConsentRecord, FlowRun, Response
from tests.support.records import count
from tests.support.telegram import BotFactory, Chat

USER = 5553001


@pytest.mark.parametrize(("typed", "locale"), [("2", "es"), ("Українська", "uk"), ("es", "es")])
async def test_a_typed_choice_at_the_language_menu_changes_the_language_and_nothing_else(
    make_bot: BotFactory, typed: str, locale: str
) -> None:
    bot = await make_bot()
    bot.link(USER)
    await bot.start_polling()
    chat = Chat(bot, USER)
    await chat.say("hello")
    await chat.say("/language")
    assert "Which language" in (chat.sent()[-1].text or "")

    await chat.say(typed)

    with transaction(bot.db) as session:
        assert session.execute(select(Client.locale)).scalar_one() == locale
        (run,) = session.execute(select(FlowRun)).scalars().all()
        assert run.flow_id == "consent" and run.step_id == "contact" and not run.answers
    assert count(bot.db, ConsentRecord) == 0 and count(bot.db, Response) == 0
    await bot.stop()
