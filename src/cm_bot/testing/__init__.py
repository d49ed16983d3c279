"""Test doubles that run real framework code: a local Telegram Bot API emulator.

Tests and benchmarks start :class:`FakeBotAPI` in-process and point the real aiogram or
python-telegram-bot clients at it, so encoding, polling and error handling are exercised
over HTTP instead of mocking the frameworks.
"""

from cm_bot.testing.fake_bot_api import (
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
