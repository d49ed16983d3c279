"""Running the emulator standalone, for bots and tests in other processes."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Sequence

from cm_bot.testing.botapi.api import FakeBotAPI
from cm_bot.testing.botapi.control import CONTROL_HELP
from cm_bot.testing.botapi.records import DEFAULT_TOKEN, DEFAULT_USERNAME


async def _serve(api: FakeBotAPI) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        urls = {"base_url": api.base_url, "control_url": api.control_url, "token": api.token}
        print(json.dumps(urls), flush=True)
        await stop.wait()


def main(
    argv: Sequence[str] | None = None, *, prog: str = "python -m cm_bot.testing.fake_bot_api"
) -> None:
    """Run the emulator until SIGINT/SIGTERM, for bots and tests in other processes.

    Prints ``{"base_url": ..., "control_url": ..., "token": ...}`` as the first stdout line.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).
        prog: The command shown in ``--help``.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Local Telegram Bot API emulator: point CM_BOT_TELEGRAM_API_URL at\n"
            "http://HOST:PORT and play the users through its /_test/... endpoints.\n"
            "Prints its URLs as one JSON line, then runs until SIGINT or SIGTERM."
        ),
        epilog=CONTROL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="Bot API port (0 picks a free one)")
    parser.add_argument(
        "--control-port",
        type=int,
        default=0,
        help="a second port for /_test/... that stays up during a refused-connection "
        "outage (0 picks a free one)",
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--enforce-limits", action="store_true", help="answer 429 like Telegram")
    args = parser.parse_args(argv)
    api = FakeBotAPI(
        token=args.token,
        username=args.username,
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        enforce_limits=args.enforce_limits,
    )
    asyncio.run(_serve(api))
