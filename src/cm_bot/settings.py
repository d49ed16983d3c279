"""Configuration from environment variables (``CM_BOT_*``) and an optional ``.env``.

Built once in :mod:`cm_bot.bootstrap`; tests pass values to the constructor.
Secrets are ``SecretStr`` so they never print in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO = Path(__file__).resolve().parents[2]


def _default_dir(name: str) -> Path:
    """``conversations/`` or ``locales/`` in the working directory, else the ones shipped here."""
    local = Path.cwd() / name
    return local if local.is_dir() else _REPO / name


class Settings(BaseSettings):
    """Everything an operator can set; names and defaults are a stable interface (README)."""

    model_config = SettingsConfigDict(
        env_prefix="CM_BOT_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    database_url: str = "sqlite:///cm-bot.db"
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    bot_username: str | None = None
    backend: Literal["aiogram", "ptb"] = "aiogram"
    default_locale: str = "en"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"  # put a TLS-terminating proxy in front
    webhook_port: int = 8080
    poll_timeout: int = 30
    telegram_request_timeout: float = 60.0  # a send with no answer by then is "unknown"
    flows_dir: Path = Field(default_factory=lambda: _default_dir("conversations"))
    locales_dir: Path = Field(default_factory=lambda: _default_dir("locales"))
    # The program: name, staff hours, crisis resources ... (cm_bot.program).
    program_file: Path = Field(
        default_factory=lambda: _default_dir("conversations") / "program.yaml"
    )
    intake_flows: list[str] = Field(
        default_factory=lambda: [
            "screening_phq",
            "screening_gad",
            "screening_hvs",
            "screening_ahc",
            "intake_basics",  # money and work: the baseline follow-ups compare with
        ]
    )
    max_bad_answers: int = 3
    timezone: str = "UTC"  # clients' default time zone (IANA name)
    contact_hours: str = "09:00-20:00"  # scheduled contacts only inside these local hours
    tick_seconds: float = 60.0  # how often the scheduler wakes the dispatcher
    # The web console's public base URL (https://console.example.org); unset: no console
    # links from /console. An https URL makes the console's session cookie Secure.
    console_url: str | None = None


__all__ = ["Settings"]
