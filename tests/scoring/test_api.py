"""The public API of cm_bot.scoring: names, item ids, unknown instruments, result shape."""

from __future__ import annotations

import json

import pytest

import cm_bot.scoring as scoring
from cm_bot.scoring import INSTRUMENTS, UnknownInstrumentError, item_ids, score


def test_public_names_are_exported_in_sorted_order() -> None:
    assert scoring.__all__ == ["INSTRUMENTS", "UnknownInstrumentError", "item_ids", "score"]
    assert scoring.__all__ == sorted(scoring.__all__)


def test_instruments_are_the_shipped_ones_without_cssrs() -> None:
    assert INSTRUMENTS == ("ahc", "gad2", "gad7", "hvs", "phq2", "phq9")


def test_unknown_instrument_error_is_a_value_error() -> None:
    assert issubclass(UnknownInstrumentError, ValueError)


@pytest.mark.parametrize("name", ["cssrs", "PHQ9", "phq-9", "", "gad"])
def test_scoring_an_unknown_instrument_raises(name: str) -> None:
    with pytest.raises(UnknownInstrumentError):
        score(name, {})


@pytest.mark.parametrize("name", ["cssrs", "hvs2"])
def test_item_ids_of_an_unknown_instrument_raises(name: str) -> None:
    with pytest.raises(UnknownInstrumentError):
        item_ids(name)


@pytest.mark.parametrize(
    ("instrument", "expected"),
    [
        ("phq9", tuple(f"phq9.q{n}" for n in range(1, 11))),
        ("phq2", ("phq2.q1", "phq2.q2")),
        ("gad7", tuple(f"gad7.q{n}" for n in range(1, 9))),
        ("gad2", ("gad2.q1", "gad2.q2")),
        ("hvs", ("hvs.q1", "hvs.q2")),
        (
            "ahc",
            (
                *(f"ahc.q{n}" for n in range(1, 23)),
                *("ahc.q23a", "ahc.q23b", "ahc.q24", "ahc.q25", "ahc.q26"),
            ),
        ),
    ],
)
def test_item_ids_list_scored_and_optional_items_in_document_order(
    instrument: str, expected: tuple[str, ...]
) -> None:
    assert item_ids(instrument) == expected


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_every_result_names_its_instrument_and_is_json(instrument: str) -> None:
    for answers in ({}, {item: "bad" for item in item_ids(instrument)}):
        result = score(instrument, answers)
        assert result["instrument"] == instrument
        assert result["valid"] is False
        assert isinstance(result["reason"], str) and result["reason"]
        assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    ("instrument", "answers", "fields"),
    [
        (
            "phq9",
            {f"phq9.q{n}": 1 for n in range(1, 10)},
            {"instrument", "valid", "score", "band", "positive", "item9_positive", "urgent"},
        ),
        (
            "phq2",
            {"phq2.q1": 1, "phq2.q2": 1},
            {"instrument", "valid", "score", "band", "positive", "urgent"},
        ),
        (
            "gad2",
            {"gad2.q1": 1, "gad2.q2": 1},
            {"instrument", "valid", "score", "band", "positive", "urgent"},
        ),
        (
            "gad7",
            {f"gad7.q{n}": 1 for n in range(1, 8)},
            {"instrument", "valid", "score", "band", "positive", "urgent"},
        ),
        (
            "hvs",
            {"hvs.q1": "never", "hvs.q2": "never"},
            {"instrument", "valid", "band", "positive", "urgent"},
        ),
        (
            "ahc",
            {"ahc.q1": "steady"},
            {
                "instrument",
                "valid",
                "score",
                "band",
                "positive_domains",
                "urgent",
                "safety_score",
                "physical_activity_minutes_per_week",
                "mental_health_score",
            },
        ),
    ],
)
def test_valid_result_has_exactly_the_documented_fields(
    instrument: str, answers: dict[str, object], fields: set[str]
) -> None:
    result = score(instrument, answers)
    assert set(result) == fields
    assert json.loads(json.dumps(result)) == result


def test_age_is_ignored_by_instruments_that_do_not_use_it() -> None:
    answers = {"phq2.q1": 2, "phq2.q2": 2}
    assert score("phq2", answers, age=10) == score("phq2", answers)


def test_answers_are_not_modified() -> None:
    answers: dict[str, object] = {"ahc.q2": ["mold"], "ahc.q7": 5}
    snapshot = {"ahc.q2": ["mold"], "ahc.q7": 5}
    score("ahc", answers)
    assert answers == snapshot
