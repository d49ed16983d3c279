"""FakeBotAPI driven by the real aiogram and python-telegram-bot clients over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import telegram
import telegram.error
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.types import Update as AiogramUpdate
from aiohttp import web
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from cm_bot.testing import (
    FORBIDDEN_DEACTIVATED,
    SECRET_TOKEN_HEADER,
    FakeBotAPI,
    RateLimits,
)
from tests.support.emulator import make_aiogram_bot

KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Yes", callback_data="answer:yes"),
            InlineKeyboardButton(text="No", callback_data="answer:no"),
        ]
    ]
)
KEYBOARD_JSON = {
    "inline_keyboard": [
        [
            {"text": "Yes", "callback_data": "answer:yes"},
            {"text": "No", "callback_data": "answer:no"},
        ]
    ]
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def raw_call(
    api: FakeBotAPI, method: str, *, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST JSON straight at the emulator, for what neither framework sends."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}/bot{token or api.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


# --------------------------------------------------------------------------- aiogram


async def test_aiogram_bot_methods(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    me = await aiogram_bot.get_me()
    assert (me.id, me.username, me.is_bot) == (api.bot_id, "cm_test_bot", True)

    sent = await aiogram_bot.send_message(42, "Ready?", reply_markup=KEYBOARD)
    assert sent.message_id == 1
    assert sent.chat.id == 42
    assert sent.from_user is not None and sent.from_user.id == api.bot_id
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump(exclude_none=True) == KEYBOARD_JSON
    assert api.sent[0].text == "Ready?"
    assert api.sent[0].reply_markup == KEYBOARD_JSON

    edited = await aiogram_bot.edit_message_text("Thanks", chat_id=42, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Thanks"
    assert edited.reply_markup is None  # editing text without a markup drops the keyboard
    assert [e.method for e in api.edits] == ["editMessageText"]

    update = await api.press_button(42, sent.message_id, "answer:yes")
    query_id = update["callback_query"]["id"]
    assert await aiogram_bot.answer_callback_query(query_id, text="Noted")
    assert api.callback_answers[query_id]["text"] == "Noted"
    # Telegram accepts one answer per query.
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await aiogram_bot.answer_callback_query(query_id)

    second = await aiogram_bot.send_message(42, "again")
    assert second.message_id == 2
    other_chat = await aiogram_bot.send_message(43, "hello")
    assert other_chat.message_id == 1


async def test_aiogram_dispatcher_polling_echoes_message_and_button(api: FakeBotAPI) -> None:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}", reply_markup=KEYBOARD)

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("ok")
        assert query.message is not None
        await query.message.answer(f"pressed {query.data}")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = make_aiogram_bot(api)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=10)
    )
    try:
        await api.wait_for_calls("getUpdates")
        await api.post_message(7, "hello")
        [reply] = await api.wait_for_sent(1, chat_id=7)
        assert reply.text == "echo: hello"

        update = await api.press_button(7, reply.message_id, "answer:no")
        sent = await api.wait_for_sent(2, chat_id=7)
        assert sent[-1].text == "pressed answer:no"
        await api.wait_until(lambda: update["callback_query"]["id"] in api.callback_answers)
    finally:
        await dispatcher.stop_polling()
        await polling
    # aiogram confirmed both updates before stopping.
    assert api.pending_updates == []


async def test_aiogram_sees_retry_after_and_forbidden(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    api.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as retry:
        await aiogram_bot.send_message(42, "hi")
    assert retry.value.retry_after == 7
    assert api.rejected_429 == 1
    assert api.sent == []
    await aiogram_bot.send_message(42, "hi")  # the fault fired once only
    assert len(api.sent) == 1

    api.block_chat(42)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await aiogram_bot.send_message(42, "hi")
    api.unblock_chat(42)
    api.fail_next("sendMessage", status=403, description=FORBIDDEN_DEACTIVATED, chat_id=42)
    await aiogram_bot.send_message(43, "other chats are unaffected")
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await aiogram_bot.send_message(42, "hi")
    assert [f.status for f in api.faults_fired] == [429, 403]


async def test_aiogram_validation_errors(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await aiogram_bot.send_message(42, "")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await aiogram_bot.send_message(42, "x" * 4097)
    await aiogram_bot.send_message(42, "x" * 4096)
    # Length is counted in UTF-16 code units: each emoji is two.
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await aiogram_bot.send_message(42, "😀" * 2049)
    too_big = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="é" * 33)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await aiogram_bot.send_message(42, "pick", reply_markup=too_big)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await aiogram_bot.edit_message_text("new", chat_id=42, message_id=999)
    sent = await aiogram_bot.send_message(42, "same", reply_markup=KEYBOARD)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aiogram_bot.edit_message_text(
            "same", chat_id=42, message_id=sent.message_id, reply_markup=KEYBOARD
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aiogram_bot.edit_message_reply_markup(
            chat_id=42, message_id=sent.message_id, reply_markup=KEYBOARD
        )
    removed = await aiogram_bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id)
    assert isinstance(removed, Message) and removed.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await aiogram_bot.send_message(42, "1 <br> 2", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await aiogram_bot.send_message(42, "<b>bold", parse_mode="HTML")
    html = await aiogram_bot.send_message(42, "<b>a</b> &amp; b", parse_mode="HTML")
    assert html.text == "a & b"
    assert api.sent[-1].text == "<b>a</b> &amp; b"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await aiogram_bot.answer_callback_query("no-such-query")


async def test_aiogram_commands_and_misc_methods(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

    scope = BotCommandScopeAllPrivateChats()
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    assert await aiogram_bot.set_my_commands(commands, scope=scope, language_code="uk")
    assert await aiogram_bot.get_my_commands() == []
    stored = await aiogram_bot.get_my_commands(scope=scope, language_code="uk")
    assert [c.model_dump() for c in stored] == [c.model_dump() for c in commands]
    assert (
        api.commands(scope={"type": "all_private_chats"}, language_code="uk")[0]["command"]
        == "start"
    )
    assert await aiogram_bot.delete_my_commands(scope=scope, language_code="uk")
    assert await aiogram_bot.get_my_commands(scope=scope, language_code="uk") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await aiogram_bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])

    assert await aiogram_bot.send_chat_action(42, "typing")
    assert api.chat_actions == [(42, "typing")]
    assert await aiogram_bot.leave_chat(-5)
    assert await aiogram_bot.log_out()
    assert await aiogram_bot.close()
    info = await aiogram_bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0


# --------------------------------------------------------------------------- python-telegram-bot


async def test_ptb_bot_methods(api: FakeBotAPI, ptb_bot: telegram.Bot) -> None:
    assert ptb_bot.username == "cm_test_bot"  # filled by getMe during initialize()
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Yes", callback_data="answer:yes")]]
    )
    sent = await ptb_bot.send_message(42, "Ready?", reply_markup=keyboard, protect_content=True)
    assert sent.message_id == 1
    assert sent.reply_markup == keyboard
    assert sent.has_protected_content
    assert api.sent[0].reply_markup == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "answer:yes"}]]
    }
    edited = await ptb_bot.edit_message_text("Thanks", chat_id=42, message_id=sent.message_id)
    assert isinstance(edited, telegram.Message) and edited.text == "Thanks"
    update = await api.press_button(42, sent.message_id, "answer:yes")
    query_id = update["callback_query"]["id"]
    assert await ptb_bot.answer_callback_query(query_id, text="Noted", show_alert=True)
    assert api.callback_answers[query_id]["show_alert"] is True
    assert api.callback_answers[query_id]["params"]["show_alert"] == "true"  # form-encoded
    with pytest.raises(telegram.error.BadRequest, match="Message text is empty"):
        await ptb_bot.send_message(42, "")  # PTB capitalises the first letter of errors


async def test_ptb_application_polling_receives_message(api: FakeBotAPI) -> None:
    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = Application.builder().token(api.token).base_url(f"{api.base_url}/bot").build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0)
        try:
            await api.post_message(9, "hi there")
            [reply] = await api.wait_for_sent(1, chat_id=9)
            assert reply.text == "echo: hi there"
        finally:
            await app.updater.stop()
            await app.stop()
    assert api.pending_updates == []  # PTB's shutdown getUpdates confirmed it


async def test_ptb_sees_retry_after_and_forbidden(
    api: FakeBotAPI, ptb_bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without this PTB warns (PTBDeprecationWarning) when retry_after is read.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.fail_next("sendMessage", status=429, retry_after=5)
    with pytest.raises(telegram.error.RetryAfter) as retry:
        await ptb_bot.send_message(42, "hi")
    assert retry.value.retry_after == dtm.timedelta(seconds=5)

    api.block_chat(42)
    with pytest.raises(telegram.error.Forbidden, match="bot was blocked by the user"):
        await ptb_bot.send_message(42, "hi")
    with pytest.raises(telegram.error.Forbidden):
        await ptb_bot.send_chat_action(42, "typing")


async def test_ptb_timeouts_record_whether_the_message_was_accepted(
    api: FakeBotAPI, ptb_bot: telegram.Bot
) -> None:
    api.timeout_next("sendMessage", 5.0, accepted=True)
    with pytest.raises(telegram.error.TimedOut):
        await ptb_bot.send_message(42, "maybe sent", read_timeout=0.2)
    [fault] = api.faults_fired
    assert (fault.kind, fault.accepted, fault.message_id) == ("timeout", True, 1)
    assert [m.text for m in api.sent] == ["maybe sent"]  # Telegram has it, the client doesn't know

    api.timeout_next("sendMessage", 5.0, accepted=False)
    with pytest.raises(telegram.error.TimedOut):
        await ptb_bot.send_message(42, "never sent", read_timeout=0.2)
    assert (api.faults_fired[-1].accepted, api.faults_fired[-1].message_id) == (False, None)
    assert len(api.sent) == 1

    api.timeout_next("sendMessage", 0.05, accepted=False, status=500)
    with pytest.raises(telegram.error.NetworkError, match="Internal Server Error"):
        await ptb_bot.send_message(42, "slow then rejected")


async def test_dropped_connections(
    api: FakeBotAPI, aiogram_bot: Bot, ptb_bot: telegram.Bot
) -> None:
    api.drop_connection_next("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await aiogram_bot.send_message(42, "lost")
    api.drop_connection_next("sendMessage", accepted=True)
    with pytest.raises(telegram.error.NetworkError):
        await ptb_bot.send_message(42, "sent but unanswered")
    assert [m.text for m in api.sent] == ["sent but unanswered"]
    assert [(f.kind, f.accepted) for f in api.faults_fired] == [("drop", False), ("drop", True)]
    await aiogram_bot.send_message(42, "the next one works")


async def test_outage_modes(api: FakeBotAPI, aiogram_bot: Bot, ptb_bot: telegram.Bot) -> None:
    await api.outage(True)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await aiogram_bot.get_me()
    await api.outage(True, mode="html")
    # Telegram's edge answers 502 with nginx's HTML; aiogram fails to decode it ...
    with pytest.raises(ClientDecodeError):
        await aiogram_bot.get_me()
    # ... and PTB reports the status.
    with pytest.raises(telegram.error.NetworkError, match="Bad Gateway"):
        await ptb_bot.send_message(42, "x")
    await api.outage(True, mode="refuse")
    with pytest.raises(TelegramNetworkError):
        await aiogram_bot.get_me()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{api.control_url}/_test/calls") as resp,
    ):
        assert resp.status == 200  # the control endpoint stays reachable
    await api.outage(False)
    assert (await aiogram_bot.get_me()).username == "cm_test_bot"
    assert [f.kind for f in api.faults_fired].count("outage") >= 3


async def test_fail_ratio_is_reproducible_with_a_seed() -> None:
    async def run(seed: int) -> list[int]:
        async with FakeBotAPI() as api:
            api.fail_ratio("sendMessage", 0.5, statuses=[429, 500, 502], seed=seed)
            return [(await raw_call(api, "sendMessage", chat_id=1, text="x"))[0] for _ in range(40)]

    first, again, other = await run(1), await run(1), await run(2)
    assert first == again
    assert first != other
    assert set(first) == {200, 429, 500, 502}


# --------------------------------------------------------------------------- rate limits


async def test_rate_limit_rejects_a_burst_of_40_to_one_chat() -> None:
    clock = FakeClock()
    async with FakeBotAPI(enforce_limits=True, clock=clock) as api:
        bot = make_aiogram_bot(api)
        try:
            results = await asyncio.gather(
                *(bot.send_message(42, f"m{i}") for i in range(40)), return_exceptions=True
            )
            rejected = [r for r in results if isinstance(r, TelegramRetryAfter)]
            assert len(api.sent) == RateLimits().private_burst == 3
            assert len(rejected) == api.rejected_429 == 37
            assert {r.retry_after for r in rejected} == {3}
            clock.now += 3.0
            await bot.send_message(42, "after the window")
        finally:
            await bot.session.close()


async def test_group_and_global_rate_limits() -> None:
    clock = FakeClock()
    async with FakeBotAPI(enforce_limits=True, clock=clock) as api:
        statuses = [
            (await raw_call(api, "sendMessage", chat_id=-77, text="g"))[0] for _ in range(21)
        ]
        assert statuses.count(200) == 20
        status, body = await raw_call(api, "sendMessage", chat_id=-77, text="g")
        assert status == 429 and body["parameters"]["retry_after"] == 60

        clock.now += 60.0
        for chat in range(1, 31):  # 30 different private chats in the same instant
            assert (await raw_call(api, "sendMessage", chat_id=chat, text="x"))[0] == 200
        status, body = await raw_call(api, "sendMessage", chat_id=31, text="x")
        assert (status, body["parameters"]["retry_after"]) == (429, 1)
        assert body["description"] == "Too Many Requests: retry after 1"


# --------------------------------------------------------------------------- getUpdates


async def test_get_updates_offset_limit_and_negative_offset(
    api: FakeBotAPI, aiogram_bot: Bot
) -> None:
    for text in ("a", "b", "c"):
        await api.post_message(5, text)
    first = await aiogram_bot.get_updates()
    assert [u.update_id for u in first] == [1, 2, 3]
    assert [u.update_id for u in await aiogram_bot.get_updates()] == [1, 2, 3]  # unconfirmed
    assert [u.update_id for u in await aiogram_bot.get_updates(offset=2, limit=1)] == [2]
    assert [u.update_id for u in await aiogram_bot.get_updates(offset=4)] == []
    assert api.pending_updates == []

    for text in ("d", "e", "f"):
        await api.post_message(5, text)
    assert [u.update_id for u in await aiogram_bot.get_updates(offset=-1)] == [6]
    assert [u["update_id"] for u in api.pending_updates] == [6]
    assert await aiogram_bot.delete_webhook(drop_pending_updates=True)
    assert api.pending_updates == []


async def test_long_poll_wakes_up_when_an_update_is_posted(
    api: FakeBotAPI, aiogram_bot: Bot
) -> None:
    poll = asyncio.create_task(aiogram_bot.get_updates(timeout=30))
    await api.wait_until(lambda: api.polls_waiting == 1, what="a long poll")
    assert not poll.done()
    await api.post_message(5, "wake up")
    async with asyncio.timeout(2):
        updates = await poll
    assert [u.message.text for u in updates if u.message] == ["wake up"]

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await aiogram_bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == []
    assert loop.time() - started >= 0.9  # an empty long poll lasts its timeout


async def test_update_ids_going_backwards_are_still_delivered(
    api: FakeBotAPI, ptb_bot: telegram.Bot
) -> None:
    api.set_next_update_id(500)
    await api.post_message(5, "before the reset")
    [old] = await ptb_bot.get_updates()
    api.set_next_update_id(3)  # Telegram restarts the sequence lower after a quiet week
    await api.post_message(5, "after the reset")
    updates = await ptb_bot.get_updates(offset=old.update_id + 1)
    assert [(u.update_id, u.message.text) for u in updates if u.message] == [(3, "after the reset")]
    assert await ptb_bot.get_updates(offset=4) == ()


async def test_second_poller_terminates_the_first(api: FakeBotAPI) -> None:
    first = asyncio.create_task(raw_call(api, "getUpdates", timeout=30))
    await api.wait_until(lambda: api.polls_waiting == 1, what="a long poll")
    status, body = await raw_call(api, "getUpdates", timeout=0)
    assert status == 200 and body["result"] == []
    async with asyncio.timeout(2):
        old_status, old_body = await first
    assert old_status == 409
    assert "terminated by other getUpdates request" in old_body["description"]


async def test_allowed_updates_filter_new_updates(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    await aiogram_bot.get_updates(allowed_updates=["callback_query"])
    await api.post_message(5, "ignored")
    pressed = await api.press_button(5, 1, "x")
    assert [u.update_id for u in await aiogram_bot.get_updates()] == [pressed["update_id"]]
    assert api.filtered_updates[0]["message"]["text"] == "ignored"
    unknown = await api.post_update({"brand_new_update": {"x": 1}}, force=True)
    assert api.pending_updates[-1] == unknown


# --------------------------------------------------------------------------- webhooks


@asynccontextmanager
async def receiver(
    respond: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
) -> AsyncIterator[tuple[str, list[tuple[dict[str, Any], dict[str, str]]]]]:
    """A tiny webhook endpoint; yields its URL and the (update, headers) it received."""
    received: list[tuple[dict[str, Any], dict[str, str]]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        received.append((await request.json(), dict(request.headers)))
        return await respond(request, len(received))

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site.port}/hook", received
    finally:
        await runner.cleanup()


async def test_webhook_delivers_with_secret_and_retries_after_500(
    api: FakeBotAPI, aiogram_bot: Bot
) -> None:
    async def flaky(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=500 if n == 1 else 200)

    async with receiver(flaky) as (url, received):
        assert await aiogram_bot.set_webhook(url, secret_token="s3cret-token")
        update = await api.post_message(11, "via webhook")
        await api.wait_until(lambda: len(received) == 2, what="a retried delivery")
        assert [body for body, _ in received] == [update, update]
        assert all(h[SECRET_TOKEN_HEADER] == "s3cret-token" for _, h in received)
        assert [(a.attempt, a.status) for a in api.webhook_attempts] == [(1, 500), (2, 200)]
        await api.wait_until(lambda: not api.pending_updates)
        info = await aiogram_bot.get_webhook_info()
        assert info.url == url
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )

        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await aiogram_bot.get_updates()
        assert await aiogram_bot.delete_webhook()
        assert await aiogram_bot.get_updates() == []


async def test_webhook_delivers_in_order_one_at_a_time() -> None:
    in_flight = 0
    most = 0

    async def slowish(request: web.Request, n: int) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)  # simulates work, so overlapping deliveries would show
        in_flight -= 1
        return web.Response()

    async with FakeBotAPI() as api, receiver(slowish) as (url, received):
        await raw_call(api, "setWebhook", url=url)
        posted = [await api.post_message(11, f"m{i}") for i in range(5)]
        await api.wait_until(lambda: len(received) == 5)
        assert [body["update_id"] for body, _ in received] == [u["update_id"] for u in posted]
        assert SECRET_TOKEN_HEADER not in received[0][1]
        assert most == 1


async def test_webhook_gives_up_after_bounded_retries_and_runs_reply_methods() -> None:
    async def respond(request: web.Request, n: int) -> web.StreamResponse:
        body = await request.json()
        if body["message"]["text"] == "doomed":
            return web.Response(status=502)
        # Telegram executes a method returned in the webhook's response.
        return web.json_response({"method": "sendMessage", "chat_id": 11, "text": "inline reply"})

    async with (
        FakeBotAPI(webhook_max_attempts=3, webhook_retry_delay=0.01) as api,
        receiver(respond) as (url, _received),
    ):
        await raw_call(api, "setWebhook", url=url, drop_pending_updates=True)
        await api.post_message(11, "doomed")
        await api.post_message(11, "fine")
        await api.wait_for_sent(1, chat_id=11)
        assert [(a.update_id, a.status) for a in api.webhook_attempts] == [
            (1, 502),
            (1, 502),
            (1, 502),
            (2, 200),
        ]
        assert api.sent[0].text == "inline reply"


async def test_webhook_connection_errors_are_retried_and_reported() -> None:
    async with FakeBotAPI(webhook_max_attempts=2, webhook_retry_delay=0.01) as api:
        async with receiver(lambda request, n: awaitable_response()) as (url, _received):
            pass  # the receiver is gone again: its port now refuses connections
        await raw_call(api, "setWebhook", url=url, secret_token="abc")
        await api.post_message(11, "nobody home")
        await api.wait_until(lambda: len(api.webhook_attempts) == 2)
        assert all(a.status is None and a.error for a in api.webhook_attempts)
        await api.wait_until(lambda: not api.pending_updates)  # given up after 2 attempts
        _, info = await raw_call(api, "getWebhookInfo")
        assert info["result"]["url"] == url
        assert info["result"]["last_error_message"]
        status, body = await raw_call(api, "setWebhook", url=url, secret_token="no spaces!")
        assert (status, body["description"]) == (
            400,
            "Bad Request: secret token contains unallowed characters",
        )


async def awaitable_response() -> web.StreamResponse:
    return web.Response()


# --------------------------------------------------------------------------- HTTP surface


async def test_request_encodings_and_http_errors(api: FakeBotAPI) -> None:
    base = f"{api.base_url}/bot{api.token}"
    markup = json.dumps(KEYBOARD_JSON)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/sendMessage", params={"chat_id": "1", "text": "q"}) as r:
            assert (await r.json())["result"]["text"] == "q"
        async with session.post(
            f"{base}/SENDMESSAGE", json={"chat_id": 1, "text": "j", "reply_markup": KEYBOARD_JSON}
        ) as r:
            assert (await r.json())["result"]["reply_markup"] == KEYBOARD_JSON
        form = aiohttp.FormData()
        form.add_field("chat_id", "1")
        form.add_field("text", "multipart")
        form.add_field("reply_markup", markup)
        form.add_field("document", b"%PDF", filename="a.pdf", content_type="application/pdf")
        async with session.post(f"{base}/sendMessage", data=form) as r:
            assert r.status == 200
        assert api.sent[-1].reply_markup == KEYBOARD_JSON
        assert api.sent[-1].params["document"] == {
            "filename": "a.pdf",
            "content_type": "application/pdf",
            "size": 4,
        }
        async with session.post(
            f"{base}/sendMessage", data={"chat_id": "1", "text": "x", "reply_markup": "{oops"}
        ) as r:
            assert (r.status, (await r.json())["description"]) == (
                400,
                "Bad Request: can't parse reply keyboard markup JSON object",
            )
        async with session.post(f"{api.base_url}/bot999:wrong/getMe") as r:
            assert (r.status, await r.json()) == (
                401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
        async with session.post(f"{base}/sendTelepathy") as r:
            assert (r.status, (await r.json())["description"]) == (
                404,
                "Not Found: method not found",
            )
    assert api.calls["sendMessage"] == 4
    assert api.responses[400] == 1


async def test_test_endpoints_drive_a_bot_from_outside(api: FakeBotAPI, aiogram_bot: Bot) -> None:
    async with aiohttp.ClientSession(base_url=api.control_url) as http:
        async with http.post("/_test/message", json={"user_id": 21, "text": "/start"}) as r:
            update = (await r.json())["result"]
        assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        [got] = await aiogram_bot.get_updates()
        assert got.message is not None and got.message.text == "/start"

        fault = {"action": "fail_next", "method": "sendMessage", "retry_after": 4}
        async with http.post("/_test/faults", json=fault) as r:
            assert r.status == 200
        with pytest.raises(TelegramRetryAfter):
            await aiogram_bot.send_message(21, "hi")
        sent = await aiogram_bot.send_message(21, "hi", reply_markup=KEYBOARD)
        async with http.get("/_test/wait_sent", params={"count": "1", "chat_id": "21"}) as r:
            [record] = (await r.json())["result"]
        assert (record["text"], record["message_id"]) == ("hi", sent.message_id)
        async with http.get("/_test/sent", params={"chat_id": "99"}) as r:
            assert (await r.json())["result"] == []

        press = {"user_id": 21, "message_id": sent.message_id, "data": "answer:yes"}
        async with http.post("/_test/callback", json=press) as r:
            query_id = (await r.json())["result"]["callback_query"]["id"]
        await aiogram_bot.answer_callback_query(query_id)
        async with http.get("/_test/callback_answers") as r:
            assert query_id in (await r.json())["result"]
        async with http.get("/_test/calls") as r:
            counters = (await r.json())["result"]
        assert counters["rejected_429"] == 1 and counters["calls"]["sendMessage"] == 2
        async with http.post("/_test/faults", json={"action": "explode"}) as r:
            assert r.status == 400
        async with http.get("/_test/wait_sent", params={"count": "5", "timeout": "0.05"}) as r:
            assert r.status == 408


async def test_posted_updates_parse_in_both_frameworks(api: FakeBotAPI) -> None:
    base = await api.post_message(3, "hello", username="ann", language_code="uk")
    posted = [
        base,
        await api.post_message(3, sticker=True),
        await api.post_message(3, photo=True, caption="look"),
        await api.post_message(3, voice=True),
        await api.post_message(3, document=True),
        await api.post_message(3, location=(1.5, 2.5)),
        await api.post_message(3, contact="+380000000000"),
        await api.post_message(3, "fwd", forward_from=77),
        await api.post_message(3, "hello, edited", edited_of=base["message"]["message_id"]),
        await api.post_message(3, "group hi", chat_type="supergroup"),
        await api.post_my_chat_member(3, blocked=True),
        await api.press_button(3, 999, "stale"),
        await api.post_update({"brand_new_update": {"x": 1}}),
    ]
    for raw in posted:
        aiogram_update = AiogramUpdate.model_validate(raw)
        ptb_update = telegram.Update.de_json(raw, None)
        assert aiogram_update.update_id == ptb_update.update_id == raw["update_id"]
    edited = telegram.Update.de_json(posted[8], None)
    assert edited.edited_message is not None and edited.edited_message.message_id == 1
    assert telegram.Update.de_json(posted[7], None).message.forward_origin.sender_user.id == 77  # type: ignore[union-attr]
    assert posted[9]["message"]["chat"] == {
        "id": -1003,
        "type": "supergroup",
        "title": "Test supergroup",
    }
    # A stale button press carries Telegram's "inaccessible message" (date 0).
    assert AiogramUpdate.model_validate(posted[11]).callback_query.message.date == 0  # type: ignore[union-attr]
    # Blocking the bot also makes sends fail.
    status, body = await raw_call(api, "sendMessage", chat_id=3, text="still there?")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


@pytest.mark.slow
async def test_standalone_emulator_in_a_subprocess() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cm_bot.testing.fake_bot_api",
        "--username",
        "other_bot",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            urls = json.loads(await proc.stdout.readline())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{urls['control_url']}/_test/message", json={"user_id": 5, "text": "hi"}
            ) as r:
                assert r.status == 200
            api_url = f"{urls['base_url']}/bot{urls['token']}"
            async with http.post(f"{api_url}/getMe") as r:
                assert (await r.json())["result"]["username"] == "other_bot"
            async with http.post(f"{api_url}/getUpdates") as r:
                [update] = (await r.json())["result"]
            assert update["message"]["text"] == "hi"
            async with http.post(f"{api_url}/sendMessage", data={"chat_id": "5", "text": "yo"}):
                pass
            async with http.get(f"{urls['base_url']}/_test/sent", params={"chat_id": "5"}) as r:
                assert [m["text"] for m in (await r.json())["result"]] == ["yo"]
    finally:
        proc.terminate()
        await proc.communicate()
    assert proc.returncode == 0
