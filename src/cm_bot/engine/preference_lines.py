"""The safe-contact preferences in words, for ``/mydata``, ``/case`` and the console.

The safe word itself is never shown anywhere (only a hash is kept): only "set" or "not set".
"""

from __future__ import annotations

from datetime import time

from cm_bot.engine.exiting import DAYPARTS, FollowupChoice
from cm_bot.i18n.translator import N_, Gettext

HOURS_LABELS = {
    FollowupChoice.MORNING: N_("In the morning"),
    FollowupChoice.AFTERNOON: N_("In the afternoon"),
    FollowupChoice.EVENING: N_("In the evening"),
}


def hours_text(start: time | None, end: time | None, _: Gettext) -> str:
    """A part of the day by name when it is one, else ``09:00–12:00``; none: any time."""
    if start is None and end is None:
        return _("Any time")
    for choice, hours in DAYPARTS.items():
        if hours == (start, end):
            return _(HOURS_LABELS[choice])
    return f"{start:%H:%M}–{end:%H:%M}" if start and end else _("Any time")


def preference_lines(
    message_first: bool | None,
    start: time | None,
    end: time | None,
    safe_word_set: bool,
    _: Gettext,
) -> list[str]:
    """Three lines: may we message first, the hours, whether a safe word is set."""
    first = _("not asked yet") if message_first is None else _("Yes") if message_first else _("No")
    return [
        _("Safe to message first: {answer}").format(answer=first),
        _("Preferred contact hours: {hours}").format(hours=hours_text(start, end, _)),
        _("Safe word: {state}").format(state=_("set") if safe_word_set else _("not set")),
    ]


__all__ = ["HOURS_LABELS", "hours_text", "preference_lines"]
