"""Due-time arithmetic: local days and times, contact hours, DST, cadences, cohort spreading.

Pure functions, no database. Every instant they take or return is a timezone-aware
UTC ``datetime``; local wall-clock times only exist inside, converted with
:mod:`zoneinfo` and PEP 495 ``fold``:

* a local time that does not exist (the spring-forward gap) is read with the offset
  in force before the change, so 02:30 on that night fires at 03:30 new time: once,
  as close to the intended moment as the clock allows;
* a local time that happens twice (the autumn repeat) is taken at its first
  occurrence (``fold=0``).

Because a contact is stored as one UTC instant, it fires once either way.
"""

from __future__ import annotations

import calendar
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cm_bot.domain.time import aware
from cm_bot.domain.values import CADENCES

log = logging.getLogger(__name__)

CADENCE_DAYS = {"weekly": 7, "fortnightly": 14}


@dataclass(frozen=True, slots=True)
class ContactHours:
    """The local hours in which a client may be messaged; ``start == end`` means any time.

    A window may cross midnight (``22:00-06:00``), although contact hours rarely do.
    """

    start: time = time(9, 0)
    end: time = time(20, 0)

    def allows(self, local: time) -> bool:
        """Whether a local wall-clock time is inside the window (start inclusive, end not)."""
        local = local.replace(tzinfo=None, fold=0)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    @classmethod
    def parse(cls, text: str) -> ContactHours:
        """Read ``"09:00-20:00"``.

        Raises:
            ValueError: The text is not two ``HH:MM`` times joined by ``-``.
        """
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"contact hours look like 09:00-20:00, not {text!r}")
        return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The client's zone, or the program's default when unset or unknown.

    An unknown name falls back (with a warning) rather than failing: a typo in one
    client's zone must not stop everyone else's contacts.
    """
    for candidate in (name, default):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r; using the default", candidate)
    return ZoneInfo("UTC")


def parse_timezone(text: str) -> str | None:
    """The IANA zone name a person typed (``europe/kyiv`` -> ``Europe/Kyiv``), or ``None``.

    Only IANA names are accepted, never fixed offsets such as ``+3``: an offset does
    not follow daylight saving, so contacts would drift by an hour twice a year.
    """
    name = text.strip().replace(" ", "_")
    if not name or len(name) > 64:
        return None
    by_folded = {key.casefold(): key for key in available_timezones()}
    return by_folded.get(name.casefold())


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant a local clock in ``tz`` shows ``at`` on ``day``.

    In the spring-forward gap the time is read with the pre-change offset (02:30
    becomes 03:30 new time); in the autumn repeat the first occurrence is used.
    """
    local = datetime.combine(day, at.replace(tzinfo=None, fold=0)).replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day in ``tz`` at a UTC instant."""
    return aware(moment).astimezone(tz).date()


def next_allowed(moment: datetime, tz: ZoneInfo, hours: ContactHours) -> datetime:
    """The first instant at or after ``moment`` inside the client's contact hours."""
    moment = aware(moment)
    local = moment.astimezone(tz)
    if hours.allows(local.time()):
        return moment
    day = local.date()
    if hours.start < hours.end and local.time().replace(fold=0) >= hours.end:
        day += timedelta(days=1)  # after today's window: tomorrow morning
    opening = at_local(day, hours.start, tz)
    if opening < moment:  # only possible around a DST change; the next day's opening is safe
        opening = at_local(day + timedelta(days=1), hours.start, tz)
    return opening


def window_end(moment: datetime, tz: ZoneInfo, hours: ContactHours) -> datetime | None:
    """When the contact window that contains ``moment`` closes (``None``: it never does)."""
    if hours.start == hours.end:
        return None
    moment = aware(moment)
    local = moment.astimezone(tz)
    day = local.date()
    if hours.start > hours.end and local.time().replace(fold=0) >= hours.start:
        day += timedelta(days=1)  # a window across midnight closes tomorrow
    end = at_local(day, hours.end, tz)
    return end if end > moment else at_local(day + timedelta(days=1), hours.end, tz)


def spread(
    moment: datetime, key: str, tz: ZoneInfo, hours: ContactHours, width: timedelta
) -> datetime:
    """Move ``moment`` later by a fixed, key-derived offset under ``width``, staying in hours.

    A cohort planned for the same minute (every client exited the same day, every
    deferral waiting for 09:00) is then sent over a few minutes rather than as one
    wall of messages. The offset is a CRC of ``key``, so the same contact always
    gets the same time, in every process. ``moment`` must already be allowed.
    """
    seconds = int(width.total_seconds())
    if seconds <= 0:
        return aware(moment)
    moment = aware(moment)
    end = window_end(moment, tz, hours)
    if end is not None:
        room = int((end - moment).total_seconds()) - 60  # keep a minute before closing
        seconds = min(seconds, max(room, 1))
    return moment + timedelta(seconds=zlib.crc32(key.encode()) % seconds)


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped (31 January + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def nearest_weekday(day: date, weekday: int | None) -> date:
    """The day of the wanted weekday (0 = Monday) closest to ``day`` (ties go later)."""
    if weekday is None:
        return day
    shift = (weekday - day.weekday()) % 7
    return day + timedelta(days=shift if shift <= 3 else shift - 7)


def cadence_day(anchor: date, cadence: str, n: int, weekday: int | None = None) -> date:
    """The local day of the ``n``-th check-in counted from ``anchor``.

    Counting from a fixed anchor (rather than from the previous check-in) keeps a
    monthly check-in on "about the 5th" instead of drifting a few days each month.

    Raises:
        ValueError: Unknown cadence.
    """
    if cadence == "monthly":
        day = add_months(anchor, n)
    elif cadence in CADENCE_DAYS:
        day = anchor + timedelta(days=CADENCE_DAYS[cadence] * n)
    else:
        raise ValueError(f"unknown cadence {cadence!r} (one of {', '.join(CADENCES)})")
    return nearest_weekday(day, weekday)


def next_checkin(
    anchor: date,
    cadence: str,
    *,
    after: date | None,
    not_before: datetime,
    at: time,
    tz: ZoneInfo,
    weekday: int | None = None,
) -> tuple[date, datetime]:
    """The next check-in's local day and UTC instant.

    It is the first day of the cadence (counted from ``anchor``) later than ``after``
    (the previous check-in's day) whose time ``at`` is not before ``not_before``. A
    check-in answered late, or a schedule resumed after a pause, therefore continues
    with the next one still ahead instead of a backlog.
    """
    n = 1
    if after is not None:
        # Start near the previous one rather than counting every period since the anchor.
        n = max(1, (after - anchor).days // 31)
    for _ in range(10_000):
        day = cadence_day(anchor, cadence, n, weekday)
        due = at_local(day, at, tz)
        if (after is None or day > after) and due >= not_before:
            return day, due
        n += 1
    raise RuntimeError("no next check-in found")  # unreachable with a valid cadence


__all__ = [
    "CADENCES",
    "ContactHours",
    "add_months",
    "at_local",
    "aware",
    "cadence_day",
    "local_day",
    "nearest_weekday",
    "next_allowed",
    "next_checkin",
    "parse_timezone",
    "spread",
    "window_end",
    "zone",
]
