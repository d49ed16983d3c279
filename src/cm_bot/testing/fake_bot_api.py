"""The Bot API emulator's first home, kept so existing imports and commands work.

The emulator lives in :mod:`cm_bot.testing.botapi` (see there);
``python -m cm_bot.testing.fake_bot_api`` runs it as ``python -m cm_bot.testing.botapi``
does.
"""

from cm_bot.testing.botapi import (
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    FORBIDDEN_BLOCKED,
    FORBIDDEN_DEACTIVATED,
    FORBIDDEN_KICKED,
    MAX_CALLBACK_DATA_BYTES,
    MAX_COMMAND_DESCRIPTION,
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
    main,
)

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "FORBIDDEN_BLOCKED",
    "FORBIDDEN_DEACTIVATED",
    "FORBIDDEN_KICKED",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_COMMAND_DESCRIPTION",
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
    "main",
]

if __name__ == "__main__":
    main()
