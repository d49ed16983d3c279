"""Hunger Vital Sign against docs/instruments.md §0 and §4."""

from __future__ import annotations

import itertools

import pytest

from cm_bot.scoring import score

OPTIONS = ["often", "sometimes", "never", "dont_know"]
AFFIRMATIVE = {"often", "sometimes"}


def expected_band(first: str, second: str) -> str:
    if first in AFFIRMATIVE or second in AFFIRMATIVE:
        return "at_risk"
    if first == second == "dont_know":
        return "unknown"
    return "no_risk"


@pytest.mark.parametrize(("first", "second"), list(itertools.product(OPTIONS, repeat=2)))
def test_hvs_is_at_risk_when_either_item_is_often_or_sometimes(first: str, second: str) -> None:
    at_risk = first in AFFIRMATIVE or second in AFFIRMATIVE
    result = score("hvs", {"hvs.q1": first, "hvs.q2": second})
    assert result == {
        "instrument": "hvs",
        "valid": True,
        "band": expected_band(first, second),
        "positive": at_risk,
        "urgent": False,
    }


def test_hvs_single_affirmative_item_is_enough() -> None:
    assert score("hvs", {"hvs.q1": "never", "hvs.q2": "sometimes"})["band"] == "at_risk"


def test_hvs_dont_know_on_both_items_is_unknown_not_no_risk() -> None:
    # docs/instruments.md §4.3: dont_know is not affirmative, so not positive; but a client who
    # told us nothing is not shown as "no risk" (issue 13, clinical review).
    result = score("hvs", {"hvs.q1": "dont_know", "hvs.q2": "dont_know"})
    assert (result["band"], result["positive"], result["urgent"]) == ("unknown", False, False)


@pytest.mark.parametrize(("first", "second"), [("dont_know", "never"), ("never", "dont_know")])
def test_hvs_one_dont_know_with_never_is_no_risk(first: str, second: str) -> None:
    result = score("hvs", {"hvs.q1": first, "hvs.q2": second})
    assert (result["band"], result["positive"]) == ("no_risk", False)


@pytest.mark.parametrize("affirmative", sorted(AFFIRMATIVE))
def test_hvs_dont_know_with_an_affirmative_item_is_at_risk(affirmative: str) -> None:
    result = score("hvs", {"hvs.q1": "dont_know", "hvs.q2": affirmative})
    assert (result["band"], result["positive"]) == ("at_risk", True)


def test_hvs_has_no_score_field() -> None:
    assert "score" not in score("hvs", {"hvs.q1": "often", "hvs.q2": "often"})


@pytest.mark.parametrize("missing", ["hvs.q1", "hvs.q2"])
def test_hvs_needs_both_items_even_when_the_other_is_affirmative(missing: str) -> None:
    answers = {"hvs.q1": "often", "hvs.q2": "often"}
    del answers[missing]
    result = score("hvs", answers)
    assert result["valid"] is False
    assert missing in str(result["reason"])
    assert "band" not in result and "positive" not in result


@pytest.mark.parametrize(
    "bad", ["Often true", "OFTEN", "yes", "", 1, 0, True, ["often"], "refused"], ids=repr
)
def test_hvs_unknown_answer_code_is_invalid(bad: object) -> None:
    result = score("hvs", {"hvs.q1": "never", "hvs.q2": bad})
    assert result["valid"] is False
    assert "hvs.q2" in str(result["reason"])


def test_hvs_does_not_read_the_ahc_food_items() -> None:
    result = score("hvs", {"ahc.q3": "often", "ahc.q4": "often"})
    assert result["valid"] is False
