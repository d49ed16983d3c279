"""PHQ-2, PHQ-9, GAD-2 and GAD-7 against docs/instruments.md §0, §2 and §3."""

from __future__ import annotations

import pytest

from cm_bot.scoring import score


def answers_summing_to(prefix: str, count: int, total: int) -> dict[str, object]:
    """Items q1..q<count>, each 0-3, filled from q1 upwards so they add up to ``total``."""
    assert 0 <= total <= 3 * count
    answers: dict[str, object] = {}
    remaining = total
    for n in range(1, count + 1):
        value = min(3, remaining)
        answers[f"{prefix}.q{n}"] = value
        remaining -= value
    return answers


def phq9_with_item9_zero(total: int) -> dict[str, object]:
    """PHQ-9 answers with item 9 = 0, so only the total matters (works up to 24)."""
    answers = answers_summing_to("phq9", 8, total)
    answers["phq9.q9"] = 0
    return answers


# --- PHQ-9 (§2.3) -------------------------------------------------------------------------

# Both sides of every band edge: 0-4 minimal, 5-9 mild, 10-14 moderate,
# 15-19 moderately_severe, 20-27 severe; positive from 10.
PHQ9_BANDS = [
    (0, "minimal", False),
    (4, "minimal", False),
    (5, "mild", False),
    (9, "mild", False),
    (10, "moderate", True),
    (14, "moderate", True),
    (15, "moderately_severe", True),
    (19, "moderately_severe", True),
    (20, "severe", True),
    (24, "severe", True),
]


@pytest.mark.parametrize(("total", "band", "positive"), PHQ9_BANDS)
def test_phq9_total_falls_in_documented_band(total: int, band: str, positive: bool) -> None:
    result = score("phq9", phq9_with_item9_zero(total))
    assert result == {
        "instrument": "phq9",
        "valid": True,
        "score": total,
        "band": band,
        "positive": positive,
        "item9_positive": False,
        "urgent": False,
    }


def test_phq9_score_of_10_is_moderate_and_positive() -> None:
    result = score("phq9", phq9_with_item9_zero(10))
    assert (result["band"], result["positive"]) == ("moderate", True)


def test_phq9_score_of_9_is_mild_and_negative() -> None:
    result = score("phq9", phq9_with_item9_zero(9))
    assert (result["band"], result["positive"]) == ("mild", False)


def test_phq9_all_zero_is_minimal_and_not_urgent() -> None:
    result = score("phq9", {f"phq9.q{n}": 0 for n in range(1, 10)})
    assert result["score"] == 0
    assert result["band"] == "minimal"
    assert result["positive"] is False
    assert result["urgent"] is False


def test_phq9_all_max_scores_27_severe_and_urgent() -> None:
    result = score("phq9", {f"phq9.q{n}": 3 for n in range(1, 10)})
    assert result == {
        "instrument": "phq9",
        "valid": True,
        "score": 27,
        "band": "severe",
        "positive": True,
        "item9_positive": True,
        "urgent": True,
    }


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_any_item9_above_zero_is_urgent_whatever_the_total(item9: int) -> None:
    answers = {f"phq9.q{n}": 0 for n in range(1, 9)} | {"phq9.q9": item9}
    result = score("phq9", answers)
    assert result["score"] == item9
    assert result["band"] == "minimal"
    assert result["positive"] is False
    assert result["item9_positive"] is True
    assert result["urgent"] is True


def test_phq9_severe_total_with_item9_zero_is_not_urgent() -> None:
    result = score("phq9", phq9_with_item9_zero(24))
    assert result["band"] == "severe"
    assert result["item9_positive"] is False
    assert result["urgent"] is False


def test_missing_phq9_item_9_is_invalid_never_zero() -> None:
    answers = {f"phq9.q{n}": 0 for n in range(1, 9)}
    result = score("phq9", answers)
    assert result["valid"] is False
    assert "phq9.q9" in str(result["reason"])
    assert set(result) <= {"instrument", "valid", "reason"}


def test_phq9_item9_given_as_none_is_missing_not_zero() -> None:
    answers = {f"phq9.q{n}": 0 for n in range(1, 9)} | {"phq9.q9": None}
    result = score("phq9", answers)
    assert result["valid"] is False
    assert "phq9.q9" in str(result["reason"])


@pytest.mark.parametrize("missing", [f"phq9.q{n}" for n in range(1, 10)])
def test_phq9_any_missing_scored_item_is_invalid_no_prorating(missing: str) -> None:
    answers = {f"phq9.q{n}": 1 for n in range(1, 10)}
    del answers[missing]
    result = score("phq9", answers)
    assert result == {
        "instrument": "phq9",
        "valid": False,
        "reason": result["reason"],
    }
    assert missing in str(result["reason"])


def test_phq9_functional_item_is_optional_and_never_changes_the_score() -> None:
    base = phq9_with_item9_zero(12)
    without = score("phq9", base)
    with_difficulty = score("phq9", base | {"phq9.q10": 3})
    assert without == with_difficulty
    assert without["score"] == 12


def test_phq9_functional_item_out_of_range_is_invalid() -> None:
    result = score("phq9", phq9_with_item9_zero(0) | {"phq9.q10": 4})
    assert result["valid"] is False
    assert "phq9.q10" in str(result["reason"])


def test_phq9_reason_names_every_offending_item() -> None:
    answers = {f"phq9.q{n}": 0 for n in range(1, 8)} | {"phq9.q1": 7, "phq9.q3": "2"}
    reason = str(score("phq9", answers)["reason"])
    for item_id in ("phq9.q1", "phq9.q3", "phq9.q8", "phq9.q9"):
        assert item_id in reason
    assert "phq9.q2" not in reason


# --- Invalid item values (§0.2), for every 0-3 instrument --------------------------------

SUM_INSTRUMENTS = [("phq9", 9), ("phq2", 2), ("gad7", 7), ("gad2", 2)]
BAD_VALUES = [-1, 4, True, False, "2", "", 1.0, 2.5, [1], {"value": 1}]


@pytest.mark.parametrize(("instrument", "count"), SUM_INSTRUMENTS)
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_non_integer_or_out_of_range_item_is_invalid(
    instrument: str, count: int, bad: object
) -> None:
    answers: dict[str, object] = {f"{instrument}.q{n}": 1 for n in range(1, count + 1)}
    answers[f"{instrument}.q2"] = bad
    result = score(instrument, answers)
    assert result["valid"] is False
    assert result["instrument"] == instrument
    assert f"{instrument}.q2" in str(result["reason"])
    assert "score" not in result and "positive" not in result and "urgent" not in result


@pytest.mark.parametrize(("instrument", "count"), SUM_INSTRUMENTS)
def test_empty_answers_are_invalid(instrument: str, count: int) -> None:
    result = score(instrument, {})
    assert result["valid"] is False
    reason = str(result["reason"])
    assert all(f"{instrument}.q{n}" in reason for n in range(1, count + 1))


@pytest.mark.parametrize(("instrument", "count"), SUM_INSTRUMENTS)
def test_answers_of_other_instruments_are_ignored(instrument: str, count: int) -> None:
    own = {f"{instrument}.q{n}": 0 for n in range(1, count + 1)}
    noise = {"ahc.q1": "steady", "hvs.q1": "often", "x": True, "phq9.q11": 99, "gad7.q99": -1}
    noise |= {f"other{instrument}.q1": 3}
    assert score(instrument, own | noise) == score(instrument, own)


# --- PHQ-2 and GAD-2 (§2.3, §3.3, §7.5, §7.7) ---------------------------------------------

TWO_ITEM = ["phq2", "gad2"]


@pytest.mark.parametrize("instrument", TWO_ITEM)
@pytest.mark.parametrize(
    ("first", "second", "total", "band", "positive"),
    [
        (0, 0, 0, "screen_negative", False),
        (1, 1, 2, "screen_negative", False),  # cut point 3, not Arroll's 2 (§7.5)
        (2, 0, 2, "screen_negative", False),
        (2, 1, 3, "screen_positive", True),
        (0, 3, 3, "screen_positive", True),
        (3, 3, 6, "screen_positive", True),
    ],
)
def test_two_item_screen_is_positive_from_3(
    instrument: str, first: int, second: int, total: int, band: str, positive: bool
) -> None:
    result = score(instrument, {f"{instrument}.q1": first, f"{instrument}.q2": second})
    assert result == {
        "instrument": instrument,
        "valid": True,
        "score": total,
        "band": band,
        "positive": positive,
        "urgent": False,
    }


def test_phq2_score_of_2_is_negative() -> None:
    assert score("phq2", {"phq2.q1": 1, "phq2.q2": 1})["positive"] is False


@pytest.mark.parametrize("instrument", TWO_ITEM)
@pytest.mark.parametrize("missing", ["q1", "q2"])
def test_two_item_screen_with_one_item_missing_is_invalid(instrument: str, missing: str) -> None:
    answers: dict[str, object] = {f"{instrument}.q1": 3, f"{instrument}.q2": 3}
    del answers[f"{instrument}.{missing}"]
    result = score(instrument, answers)
    assert result["valid"] is False
    assert f"{instrument}.{missing}" in str(result["reason"])


def test_phq2_does_not_read_phq9_items() -> None:
    result = score("phq2", {"phq9.q1": 3, "phq9.q2": 3})
    assert result["valid"] is False


# --- GAD-7 (§3.3) -------------------------------------------------------------------------

# Both sides of every edge: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
GAD7_BANDS = [
    (0, "minimal", False),
    (4, "minimal", False),
    (5, "mild", False),
    (9, "mild", False),
    (10, "moderate", True),
    (14, "moderate", True),
    (15, "severe", True),
    (21, "severe", True),
]


@pytest.mark.parametrize(("total", "band", "positive"), GAD7_BANDS)
def test_gad7_total_falls_in_documented_band(total: int, band: str, positive: bool) -> None:
    result = score("gad7", answers_summing_to("gad7", 7, total))
    assert result == {
        "instrument": "gad7",
        "valid": True,
        "score": total,
        "band": band,
        "positive": positive,
        "urgent": False,
    }


def test_gad7_all_max_is_severe_but_never_urgent() -> None:
    result = score("gad7", {f"gad7.q{n}": 3 for n in range(1, 8)})
    assert (result["score"], result["band"], result["urgent"]) == (21, "severe", False)


def test_gad7_functional_item_is_optional_and_never_scored() -> None:
    base = answers_summing_to("gad7", 7, 10)
    assert score("gad7", base) == score("gad7", base | {"gad7.q8": 3})


def test_gad7_has_no_item9_field() -> None:
    assert "item9_positive" not in score("gad7", answers_summing_to("gad7", 7, 21))


@pytest.mark.parametrize("missing", [f"gad7.q{n}" for n in range(1, 8)])
def test_gad7_any_missing_item_is_invalid(missing: str) -> None:
    answers = answers_summing_to("gad7", 7, 7)
    del answers[missing]
    result = score("gad7", answers)
    assert result["valid"] is False
    assert missing in str(result["reason"])
