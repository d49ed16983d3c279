"""Past the safe-contact preferences a new consent now asks first (issue 18)."""

from __future__ import annotations

from cm_bot.domain import InboundKind
from tests.support.people import Person


def keep_defaults(person: Person) -> None:
    """Answer "yes, you may message me first" and skip the hours and the safe word.

    Works in any language: the first button is "Yes", the last one "Skip this question".
    """
    for index in (0, -1, -1):
        button = person.buttons[index]
        person.deliver(person.inbound(InboundKind.BUTTON, payload=button.payload))
