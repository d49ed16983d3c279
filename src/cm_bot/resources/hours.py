"""Opening hours in words, from HSDS ``schedule`` fields (RFC 5545 RRULE parts).

``Mon–Fri 9:00 AM–5:00 PM`` in the reader's language (day names and times from the
CLDR through Babel, so no gettext strings). A schedule the fields cannot describe (no
days, no times) falls back to its free-text ``description``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_time, get_day_names

RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", -1: "last"}


def _locale(locale: str | None) -> Locale:
    try:
        return Locale.parse(locale or "en")
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale("en")


def _time(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and value:
        try:
            return time.fromisoformat(value)
        except ValueError:
            return None
    return None


def schedule_text(schedule: Mapping[str, Any], locale: str | None = "en") -> str | None:
    """One schedule as words, or None when it says nothing usable."""
    where = _locale(locale)
    names = get_day_names("abbreviated", locale=where)
    days: list[int] = []
    nth: list[str] = []
    for part in str(schedule.get("byday") or "").replace(" ", "").upper().split(","):
        found = _BYDAY.match(part)
        if not found:
            continue
        index = RRULE_DAYS.index(found.group(2))
        if found.group(1):
            count = int(found.group(1))
            nth.append(f"{_ORDINALS.get(count, str(count))} {names[index]}")
        elif index not in days:
            days.append(index)
    days.sort()
    pieces: list[str] = []
    if days:
        pieces.append(_day_runs(days, names))
    if nth:
        pieces.append(", ".join(nth))
    monthdays = [d for d in str(schedule.get("bymonthday") or "").replace(" ", "").split(",") if d]
    if monthdays and not days and not nth:
        pieces.append("/".join(monthdays))
    opens, closes = _time(schedule.get("opens_at")), _time(schedule.get("closes_at"))
    if opens is not None:
        until = "" if closes is None else format_time(closes, "short", locale=where)
        pieces.append(f"{format_time(opens, 'short', locale=where)}–{until}")
    if pieces and (days or nth or monthdays or opens is not None):
        return " ".join(pieces)
    description = schedule.get("description")
    return str(description).strip() or None if description else None


def _day_runs(days: list[int], names: Mapping[int, str]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        names[run[0]]
        if len(run) == 1
        else f"{names[run[0]]}, {names[run[1]]}"
        if len(run) == 2
        else f"{names[run[0]]}–{names[run[-1]]}"
        for run in runs
    )


def opening_hours(schedules: Iterable[Mapping[str, Any]], locale: str | None = "en") -> str | None:
    """Every schedule's words, joined with "; " (duplicates once), or None."""
    texts: list[str] = []
    for schedule in schedules:
        text = schedule_text(schedule, locale)
        if text and text not in texts:
            texts.append(text)
    return "; ".join(texts) or None


__all__ = ["opening_hours", "schedule_text"]
