"""Due-time arithmetic: contact hours in the client's zone, DST gaps and repeats, cadences."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cm_bot.scheduling.plan import (
    ContactHours,
    add_months,
    at_local,
    cadence_day,
    nearest_weekday,
    next_allowed,
    next_checkin,
    spread,
    window_end,
    zone,
)

LA = ZoneInfo("America/Los_Angeles")
KYIV = ZoneInfo("Europe/Kyiv")
HOURS = ContactHours()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_local_time_in_the_spring_gap_fires_once_just_after_the_jump() -> None:
    # 2027-03-14 02:00 PST -> 03:00 PDT: 02:30 does not exist; read with the old offset (-8).
    assert at_local(date(2027, 3, 14), time(2, 30), LA) == utc(2027, 3, 14, 10, 30)
    assert at_local(date(2027, 3, 14), time(2, 30), LA).astimezone(LA).time() == time(3, 30)
    # Kyiv 2027-03-28 03:00 EET -> 04:00 EEST: 03:30 becomes 04:30 local.
    assert at_local(date(2027, 3, 28), time(3, 30), KYIV).astimezone(KYIV).time() == time(4, 30)


def test_local_time_in_the_autumn_repeat_is_its_first_occurrence() -> None:
    # 2027-11-07 01:30 happens twice in Los Angeles: first at PDT (-7).
    assert at_local(date(2027, 11, 7), time(1, 30), LA) == utc(2027, 11, 7, 8, 30)
    # Kyiv 2026-10-25 03:30 happens twice: first at EEST (+3).
    assert at_local(date(2026, 10, 25), time(3, 30), KYIV) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        (LA, date(2027, 3, 14)),
        (LA, date(2027, 11, 7)),
        (KYIV, date(2027, 3, 28)),
        (KYIV, date(2026, 10, 25)),
    ],
)
def test_contact_hours_hold_in_local_time_on_both_sides_of_a_dst_change(
    tz: ZoneInfo, day: date
) -> None:
    start = datetime.combine(day - timedelta(days=1), time(0), UTC)
    for minutes in range(0, 3 * 24 * 60, 7):
        moment = start + timedelta(minutes=minutes)
        allowed = next_allowed(moment, tz, HOURS)
        local = allowed.astimezone(tz)
        assert allowed >= moment
        assert time(9) <= local.time() < time(20), (moment, local)
        if HOURS.allows(moment.astimezone(tz).time()):
            assert allowed == moment
        else:
            assert local.time() == time(9)  # the next opening, not later
            assert allowed - moment <= timedelta(hours=14)


def test_window_across_midnight_and_always_open() -> None:
    night = ContactHours(time(22), time(6))
    assert night.allows(time(23)) and night.allows(time(5, 59)) and not night.allows(time(12))
    assert next_allowed(utc(2027, 1, 1, 12), ZoneInfo("UTC"), night) == utc(2027, 1, 1, 22)
    assert window_end(utc(2027, 1, 1, 23), ZoneInfo("UTC"), night) == utc(2027, 1, 2, 6)
    always = ContactHours(time(0), time(0))
    assert next_allowed(utc(2027, 1, 1, 3), LA, always) == utc(2027, 1, 1, 3)
    assert window_end(utc(2027, 1, 1, 3), LA, always) is None
    assert ContactHours.parse("08:30-19:00") == ContactHours(time(8, 30), time(19))
    with pytest.raises(ValueError, match="09:00-20:00"):
        ContactHours.parse("9 to 5")


def test_spread_is_deterministic_bounded_and_stays_inside_hours() -> None:
    moment = at_local(date(2027, 2, 1), time(9), KYIV)
    width = timedelta(minutes=15)
    times = [spread(moment, f"followup:{i}", KYIV, HOURS, width) for i in range(200)]
    assert times == [spread(moment, f"followup:{i}", KYIV, HOURS, width) for i in range(200)]
    assert all(moment <= t < moment + width for t in times)
    assert len({t.replace(second=0) for t in times}) == 15  # every minute of the window used
    late = at_local(date(2027, 2, 1), time(19, 55), KYIV)
    for i in range(200):
        local = spread(late, f"k{i}", KYIV, HOURS, width).astimezone(KYIV).time()
        assert time(19, 55) <= local < time(20)


def test_cadences_anchor_on_the_first_day_and_never_drift() -> None:
    anchor = date(2027, 1, 31)
    assert add_months(anchor, 1) == date(2027, 2, 28)
    assert add_months(anchor, 2) == date(2027, 3, 31)
    assert cadence_day(anchor, "weekly", 2) == date(2027, 2, 14)
    assert cadence_day(anchor, "fortnightly", 1) == date(2027, 2, 14)
    monday = 0
    days = [cadence_day(date(2027, 1, 5), "monthly", n, monday) for n in range(1, 25)]
    assert all(d.weekday() == monday for d in days)
    assert all(abs((d - add_months(date(2027, 1, 5), n)).days) <= 3 for n, d in enumerate(days, 1))
    assert nearest_weekday(date(2027, 1, 7), 0) == date(2027, 1, 4)  # Thu -> the Monday before
    with pytest.raises(ValueError, match="cadence"):
        cadence_day(anchor, "daily", 1)


def test_weekly_checkin_keeps_its_local_time_across_dst() -> None:
    anchor = date(2027, 3, 1)  # a Monday, PST
    previous: date | None = None
    seen = []
    for _ in range(4):
        day, due = next_checkin(
            anchor, "weekly", after=previous, not_before=utc(2027, 1, 1), at=time(18), tz=LA
        )
        seen.append(due)
        previous = day
    assert [d.astimezone(LA).time() for d in seen] == [time(18)] * 4
    assert [d.hour for d in seen] == [2, 1, 1, 1]  # 18:00 PST = 02:00Z, 18:00 PDT = 01:00Z


def test_next_checkin_skips_what_is_already_past() -> None:
    anchor = date(2027, 1, 4)
    day, due = next_checkin(
        anchor,
        "weekly",
        after=date(2027, 1, 11),
        not_before=utc(2027, 2, 3, 12),
        at=time(10),
        tz=ZoneInfo("UTC"),
    )
    assert day == date(2027, 2, 8) and due == utc(2027, 2, 8, 10)


def test_unknown_zone_falls_back_to_the_default() -> None:
    assert zone("Mars/Olympus", "Europe/Kyiv") == KYIV
    assert zone(None, "America/Los_Angeles") == LA
    assert zone(None, "") == ZoneInfo("UTC")


def test_parse_timezone_takes_iana_names_only() -> None:
    from cm_bot.scheduling import parse_timezone

    assert parse_timezone("europe/kyiv") == "Europe/Kyiv"
    assert parse_timezone(" America/Los Angeles ") == "America/Los_Angeles"
    assert parse_timezone("+3") is None
    assert parse_timezone("Mars/Olympus") is None
    assert parse_timezone("") is None
