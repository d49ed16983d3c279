"""Logging that never carries message text, tokens or secrets.

httpx logs every Bot API URL at INFO, and the token is part of that URL; PTB logs
whole updates at DEBUG. We quieten those loggers and run every record through a
filter that masks tokens, registered secrets and anything that looks like one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

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


def exception_lines(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None],
) -> str:
    """A traceback with each exception's type and stack, never its message.

    An exception's text can hold what a client wrote: a time zone "name" of crisis words
    (``OSError: File name too long: '...'``), the parameters of a failed SQL statement.
    The chain (``raise ... from``) is kept, each link by type only.
    """
    _type, exc, _tb = exc_info
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    parts: list[str] = []
    for link in reversed(chain):
        if parts:
            parts.append("\nThe above exception led to the following:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(link.__traceback__))
        kind = type(link)
        parts.append(f"{kind.__module__}.{kind.__qualname__} (message withheld)")
    return "".join(parts)


class RedactingFormatter(logging.Formatter):
    """Mask the whole formatted line; tracebacks carry exception types, never their text."""

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        """The stack and the exception's type only (see :func:`exception_lines`)."""
        return exception_lines(ei)

    def __init__(self, fmt: str, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._redactor = RedactingFilter(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Format, then mask tokens and secrets anywhere in the result.

        The traceback is rendered here, never taken from ``record.exc_text``: another
        handler may have cached it there with the exception's message.
        """
        cached, record.exc_text = record.exc_text, None
        try:
            text = super().format(record)
        finally:
            record.exc_text = cached
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


@dataclass(slots=True)
class _Tally:
    pending: int = 0  # events since the last line
    last: float | None = None  # when the last line was written (clock seconds)


class ThrottledLog:
    """One log line per key per ``interval``, with the count, however often the event happens.

    For events an outsider can cause at will (refused webhook requests): a line each would
    let them fill the disk and bury the lines that matter. The first event of a key is
    logged at once (a wrong secret shows up in the log straight away); later ones are
    counted, and the count is written with the next event after ``interval``, or by
    :meth:`flush`, which the owner calls now and then (and once at shutdown) so that the
    count of a flood that stopped is not lost.

    ``message`` is a %-format with ``%(count)d`` and ``%(key)s``; keys are the caller's own
    words (a reason), never what the outsider sent. ``clock`` gives monotonic seconds (a
    test passes its own).
    """

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        *,
        interval: float = 60.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.message = message
        self.interval = interval
        self.level = level
        self.clock = clock
        self._tallies: dict[str, _Tally] = {}
        self._guard = threading.Lock()

    def note(self, key: str) -> None:
        """Count one event; log it (with those counted before) if the key's interval is over."""
        with self._guard:
            tally = self._tallies.setdefault(key, _Tally())
            tally.pending += 1
            now = self.clock()
            if tally.last is None or now - tally.last >= self.interval:
                self._emit(key, tally, now)

    def flush(self, *, force: bool = False) -> None:
        """Log the counts whose interval is over (``force``: every count, e.g. at shutdown)."""
        with self._guard:
            now = self.clock()
            for key, tally in self._tallies.items():
                if tally.pending and (
                    force or tally.last is None or now - tally.last >= self.interval
                ):
                    self._emit(key, tally, now)

    def _emit(self, key: str, tally: _Tally, now: float) -> None:
        values = {"count": tally.pending, "key": key}
        if tally.last is None:
            suffix = "; more are counted, one line per %(seconds)d s at most"
            values["seconds"] = round(self.interval)
        else:
            suffix = " in the last %(seconds)d s"
            values["seconds"] = round(now - tally.last)
        self.logger.log(self.level, self.message + suffix, values)
        tally.pending, tally.last = 0, now


__all__ = [
    "NOISY",
    "RedactingFilter",
    "RedactingFormatter",
    "ThrottledLog",
    "configure",
    "exception_lines",
]
