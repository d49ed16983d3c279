"""The pure parts under the runtime: splitting, decoding, pacing, and what each failure means."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from hypothesis import given
from hypothesis import strategies as st
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from cm_bot.channels import aiogram_adapter, ptb_adapter
from cm_bot.channels.telegram_codec import decode, ignorable, split_message, split_text
from cm_bot.domain import Button, InboundKind, Outbound
from cm_bot.notify.errors import OutcomeUnknown, PermanentFailure, RetryLater, Unreachable
from cm_bot.notify.sender import Limits, RateLimiter


def units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


PIECES = st.sampled_from(["a", "bc", " ", "\n", "😀", "é", "👩\u200d👩\u200d👧"])


@given(st.lists(PIECES, max_size=300).map("".join))
def test_split_text_fits_never_breaks_a_character_and_loses_only_cut_whitespace(
    text: str,
) -> None:
    parts = split_text(text, limit=50)
    assert all(units(part) <= 50 for part in parts)
    for part in parts:
        part.encode("utf-16-le")  # no lone surrogate
    assert "".join("".join(parts).split()) == "".join(text.split())
    if text.strip():
        assert all(part for part in parts)


def test_split_message_puts_buttons_on_the_last_part() -> None:
    buttons = ((Button("OK", "t"),),)
    message = Outbound("telegram", "1", "word " * 2000, buttons=buttons)
    parts = split_message(message)
    assert len(parts) == 3
    assert [bool(p.buttons) for p in parts] == [False, False, True]
    assert split_message(Outbound("telegram", "1", "short")) == [Outbound("telegram", "1", "short")]


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "message": "not an object"},
        {"update_id": 2, "message": {"chat": [], "from": 3}},
        {"update_id": 3, "callback_query": {"message": 7}},
        {"update_id": 4, "poll_answer": {"poll_id": "x"}},
        {"update_id": 5},
        {
            "update_id": 6,
            "my_chat_member": {
                "chat": {"id": -5, "type": "group"},
                "from": {"id": 9},
                "date": 1,
                "new_chat_member": {"status": "kicked"},
            },
        },
    ],
)
def test_decode_never_raises_and_ignores_what_it_cannot_use(update: dict[str, Any]) -> None:
    assert ignorable(decode(update))


def test_decode_kinds() -> None:
    person = {"id": 9, "is_bot": False, "first_name": "A"}
    chat = {"id": 9, "type": "private"}
    base = {"message_id": 1, "from": person, "chat": chat, "date": 1}
    kinds = {
        "text": {"message": {**base, "text": "hi"}},
        "media": {"message": {**base, "photo": [], "caption": "yes"}},
        "forwarded": {"message": {**base, "text": "yes", "forward_origin": {"type": "user"}}},
        "edited": {"edited_message": {**base, "text": "yes", "edit_date": 2}},
        "blocked": {
            "my_chat_member": {
                "chat": chat,
                "from": person,
                "date": 1,
                "new_chat_member": {"status": "kicked"},
            }
        },
    }
    for n, (kind, body) in enumerate(kinds.items()):
        inbound = decode({"update_id": n, **body})
        assert inbound.kind is InboundKind(kind)
        assert (inbound.user_id, inbound.chat_id) == ("9", "9")
    assert decode({"update_id": 9, "message": {**base, "text": "hi"}}).text == "hi"
    # A caption comes with the photo (read for crisis words, never taken as an answer).
    photo = decode({"update_id": 9, "message": {**base, "photo": [], "caption": "c"}})
    assert (photo.kind, photo.text) == (InboundKind.MEDIA, "c")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_short_burst_then_one_a_second_per_chat() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(), clock)
    for _ in range(3):
        assert limiter.delay("7") == 0
        limiter.begin()
        limiter.sent("7")
    assert limiter.delay("7") == pytest.approx(3.0)
    assert limiter.delay("8") == 0  # other chats are not held
    clock.now += 3.0
    assert limiter.delay("7") == 0
    limiter.hold_chat("7", 5.0)
    assert limiter.delay("7") == pytest.approx(5.0)
    assert limiter.waiting_chats() == {"7": pytest.approx(5.0)}


def test_rate_limiter_counts_requests_in_flight_against_the_overall_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(Limits(per_second=5), clock)
    for _ in range(5):
        limiter.begin()
    assert limiter.global_delay() > 0  # five in flight: the sixth waits
    for n in range(5):
        limiter.sent(str(n))
    assert limiter.global_delay() == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.global_delay() == 0
    assert limiter.delay("-100") == 0
    limiter.begin()
    limiter.sent("-100")
    assert limiter.chat_delay("-100") == pytest.approx(3.0)  # groups: 20 a minute


def _aiogram(exc: Exception, cause: BaseException | None = None) -> Any:
    exc.__cause__ = cause
    return aiogram_adapter._delivery_error(exc)


def _ptb(exc: Exception, cause: BaseException | None = None) -> Any:
    exc.__cause__ = cause
    return ptb_adapter._delivery_error(exc)


METHOD = SendMessage(chat_id=1, text="x")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (lambda: _aiogram(TelegramRetryAfter(METHOD, "m", 3)), RetryLater),
        (lambda: _aiogram(TelegramForbiddenError(METHOD, "blocked")), Unreachable),
        (lambda: _aiogram(TelegramBadRequest(METHOD, "chat not found")), PermanentFailure),
        (lambda: _aiogram(TelegramServerError(METHOD, "bad gateway")), RetryLater),
        (lambda: _aiogram(TelegramUnauthorizedError(METHOD, "no")), RetryLater),
        (
            lambda: _aiogram(
                TelegramNetworkError(METHOD, "x"),
                aiohttp.ClientConnectorError(
                    aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                    OSError(111, "refused"),
                ),
            ),
            RetryLater,
        ),
        (
            lambda: _aiogram(TelegramNetworkError(METHOD, "x"), aiohttp.ServerDisconnectedError()),
            RetryLater,
        ),
        (
            lambda: _aiogram(TelegramNetworkError(METHOD, "x"), TimeoutError()),
            OutcomeUnknown,
        ),
        (
            lambda: _aiogram(
                TelegramNetworkError(METHOD, "x"), aiohttp.ClientOSError(104, "reset")
            ),
            OutcomeUnknown,
        ),
        (lambda: _aiogram(ClientDecodeError("m", ValueError("x"), "<html>")), RetryLater),
        (lambda: _aiogram(TelegramMigrateToChat(METHOD, "m", -1001)), PermanentFailure),
        (lambda: _ptb(ChatMigrated(-1001)), PermanentFailure),
        (lambda: _ptb(RetryAfter(3)), RetryLater),
        (lambda: _ptb(Forbidden("blocked")), Unreachable),
        (lambda: _ptb(BadRequest("chat not found")), PermanentFailure),
        (lambda: _ptb(TimedOut(), httpx.ReadTimeout("x")), OutcomeUnknown),
        (lambda: _ptb(TimedOut(), httpx.ConnectTimeout("x")), RetryLater),
        (lambda: _ptb(TimedOut(), httpx.PoolTimeout("x")), RetryLater),
        (lambda: _ptb(NetworkError("x"), httpx.ConnectError("x")), RetryLater),
        (lambda: _ptb(NetworkError("x"), httpx.RemoteProtocolError("x")), RetryLater),
        (lambda: _ptb(NetworkError("x"), httpx.ReadError("x")), OutcomeUnknown),
        (lambda: _ptb(NetworkError("Bad Gateway (502)")), RetryLater),
        (lambda: _ptb(InvalidToken("x")), RetryLater),
    ],
)
def test_what_each_failure_means(error: Any, expected: type[Exception]) -> None:
    assert type(error()) is expected


def test_non_api_errors_are_not_classified() -> None:
    assert aiogram_adapter._delivery_error(ValueError("x")) is None
    assert ptb_adapter._delivery_error(ValueError("x")) is None
