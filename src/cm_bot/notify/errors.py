"""What a failed send means, in one place: the delivery errors and the tables that map to them.

A channel only says which kind of failure it saw; what to do about each kind is
decided once, by :class:`~cm_bot.notify.sender.OutboxSender`. Each framework
adapter states its mapping as an ordered table of :class:`Rule` (httpx's
``map_exceptions`` idea): the first rule whose exception types match builds our
error, so the order of the checks is data that can be read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar


class DeliveryError(Exception):
    """A send that did not go through; subclasses say what to do next."""


class RetryLater(DeliveryError):
    """Not delivered, safe to try again (after ``retry_after`` seconds if Telegram said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OutcomeUnknown(DeliveryError):
    """The request may have been delivered (read time-out): do not resend automatically."""


class Unreachable(DeliveryError):
    """The person blocked the bot or their account is gone."""


class PermanentFailure(DeliveryError):
    """Telegram refused the message for good (bad chat, bad request)."""


E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a mapping table: exceptions of ``kinds`` become what ``build`` returns."""

    kinds: tuple[type[BaseException], ...]
    build: Callable[[Any], DeliveryError]


ErrorTable = Sequence[Rule]


def on(*kinds: type[E], then: Callable[[E], DeliveryError]) -> Rule:
    """A rule; ``then`` gets the matched exception (typed as the kinds given)."""
    return Rule(kinds, then)


def always(error: type[DeliveryError], reason: str) -> Callable[[BaseException], DeliveryError]:
    """A builder whose outcome does not depend on the exception's details."""
    return lambda _exc: error(reason)


def classify(table: ErrorTable, exc: BaseException | None) -> DeliveryError | None:
    """Our error for ``exc``, from the first matching rule (``None``: no rule matches)."""
    for rule in table:
        if isinstance(exc, rule.kinds):
            return rule.build(exc)
    return None


def by_cause(
    table: ErrorTable, otherwise: Callable[[BaseException], DeliveryError]
) -> Callable[[BaseException], DeliveryError]:
    """A builder that looks at the exception's ``__cause__`` (the HTTP library's own error).

    The frameworks wrap connection failures in one class; whether Telegram may have
    seen the request is only told by the error underneath.
    """

    def build(exc: BaseException) -> DeliveryError:
        return classify(table, exc.__cause__) or otherwise(exc)

    return build


@contextmanager
def map_exceptions(table: ErrorTable) -> Iterator[None]:
    """Raise our error in place of any exception the table maps; others pass unchanged."""
    try:
        yield
    except Exception as exc:
        error = classify(table, exc)
        if error is None:
            raise
        raise error from None


__all__ = [
    "DeliveryError",
    "ErrorTable",
    "OutcomeUnknown",
    "PermanentFailure",
    "RetryLater",
    "Rule",
    "Unreachable",
    "always",
    "by_cause",
    "classify",
    "map_exceptions",
    "on",
]
