"""A client in crisis, through the real aiogram and PTB code and the Bot API emulator.

Client writes words of crisis mid-intake → the program's resources reach their chat and
an urgent notice the case manager's; the client's next messages get no question and no
buttons; the case manager taps Resolve → the client is told once, and their next message
picks up the question where it stopped.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.support.telegram import BotFactory, Chat, play

CLIENT = 5552001
MANAGER = 5552900
WORRY = "How worried are you?"


async def test_crisis_resources_pause_and_resume_over_telegram(make_bot: BotFactory) -> None:
    bot = await make_bot()
    bot.link(CLIENT)
    with transaction(bot.db) as session:
        session.execute(
            update(Staff).where(col(Staff.name) == "Maria").values(telegram_user_id=str(MANAGER))
        )
    await bot.start_polling()
    client, manager = Chat(bot, CLIENT), Chat(bot, MANAGER)
    await play(client, [("say", "hello"), ("tap", "Yes"), ("tap", "Yes"), ("tap", "No")])
    await client.tap("Good")
    assert WORRY in client.sent()[-1].text

    before = len(client.sent())
    await client.say("i dont want to live anymore")
    crisis = client.sent()[before:]
    assert len(crisis) == 1 and "988" in (crisis[0].text or "")
    assert not (crisis[0].reply_markup or {}).get("inline_keyboard")
    notice = manager.sent()[-1]
    assert "Urgent" in (notice.text or "") and "paused" in (notice.text or "")

    for text in ("ok", "hello?", "3"):
        await client.say(text)
    after = client.sent()[before + 1 :]
    assert all(WORRY not in (m.text or "") for m in after)
    assert all(not (m.reply_markup or {}).get("inline_keyboard") for m in after)

    await manager.tap("Resolve")
    told = client.sent()[-1]
    assert "Thank you for waiting" in (told.text or "")
    await client.say("ok")
    assert WORRY in (client.sent()[-1].text or "")
    await client.all_taps_answered()
    await manager.all_taps_answered()
    await bot.stop()
