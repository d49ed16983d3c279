"""How a client's screening scores move: the series, and response and remission.

PHQ-9 and GAD-7 (docs/instruments.md §2, §3): a later score is a *response* when it is a
drop of 50 % or more from the first score of the episode, and a *remission* when it is
under 5. Case managers see these on the console's chart and table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

RESPONSE, REMISSION = "response", "remission"
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


def milestones(values: Sequence[float]) -> list[frozenset[str]]:
    """Response and remission of each score in ``values`` (oldest first), PHQ-9 / GAD-7 rules.

    The first score is the baseline and is never marked. A later score is a *response*
    when it is at most half the baseline (a drop of 50 % or more; a baseline of 0 cannot
    drop) and a *remission* when it is under 5 while the baseline was not already under 5.

    >>> [sorted(m) for m in milestones([20, 9, 4])]
    [[], ['response'], ['remission', 'response']]
    """
    if not values:
        return []
    first = values[0]
    marks: list[frozenset[str]] = [frozenset()]
    for value in values[1:]:
        mark = set()
        if first > 0 and value <= first * RESPONSE_DROP:
            mark.add(RESPONSE)
        if first >= REMISSION_BELOW and value < REMISSION_BELOW:
            mark.add(REMISSION)
        marks.append(frozenset(mark))
    return marks


def series_marks(series: Series) -> list[frozenset[str]]:
    """The milestones of a series: only PHQ-9 and GAD-7 have them."""
    if series.instrument not in MARKED_INSTRUMENTS:
        return [frozenset() for _point in series.points]
    return milestones([p.value for p in series.points])


def ordered(marks: frozenset[str]) -> list[str]:
    """A point's milestones in reading order: response, then remission."""
    return [m for m in (RESPONSE, REMISSION) if m in marks]


__all__ = [
    "MARKED_INSTRUMENTS",
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
