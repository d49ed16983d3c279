"""Shared-phone safety over Telegram, through aiogram and python-telegram-bot alike.

Every message goes out protected (``protect_content``: no forwarding, no saving), and
``/clear`` asks Telegram (``deleteMessages``) to delete exactly the messages of the
chat, both sides, from the last 48 hours; one neutral line stays.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import InboundMessage, Outbox
from cm_bot.testing.botapi.params import param_bool
from tests.support.telegram import BotFactory, Chat

USER = 5554001
TWO_DAYS = 49 * 3600  # seconds: past the 48 hours in which a bot may delete a message


def two_days_pass_for_everything_so_far(db: Engine) -> None:
    """What the bot kept of the chat so far now looks 49 hours old."""
    back = timedelta(seconds=TWO_DAYS)
    with transaction(db) as session:
        for row in session.execute(select(InboundMessage)).scalars():
            row.received_at = row.received_at - back
        for sent in session.execute(select(Outbox).where(col(Outbox.sent_at).is_not(None))):
            sent[0].sent_at = sent[0].sent_at - back  # type: ignore[operator]
            sent[0].created_at = sent[0].created_at - back


async def test_clear_deletes_exactly_the_messages_of_the_last_48_hours_on_both_sides(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    bot.link(USER)
    await bot.start_polling()
    chat = Chat(bot, USER)
    hello = await chat.say("hello")
    old = {hello["message"]["message_id"]} | {m.message_id for m in chat.sent()}
    for message_id in old:  # on Telegram's side too: these can no longer be deleted
        bot.api.age_message(USER, message_id, TWO_DAYS)
    two_days_pass_for_everything_so_far(bot.db)
    help_ = await chat.say("/help")
    recent = {help_["message"]["message_id"]} | {m.message_id for m in chat.sent()} - old

    clear = await chat.say("/clear")

    (deletion,) = bot.api.deletions
    assert deletion.message_ids == tuple(sorted(recent | {clear["message"]["message_id"]}))
    assert deletion.deleted == deletion.message_ids  # every one of them was still deletable
    assert chat.sent()[-1].text == "Done."
    assert all(bot.api.message(USER, message_id) is not None for message_id in old)
    assert all(bot.api.message(USER, message_id) is None for message_id in recent)
    await bot.stop()


async def test_every_message_is_sent_protected(make_bot: BotFactory) -> None:
    bot = await make_bot()
    bot.link(USER)
    await bot.start_polling()
    chat = Chat(bot, USER)
    for text in ("hello", "/help", "/language"):
        await chat.say(text)
    await chat.tap("Español")
    await chat.say("/clear")

    sends = [call for call in bot.api.api_calls if call.method.startswith("send")]
    assert len(sends) >= 6 and {call.method for call in sends} == {"sendMessage"}
    assert all(param_bool(call.params, "protect_content") for call in sends)
    assert all(m.params and param_bool(m.params, "protect_content") for m in bot.api.sent)
    await bot.stop()


async def test_the_clear_this_chat_button_clears_and_a_lost_answer_loses_nothing(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    bot.link(USER)
    await bot.start_polling()
    chat = Chat(bot, USER)
    hello = await chat.say("hello")
    help_ = await chat.say("/help")
    on_screen = {m.message_id for m in chat.sent()} | {
        hello["message"]["message_id"],
        help_["message"]["message_id"],
    }
    # Telegram deletes them, but the answer never reaches the bot: it asks once more.
    bot.api.drop_connection_next("deleteMessages", accepted=True)

    (help_message,) = [m for m in chat.sent() if "/clear" in (m.text or "")]
    (button,) = help_message.reply_markup["inline_keyboard"][0]  # type: ignore[index]
    assert button["text"] == "Clear this chat"
    await chat.press(help_message.message_id, button["callback_data"])
    await bot.api.wait_until(lambda: len(bot.api.deletions) == 2, timeout=15, what="retry")
    await bot.settle()

    first, again = bot.api.deletions
    assert first.message_ids == again.message_ids == tuple(sorted(on_screen))
    assert first.deleted == first.message_ids and again.deleted == ()
    assert chat.sent()[-1].text == "Done."
    await bot.stop()
