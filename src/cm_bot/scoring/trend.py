"""How a client's screening scores move: the series, and response, remission, not improving.

PHQ-9 and GAD-7 (docs/instruments.md §2, §3): a later score is a *response* when it is a
drop of 50 % or more from the first score of the episode, a *remission* when it is
under 5, and *not improving* (issue 18) when it is neither and was taken 8 weeks or more
after the first score. Case managers see these on the console's chart and table, in
``/case`` and in the export; the first "not improving" of an instrument raises a ``high``
flag (:mod:`cm_bot.scheduling.rescreens`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RESPONSE, REMISSION = "response", "remission"
NOT_IMPROVING = "not_improving"
NOT_IMPROVING_AFTER = timedelta(weeks=8)  # no response this long after the first score
REMISSION_BELOW = 5  # PHQ-9 / GAD-7: a score under 5 (minimal symptoms)
RESPONSE_DROP = 0.5  # a drop of 50 % or more from the first score
MARKED_INSTRUMENTS = frozenset({"phq9", "gad7"})


@dataclass(frozen=True, slots=True)
class Point:
    """One stored score."""

    at: datetime
    value: float
    band: str | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """The scores of one instrument (or one flow score), oldest first."""

    key: str  # the score id ("phq9")
    name: str  # as case managers name it ("PHQ-9")
    instrument: str | None
    points: tuple[Point, ...]


def milestones(
    values: Sequence[float], times: Sequence[datetime] | None = None
) -> list[frozenset[str]]:
    """Response, remission and not improving of each score in ``values`` (oldest first).

    The PHQ-9 / GAD-7 rules. The first score is the baseline and is never marked. A later
    score is a *response* when it is at most half the baseline (a drop of 50 % or more; a
    baseline of 0 cannot drop) and a *remission* when it is under 5 while the baseline was
    not already under 5. With ``times`` (when each score was taken, as many as ``values``)
    a later score is *not improving* when it is neither a response nor a remission and was
    taken :data:`NOT_IMPROVING_AFTER` (8 weeks) or more after the baseline, from a baseline
    of 5 or more (under 5 there is nothing to improve; a rise is the flow's own business:
    a PHQ-9 of 10 or more raises its positive-screen flag). Each score is read on its own,
    so a response followed by a relapse is not improving again at the relapse.

    >>> [sorted(m) for m in milestones([20, 9, 4])]
    [[], ['response'], ['remission', 'response']]
    """
    if not values:
        return []
    if times is not None and len(times) != len(values):
        raise ValueError("times and values differ in length")
    first = values[0]
    marks: list[frozenset[str]] = [frozenset()]
    for index, value in enumerate(values[1:], start=1):
        mark = set()
        if first > 0 and value <= first * RESPONSE_DROP:
            mark.add(RESPONSE)
        if first >= REMISSION_BELOW and value < REMISSION_BELOW:
            mark.add(REMISSION)
        if (
            times is not None
            and not mark
            and first >= REMISSION_BELOW
            and times[index] - times[0] >= NOT_IMPROVING_AFTER
        ):
            mark.add(NOT_IMPROVING)
        marks.append(frozenset(mark))
    return marks


def series_marks(series: Series) -> list[frozenset[str]]:
    """The milestones of a series: only PHQ-9 and GAD-7 have them."""
    if series.instrument not in MARKED_INSTRUMENTS:
        return [frozenset() for _point in series.points]
    return milestones([p.value for p in series.points], [p.at for p in series.points])


def ordered(marks: frozenset[str]) -> list[str]:
    """A point's milestones in reading order: response, remission, not improving."""
    return [m for m in (RESPONSE, REMISSION, NOT_IMPROVING) if m in marks]


__all__ = [
    "MARKED_INSTRUMENTS",
    "NOT_IMPROVING",
    "NOT_IMPROVING_AFTER",
    "REMISSION",
    "REMISSION_BELOW",
    "RESPONSE",
    "RESPONSE_DROP",
    "Point",
    "Series",
    "milestones",
    "ordered",
    "series_marks",
]
