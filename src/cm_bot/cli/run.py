"""``cm-bot run``: the Telegram bot, and the start-up warnings it logs.

Its help lists every CM_BOT_* setting, read from ``Settings``. That needs pydantic, so
:class:`RunCommand` builds it only when ``cm-bot run --help`` is asked for: the other
commands, and ``cm-bot --help``, do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typer.core import TyperCommand

from cm_bot.cli._common import fail

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

    from cm_bot.bootstrap import App

# The first line of `cm-bot run --help`, and the line of `run` in `cm-bot --help`.
RUN_SUMMARY = "Run the Telegram bot (long polling, or a webhook)."

# What `cm-bot run --help` says about each setting. Defaults come from Settings itself;
# a setting missing here is still listed (see _run_help), so the help never leaves one out.
_SETTING_NOTES: dict[str, str] = {
    "database_url": "database URL",
    "telegram_token": "the bot token from @BotFather (required)",
    "telegram_api_url": "Bot API server",
    "bot_username": "the bot's name in links [asked with getMe]",
    "backend": "aiogram or ptb",
    "default_locale": "language when a client's is unknown",
    "webhook_url": "webhook mode at this URL [unset: polling]",
    "webhook_secret": "required in webhook mode",
    "webhook_listen": "the webhook server's address",
    "webhook_port": "the webhook server's port",
    "poll_timeout": "long-polling wait, seconds",
    "telegram_request_timeout": "Bot API request time-out, seconds",
    "flows_dir": "flow files [./conversations, else shipped]",
    "locales_dir": "translations [./locales, else shipped]",
    "program_file": "program file [conversations/program.yaml]",
    "intake_flows": "flows after consent, a JSON list",
    "max_bad_answers": "bad answers before /human is offered",
    "timezone": "clients' default time zone",
    "contact_hours": "clients' default contact hours",
    "tick_seconds": "how often the scheduler wakes, seconds",
    "console_url": "the web console's public URL [unset: none]",
}


def _run_help() -> str:
    """The help of `cm-bot run`: what it does, then every CM_BOT_* setting it reads."""
    from cm_bot.settings import Settings

    lines = []
    for name, field in Settings.model_fields.items():
        note = _SETTING_NOTES.get(name, "")
        default = field.default
        if field.default_factory is None and default is not None and "[" not in note:
            note = f"{note} [{default}]".strip()
        lines.append(f"{'CM_BOT_' + name.upper():<33}{note}".rstrip())
    return (
        f"{RUN_SUMMARY}\n\n"
        "It needs CM_BOT_TELEGRAM_TOKEN. Settings are read from the environment or a .env "
        "file in the working directory; defaults in brackets:\n\n\b\n" + "\n".join(lines)
    )


class RunCommand(TyperCommand):
    """`cm-bot run`, registered with help=RUN_SUMMARY: the full help is built when shown."""

    def format_help_text(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Build the full help now: it reads Settings, which `cm-bot --help` need not load."""
        self.help = _run_help()
        super().format_help_text(ctx, formatter)


def run() -> None:
    """Run the Telegram bot: long polling, or a webhook when CM_BOT_WEBHOOK_URL is set."""
    import asyncio
    import os
    import signal
    from datetime import datetime
    from urllib.parse import urlparse

    from cm_bot import logsetup
    from cm_bot.bootstrap import build_app, build_telegram
    from cm_bot.flows import FlowDefinitionError
    from cm_bot.settings import Settings

    # PTB 22 warns on every rate-limit error while it moves retry_after to timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    settings = Settings()
    if settings.telegram_token is None:
        raise fail("CM_BOT_TELEGRAM_TOKEN is not set (try `cm-bot chat` to use the terminal)")
    secrets = [
        s.get_secret_value() for s in (settings.telegram_token, settings.webhook_secret) if s
    ]
    logsetup.configure(secrets=secrets)
    if settings.webhook_url and not settings.webhook_secret:
        raise fail("CM_BOT_WEBHOOK_SECRET must be set in webhook mode")
    try:
        application = build_app(settings)
    except FlowDefinitionError as exc:
        raise fail(str(exc)) from None
    runtime = build_telegram(application)
    _safety_warnings(application)

    async def main() -> None:
        from cm_bot.scheduling import Ticker, housekeeping, policy_from_settings

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runtime.stopping.set)
        # Scheduled contacts and escalations: APScheduler only wakes the dispatcher.
        work = housekeeping(application.engine, policy_from_settings(settings))

        def tick(now: datetime) -> object:
            report = work(now)
            loop.call_soon_threadsafe(runtime.sender.wake)  # new contacts go out now
            return report

        ticker = Ticker(tick, seconds=settings.tick_seconds, clock=application.clock)
        ticker.start()
        try:
            if settings.webhook_url:
                path = urlparse(settings.webhook_url).path or "/telegram"
                await runtime.run_webhook(
                    settings.webhook_url, settings.webhook_listen, settings.webhook_port, path
                )
            else:
                await runtime.run_polling()
        finally:
            ticker.shutdown()

    try:
        asyncio.run(main())
    finally:
        application.close()


def _safety_warnings(application: App) -> None:
    """Say at start-up what would leave a person in crisis unheard (the README's 'Safety')."""
    import logging

    from cm_bot.program import SHIPPED
    from cm_bot.storage.admin import escalation_reachable

    log = logging.getLogger("cm_bot.run")
    if not escalation_reachable(application.db):
        log.warning(
            "no supervisor or admin is linked to Telegram and no team chat is registered: "
            "an urgent flag whose case manager cannot be reached will reach nobody "
            "(cm-bot staff add --role supervisor, then /register_team_chat)"
        )
    program = application.engine.program
    if program.example:
        log.warning(
            "the program file %s is an example: verify every resource, then remove 'example: true'",
            application.settings.program_file,
        )
    elif application.settings.program_file.resolve() == SHIPPED:
        log.warning(
            "using the shipped program file (a United States program): set "
            "CM_BOT_PROGRAM_FILE to your own before going live"
        )
