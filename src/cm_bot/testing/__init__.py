"""Test doubles that run real framework code: a local Telegram Bot API emulator.

Tests and benchmarks start :class:`FakeBotAPI` in-process and point the real aiogram or
python-telegram-bot clients at it, so encoding, polling and error handling are exercised
over HTTP instead of mocking the frameworks.

The names below are imported from :mod:`cm_bot.testing.botapi` on first use, not when
the package is imported, and never from :mod:`cm_bot.testing.fake_bot_api`:
``python -m cm_bot.testing.fake_bot_api`` imports this package first, and importing that
module here would leave it in ``sys.modules`` before runpy executes it (a RuntimeWarning,
and two copies of every class).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cm_bot.testing.botapi import (
        DEFAULT_TOKEN,
        DEFAULT_USERNAME,
        FORBIDDEN_BLOCKED,
        FORBIDDEN_DEACTIVATED,
        FORBIDDEN_KICKED,
        MAX_CALLBACK_DATA_BYTES,
        MAX_TEXT_LENGTH,
        SECRET_TOKEN_HEADER,
        ApiCall,
        FakeBotAPI,
        FaultRecord,
        JSONDict,
        OutageMode,
        RateLimits,
        SentMessage,
        WebhookAttempt,
    )

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "FORBIDDEN_BLOCKED",
    "FORBIDDEN_DEACTIVATED",
    "FORBIDDEN_KICKED",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_TEXT_LENGTH",
    "SECRET_TOKEN_HEADER",
    "ApiCall",
    "FakeBotAPI",
    "FaultRecord",
    "JSONDict",
    "OutageMode",
    "RateLimits",
    "SentMessage",
    "WebhookAttempt",
]


def __getattr__(name: str) -> Any:
    """Import the emulator's names lazily (see the module docstring)."""
    if name in __all__:
        from cm_bot.testing import botapi

        return getattr(botapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
