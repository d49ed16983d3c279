"""The score chart: response and remission marks, bands, escaping, accessibility."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from cm_bot.scoring.trend import REMISSION, RESPONSE, Point, Series, milestones, series_marks
from cm_bot.web.chart import chart_svg

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def _series(values: list[float], instrument: str = "phq9", name: str = "PHQ-9") -> Series:
    return Series(
        instrument,
        name,
        instrument,
        tuple(Point(START + timedelta(days=14 * n), v) for n, v in enumerate(values)),
    )


def test_a_drop_from_20_to_9_is_response_and_4_is_remission() -> None:
    marks = milestones([20, 9, 4])

    assert marks == [frozenset(), {RESPONSE}, {RESPONSE, REMISSION}]


def test_response_needs_a_drop_of_at_least_half() -> None:
    assert milestones([20, 11]) == [frozenset(), frozenset()]  # 45 %: not yet
    assert milestones([20, 10]) == [frozenset(), {RESPONSE}]  # exactly 50 %
    assert milestones([9, 4]) == [frozenset(), {RESPONSE, REMISSION}]


def test_the_first_score_is_the_baseline_and_never_marked() -> None:
    assert milestones([3]) == [frozenset()]
    assert milestones([]) == []
    # Already under 5 at the start: staying low is not a remission; 0 cannot drop by half.
    assert milestones([4, 2]) == [frozenset(), {RESPONSE}]
    assert milestones([0, 0]) == [frozenset(), frozenset()]


def test_a_rise_after_remission_is_not_marked() -> None:
    assert milestones([16, 4, 12]) == [frozenset(), {RESPONSE, REMISSION}, frozenset()]


def test_only_phq9_and_gad7_are_marked() -> None:
    assert series_marks(_series([20, 4], "gad7", "GAD-7"))[1] == {RESPONSE, REMISSION}
    assert series_marks(_series([6, 1], "phq2", "PHQ-2")) == [frozenset(), frozenset()]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_the_chart_is_accessible_and_marks_the_milestones() -> None:
    svg = chart_svg(_series([20, 9, 4]), str, chart_id="c1")
    root = _parse(svg)

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "PHQ-9 scores over time"
    assert desc is not None and desc.text is not None
    assert "2026-01-05: 20" in desc.text and "response" in desc.text
    assert "remission" in desc.text
    classes = [e.get("class") or "" for e in root.iter()]
    assert classes.count("marker-response") == 2  # 9 and 4
    assert classes.count("marker-remission") == 1  # 4
    assert sum(c.startswith("band ") for c in classes) == 5  # PHQ-9: five bands
    assert classes.count("threshold") == 4  # at 5, 10, 15 and 20
    labels = [e.text for e in root.iter(f"{SVG}text") if (e.get("class") or "") == "band-label"]
    assert labels == [
        "0+ minimal",
        "5+ mild",
        "10+ moderate",
        "15+ moderately severe",
        "20+ severe",
    ]


def test_higher_scores_are_drawn_higher() -> None:
    root = _parse(chart_svg(_series([20, 9, 4]), str))
    ys = [float(c.get("cy") or 0) for c in root.iter(f"{SVG}circle") if c.get("class") == "point"]
    assert ys[0] < ys[1] < ys[2]


def test_every_text_in_the_chart_is_escaped() -> None:
    evil = '<script>alert("x")</script> & co'
    svg = chart_svg(_series([12, 5], "custom", evil), lambda text: text + " <b>")

    assert "<script>" not in svg and "<b>" not in svg
    root = _parse(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None and evil in title.text


def test_a_single_score_and_a_score_without_a_known_scale() -> None:
    one = _parse(chart_svg(_series([7]), str))
    assert len([c for c in one.iter(f"{SVG}circle") if c.get("class") == "point"]) == 1
    other = _parse(chart_svg(_series([3, 40], "mystery", "Mystery"), str))
    assert other.find(f"{SVG}polyline") is not None
