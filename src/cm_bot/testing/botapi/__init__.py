"""An in-process emulator of the Telegram Bot API, served over real HTTP.

Tests and benchmarks point the *real* aiogram and python-telegram-bot clients at it
(``TelegramAPIServer.from_base(api.base_url)`` / ``base_url=f"{api.base_url}/bot"``), so
request encoding, response parsing, error mapping and polling loops of both frameworks are
exercised instead of mocked. The test side queues updates (``post_message``,
``press_button``), inspects what the bot sent (``sent``, ``edits``, ``callback_answers``)
and injects the failures that production sees (429 with ``retry_after``, 5xx, 403 blocked,
slow answers, dropped connections, outages, Telegram's own flood limits).

Everything the test side can do is also exposed as JSON under ``/_test/...`` so a bot
running in a subprocess can be driven the same way; ``python -m cm_bot.testing.botapi``
(or ``python -m cm_bot.testing.fake_bot_api``, the older name) runs the emulator
standalone and prints its URLs as one JSON line.

The emulator validates what is cheap to validate the way Telegram does (empty or too long
text, ``callback_data`` over 64 bytes, malformed HTML, editing a missing or unmodified
message, answering an unknown callback query) because those are the mistakes a bot makes in
production and a permissive fake would hide.

The parts, one job each: :mod:`.api` (:class:`FakeBotAPI`, wiring the rest together),
:mod:`.users` (updates users cause), :mod:`.faults` (injected failures), :mod:`.limits`
(flood limits), :mod:`.methods` (the Bot API methods), :mod:`.markup` (text, HTML and
keyboard checks), :mod:`.params` (reading requests), :mod:`.state` (chats, messages, the
update queue), :mod:`.webhook` (webhook delivery), :mod:`.server` (HTTP, faults on the
wire), :mod:`.control` (``/_test``), :mod:`.records` (constants and what tests inspect),
:mod:`.signals` (the events waits sleep on) and :mod:`.cli` (the standalone command).
Install it with the ``testing`` extra (``pip install cm-bot[testing]``), which declares
the aiohttp it serves and posts with.
"""

from cm_bot.testing.botapi.api import FakeBotAPI
from cm_bot.testing.botapi.cli import main
from cm_bot.testing.botapi.limits import RateLimits
from cm_bot.testing.botapi.records import (
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
    Deletion,
    FaultRecord,
    JSONDict,
    OutageMode,
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
    "MAX_COMMAND_DESCRIPTION",
    "MAX_TEXT_LENGTH",
    "SECRET_TOKEN_HEADER",
    "ApiCall",
    "Deletion",
    "FakeBotAPI",
    "FaultRecord",
    "JSONDict",
    "OutageMode",
    "RateLimits",
    "SentMessage",
    "WebhookAttempt",
    "main",
]
