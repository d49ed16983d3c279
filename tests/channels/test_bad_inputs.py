"""What people really send, through the real frameworks (B-01…B-25): one sensible reply each.

Each case checks the reply, that the conversation did not move on, and that
nothing invalid was stored.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    ChannelIdentity,
    Client,
    ConsentRecord,
    InboundMessage,
    Response,
)
from tests.support.records import count
from tests.support.telegram import Bot, BotFactory, Chat

USER = 5553001
NOT_AN_ANSWER = (
    "I can only read typed messages and button taps. Please answer by typing or tapping a button."
)
FORWARDED = "Please type your own answer rather than forwarding a message."
KEPT = (
    "I've kept your original answer. If something needs correcting, please tell your case manager."
)
CLOSED = "That question has closed."
QUESTION = "May I message you here?"
PRIVATELY = "Please message me privately. I only talk one-to-one, to keep what you share private."


async def started(make_bot: BotFactory) -> tuple[Bot, Chat]:
    """A linked client at the first consent question."""
    bot = await make_bot()
    await bot.start_polling()
    bot.link(USER)
    chat = Chat(bot, USER)
    await chat.say("hello")
    assert chat.transcript()[-1] == (QUESTION, ("Yes", "No"))
    return bot, chat


def new_texts(chat: Chat, before: int) -> list[str]:
    return [text for text, _buttons in chat.transcript()[before:]]


def nothing_kept(bot: Bot) -> None:
    assert count(bot.db, Response) == 0
    assert count(bot.db, InboundMessage, col(InboundMessage.status) != "done") == 0
    assert count(bot.db, InboundMessage, col(InboundMessage.text).is_not(None)) == 0


async def test_media_edits_and_forwards_are_not_answers(make_bot: BotFactory) -> None:
    bot, chat = await started(make_bot)
    cases = [
        ({"sticker": True}, NOT_AN_ANSWER),
        ({"photo": True, "caption": "yes"}, NOT_AN_ANSWER),  # a caption is not an answer
        ({"voice": True}, NOT_AN_ANSWER),
        ({"document": True}, NOT_AN_ANSWER),
        ({"location": True}, NOT_AN_ANSWER),
        ({"text": "yes", "forward_from": 424242}, FORWARDED),
    ]
    for kwargs, explanation in cases:
        before = len(chat.sent())
        text = kwargs.pop("text", None)
        await chat.say(text, **kwargs)  # type: ignore[arg-type]
        assert new_texts(chat, before) == [explanation, QUESTION], kwargs
    # Editing the first message ("hello", message 1) into "yes" answers nothing either.
    before = len(chat.sent())
    await chat.say("yes", edited_of=1)
    assert new_texts(chat, before) == [KEPT]
    assert "getFile" not in bot.api.calls  # media is never downloaded
    with transaction(bot.db) as session:
        assert session.execute(select(ConsentRecord)).first() is None
    nothing_kept(bot)
    # The question still stands.
    await chat.tap("Yes")
    assert chat.transcript()[-1][0] == "May I keep your answers?"
    await chat.all_taps_answered()


async def test_group_chats_and_strangers_get_one_explanation_and_nothing_is_kept(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    await bot.start_polling()
    stranger, member = 5553002, 5553003
    for kind in ("group", "supergroup"):
        for _ in range(2):
            await bot.api.post_message(member, "hello everyone", chat_type=kind)
    await bot.api.post_message(stranger, "hello?")
    await bot.api.post_message(stranger, "is anyone there?")
    await bot.api.post_message(stranger, "/start")
    await bot.settle()
    groups = [m for m in bot.api.sent if m.chat_id < 0]
    assert sorted((m.chat_id, m.text) for m in groups) == sorted(
        [(-member, PRIVATELY), (int(f"-100{member}"), PRIVATELY)]
    )
    to_stranger = bot.api.sent_to(stranger)
    assert len(to_stranger) == 1
    assert "ask your case manager" in (to_stranger[0].text or "")
    # No client, no identity, no answer, no text kept.
    assert count(bot.db, Client) == 0
    assert count(bot.db, ChannelIdentity) == 0
    nothing_kept(bot)


async def test_stale_and_forged_buttons_are_refused(make_bot: BotFactory) -> None:
    bot, chat = await started(make_bot)
    stale = chat.button("Yes")
    await chat.tap("Yes")
    assert chat.transcript()[-1][0] == "May I keep your answers?"
    # The first question's button, pressed again, and one never issued.
    for message_id, data in (stale, (stale[0], "forged-callback-data"), (999, "x" * 64)):
        before = len(chat.sent())
        await chat.press(message_id, data)
        assert new_texts(chat, before) == [CLOSED, "May I keep your answers?"]
    # Another client's real button, pressed in this chat, is refused too.
    other = Chat(bot, 5553004)
    bot.link(other.user_id)
    await other.say("hello")
    _mid, theirs = other.button("No")
    before = len(chat.sent())
    await chat.press(chat.sent()[-1].message_id, theirs)
    assert new_texts(chat, before) == [CLOSED, "May I keep your answers?"]
    assert other.transcript()[-1][0] == QUESTION  # and it did nothing to them
    await chat.all_taps_answered()
    with transaction(bot.db) as session:
        refused = session.execute(
            select(AuditLog).where(col(AuditLog.action) == "unknown_button")
        ).all()
    assert len(refused) >= 3
    nothing_kept(bot)


async def test_commands_for_another_bot_and_very_long_text(make_bot: BotFactory) -> None:
    bot, chat = await started(make_bot)
    before = len(chat.sent())
    await chat.say("/start@OtherBot")
    replies = chat.transcript()[before:]
    assert len(replies) == 1  # one sensible reply, the conversation is not reset
    assert replies[0][1] == ("Continue", "Start again")
    await chat.tap("Continue")
    assert chat.transcript()[-1] == (QUESTION, ("Yes", "No"))
    before = len(chat.sent())
    await chat.say("y" * 5000)
    replies = chat.transcript()[before:]
    assert replies[-1][0] == "Please answer yes or no."  # short: the question stays above
    assert all(len(text.encode("utf-16-le")) // 2 <= 4096 for text, _b in replies)
    assert all("y" * 100 not in text for text, _b in replies)  # not echoed back
    nothing_kept(bot)


async def test_update_ids_going_backwards_and_unknown_update_types(make_bot: BotFactory) -> None:
    bot, chat = await started(make_bot)
    reaction = await bot.api.post_update(
        {
            "message_reaction": {
                "chat": {"id": USER, "type": "private"},
                "message_id": 1,
                "user": {"id": USER, "is_bot": False, "first_name": "Test"},
                "date": 0,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
        },
        force=True,
    )
    await bot.api.post_update({"some_future_update": {"id": 1}}, force=True)
    await bot.settle()
    assert bot.api.pending_updates == []  # confirmed, not stuck
    # After a quiet week Telegram may restart update ids lower than any seen (B-24):
    # the next ones reuse ids already confirmed, and must be processed all the same.
    assert reaction["update_id"] > 1
    bot.api.set_next_update_id(1)
    tap = await chat.tap("Yes")
    assert tap["update_id"] == 1
    assert chat.transcript()[-1][0] == "May I keep your answers?"
    await chat.tap("Yes")
    assert chat.transcript()[-1][0] == "May we share with partner programs?"
    await chat.say("no")
    assert chat.transcript()[-1][0] == "How are you today?"
    await chat.all_taps_answered()
    assert count(bot.db, InboundMessage) == 4  # hello, two taps, "no"; the others ignored
    assert count(bot.db, InboundMessage, col(InboundMessage.status) != "done") == 0
