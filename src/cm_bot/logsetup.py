"""Logging that never carries message text, tokens or secrets.

httpx logs every Bot API URL at INFO, and the token is part of that URL; PTB logs
whole updates at DEBUG. We quieten those loggers and run every record through a
filter that masks tokens, registered secrets and anything that looks like one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_TOKEN = re.compile(r"(?:bot)?\d{5,}:[A-Za-z0-9_-]{20,}")
NOISY = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,  # DEBUG dumps whole updates
    "telegram.ext": logging.INFO,
    "aiogram.event": logging.WARNING,  # INFO names users' update ids per message
    "apscheduler": logging.WARNING,
}


class RedactingFilter(logging.Filter):
    """Mask bot tokens and the given secrets in every record's rendered message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, masked, and drop the arguments."""
        message = record.getMessage()
        masked = _TOKEN.sub("[token]", message)
        for secret in self._secrets:
            masked = masked.replace(secret, "[secret]")
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """Mask the whole formatted line, tracebacks included (they are rendered after filters)."""

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._redactor = RedactingFilter(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Format, then mask tokens and secrets anywhere in the result."""
        text = super().format(record)
        masked = _TOKEN.sub("[token]", text)
        for secret in self._redactor._secrets:
            masked = masked.replace(secret, "[secret]")
        return masked


def configure(level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    """Install the redacting handler on the root logger and quieten chatty libraries."""
    handler = logging.StreamHandler()
    secrets = list(secrets)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in NOISY.items():
        logging.getLogger(name).setLevel(max(floor, level))


__all__ = ["NOISY", "RedactingFilter", "RedactingFormatter", "configure"]
