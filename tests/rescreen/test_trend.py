"""The trend of a PHQ-9 / GAD-7 series: response, remission and not improving (a table test).

Each row is a series of (weeks after the first score, score) and the markers each score
should carry. Response: a drop of 50 % or more from the first score; remission: under 5
(from a first score of 5 or more); not improving: neither, 8 weeks or more after the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cm_bot.scoring.trend import (
    NOT_IMPROVING,
    REMISSION,
    RESPONSE,
    Point,
    Series,
    milestones,
    ordered,
    series_marks,
)

T0 = datetime(2099, 1, 7, 12, tzinfo=UTC)
R, M, N = RESPONSE, REMISSION, NOT_IMPROVING

# (name, [(weeks, score)], [markers of each score])
CASES: list[tuple[str, list[tuple[float, float]], list[set[str]]]] = [
    ("one score is only the baseline", [(0, 20)], [set()]),
    ("falling to under half", [(0, 20), (4, 9), (8, 4)], [set(), {R}, {R, M}]),
    ("exactly 50 % is a response", [(0, 20), (8, 10)], [set(), {R}]),
    ("just under 50 % is not, and at 8 weeks not improving", [(0, 20), (8, 11)], [set(), {N}]),
    ("no response before 8 weeks is not yet not improving", [(0, 16), (4, 14)], [set(), set()]),
    ("exactly 8 weeks counts", [(0, 16), (8, 14)], [set(), {N}]),
    ("a day short of 8 weeks does not", [(0, 16), (8 - 1 / 7, 14)], [set(), set()]),
    ("worse at 12 weeks is not improving", [(0, 12), (4, 12), (12, 18)], [set(), set(), {N}]),
    (
        "response then relapse: not improving again at the relapse",
        [(0, 20), (4, 8), (10, 16), (14, 6)],
        [set(), {R}, {N}, {R}],
    ),
    ("first score 0: nothing can drop or improve", [(0, 0), (4, 0), (9, 3)], [set(), set(), set()]),
    ("first score under 5: no remission, no not improving", [(0, 4), (9, 4)], [set(), set()]),
    ("first score under 5, a drop of half is a response", [(0, 4), (9, 2)], [set(), {R}]),
    ("first score under 5, a rise is the flow's own flag", [(0, 3), (12, 15)], [set(), set()]),
    ("remission without a 50 % drop is not 'not improving'", [(0, 6), (10, 4)], [set(), {M}]),
    ("first score exactly 5 can remit", [(0, 5), (10, 4)], [set(), {M}]),
    ("a score of exactly 5 is not a remission", [(0, 9), (10, 5)], [set(), {N}]),
]


@pytest.mark.parametrize(("name", "series", "expected"), CASES, ids=[c[0] for c in CASES])
def test_markers_of_a_series(
    name: str, series: list[tuple[float, float]], expected: list[set[str]]
) -> None:
    values = [v for _w, v in series]
    times = [T0 + timedelta(weeks=w) for w, _v in series]
    assert [set(m) for m in milestones(values, times)] == expected


def test_without_times_only_response_and_remission() -> None:
    assert [set(m) for m in milestones([20, 11, 4])] == [set(), set(), {R, M}]
    assert milestones([]) == []


def test_times_must_match_values() -> None:
    with pytest.raises(ValueError, match="length"):
        milestones([20, 10], [T0])


def test_series_marks_use_the_times_and_only_phq9_and_gad7() -> None:
    points = (Point(T0, 15), Point(T0 + timedelta(weeks=8), 12))
    assert series_marks(Series("gad7", "GAD-7", "gad7", points)) == [frozenset(), frozenset({N})]
    assert series_marks(Series("hvs", "HVS", "hvs", points)) == [frozenset(), frozenset()]


def test_reading_order() -> None:
    assert ordered(frozenset({N, M, R})) == [R, M, N]
