"""AHC HRSN screening tool against docs/instruments.md §0, §1 and §7."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from cm_bot.scoring import score

# docs/instruments.md §1.6: canonical order of positive_domains.
CANONICAL_ORDER = [
    "living_situation",
    "food",
    "transportation",
    "utilities",
    "safety",
    "financial_strain",
    "employment",
    "family_community_support",
    "education",
    "physical_activity",
    "substance_use",
    "mental_health",
    "disabilities",
]

# Every item answered with a non-★ option: no domain positive.
NO_NEEDS: dict[str, object] = {
    "ahc.q1": "steady",
    "ahc.q2": ["none"],
    "ahc.q3": "never",
    "ahc.q4": "never",
    "ahc.q5": "no",
    "ahc.q6": "no",
    "ahc.q7": 1,
    "ahc.q8": 1,
    "ahc.q9": 1,
    "ahc.q10": 1,
    "ahc.q11": "not_hard",
    "ahc.q12": "no_help",
    "ahc.q13": "dont_need",
    "ahc.q14": "never",
    "ahc.q15": "no",
    "ahc.q16": "no",
    "ahc.q17": 5,
    "ahc.q18": 30,
    "ahc.q19": "never",
    "ahc.q20": "never",
    "ahc.q21": "never",
    "ahc.q22": "never",
    "ahc.q23a": 0,
    "ahc.q23b": 0,
    "ahc.q24": "not_at_all",
    "ahc.q25": "no",
    "ahc.q26": "no",
}

# Every domain positive.
ALL_NEEDS: dict[str, object] = {
    "ahc.q1": "not_steady",
    "ahc.q2": ["pests", "mold"],
    "ahc.q3": "often",
    "ahc.q4": "often",
    "ahc.q5": "yes",
    "ahc.q6": "already_shut_off",
    "ahc.q7": 5,
    "ahc.q8": 5,
    "ahc.q9": 5,
    "ahc.q10": 5,
    "ahc.q11": "very_hard",
    "ahc.q12": "yes_finding",
    "ahc.q13": "lot_more",
    "ahc.q14": "always",
    "ahc.q15": "yes",
    "ahc.q16": "yes",
    "ahc.q17": 0,
    "ahc.q18": 0,
    "ahc.q19": "daily",
    "ahc.q20": "daily",
    "ahc.q21": "daily",
    "ahc.q22": "daily",
    "ahc.q23a": 3,
    "ahc.q23b": 3,
    "ahc.q24": "very_much",
    "ahc.q25": "yes",
    "ahc.q26": "yes",
}


def ahc(answers: Mapping[str, object], age: int | None = None) -> dict[str, object]:
    result = score("ahc", answers, age=age)
    assert result["valid"] is True, result
    return result


def domains(answers: Mapping[str, object], age: int | None = None) -> list[str]:
    result = ahc(answers, age)
    positive = result["positive_domains"]
    assert isinstance(positive, list)
    return positive


# --- Whole screenings ---------------------------------------------------------------------


def test_ahc_screening_with_no_starred_answer_has_no_positive_domain() -> None:
    assert ahc(NO_NEEDS) == {
        "instrument": "ahc",
        "valid": True,
        "score": 4,
        "band": None,
        "positive_domains": [],
        "urgent": False,
        "safety_score": 4,
        "physical_activity_minutes_per_week": 150,
        "mental_health_score": 0,
    }


def test_ahc_screening_with_every_need_lists_domains_in_canonical_order() -> None:
    assert ahc(ALL_NEEDS) == {
        "instrument": "ahc",
        "valid": True,
        "score": 20,
        "band": None,
        "positive_domains": CANONICAL_ORDER,
        "urgent": True,
        "safety_score": 20,
        "physical_activity_minutes_per_week": 0,
        "mental_health_score": 6,
    }


def test_ahc_positive_domains_order_does_not_follow_answer_order() -> None:
    reversed_answers = dict(reversed(list(ALL_NEEDS.items())))
    assert domains(reversed_answers) == CANONICAL_ORDER


def test_ahc_positive_domains_keep_canonical_order_for_a_subset() -> None:
    answers = NO_NEEDS | {
        "ahc.q26": "yes",
        "ahc.q5": "yes",
        "ahc.q19": "monthly",
        "ahc.q3": "often",
    }
    assert domains(answers) == ["food", "transportation", "substance_use", "disabilities"]


def test_ahc_result_is_json_serialisable_with_json_types() -> None:
    result = ahc(NO_NEEDS)
    assert json.loads(json.dumps(result)) == result
    assert type(result["score"]) is int
    assert result["band"] is None


# --- One rule per domain (§1.4) -----------------------------------------------------------

# (item, answer, domain it makes positive): every ★ option of every single-choice item.
STARRED = [
    ("ahc.q1", "worried", "living_situation"),
    ("ahc.q1", "not_steady", "living_situation"),
    ("ahc.q3", "often", "food"),
    ("ahc.q3", "sometimes", "food"),
    ("ahc.q4", "often", "food"),
    ("ahc.q4", "sometimes", "food"),
    ("ahc.q5", "yes", "transportation"),
    ("ahc.q6", "yes", "utilities"),
    ("ahc.q6", "already_shut_off", "utilities"),
    ("ahc.q11", "very_hard", "financial_strain"),
    ("ahc.q11", "somewhat_hard", "financial_strain"),
    ("ahc.q12", "yes_finding", "employment"),
    ("ahc.q12", "yes_keeping", "employment"),
    ("ahc.q13", "little_more", "family_community_support"),
    ("ahc.q13", "lot_more", "family_community_support"),
    ("ahc.q14", "often", "family_community_support"),
    ("ahc.q14", "always", "family_community_support"),
    ("ahc.q15", "yes", "education"),  # §7.1: chosen reading
    ("ahc.q16", "yes", "education"),
    ("ahc.q19", "once_twice", "substance_use"),
    ("ahc.q19", "monthly", "substance_use"),
    ("ahc.q20", "weekly", "substance_use"),
    ("ahc.q21", "daily", "substance_use"),
    ("ahc.q22", "once_twice", "substance_use"),
    ("ahc.q24", "a_little", "mental_health"),  # §7.2: "A little bit" counts
    ("ahc.q24", "somewhat", "mental_health"),
    ("ahc.q24", "quite_a_bit", "mental_health"),
    ("ahc.q24", "very_much", "mental_health"),
    ("ahc.q25", "yes", "disabilities"),
    ("ahc.q26", "yes", "disabilities"),
]


@pytest.mark.parametrize(("item", "answer", "domain"), STARRED)
def test_ahc_starred_answer_makes_only_its_domain_positive(
    item: str, answer: str, domain: str
) -> None:
    assert domains(NO_NEEDS | {item: answer}) == [domain]


@pytest.mark.parametrize(("item", "answer", "domain"), STARRED)
def test_ahc_starred_answer_alone_is_enough_for_its_domain(
    item: str, answer: str, domain: str
) -> None:
    assert domains({item: answer}) == [domain]


# Non-★ options of the same items.
UNSTARRED = [
    ("ahc.q1", "steady"),
    ("ahc.q3", "never"),
    ("ahc.q5", "no"),
    ("ahc.q6", "no"),
    ("ahc.q11", "not_hard"),
    ("ahc.q12", "no_help"),
    ("ahc.q13", "dont_need"),
    ("ahc.q13", "get_all"),
    ("ahc.q14", "never"),
    ("ahc.q14", "rarely"),
    ("ahc.q14", "sometimes"),
    ("ahc.q15", "no"),
    ("ahc.q16", "no"),
    ("ahc.q19", "never"),
    ("ahc.q24", "not_at_all"),
    ("ahc.q25", "no"),
    ("ahc.q26", "no"),
]


@pytest.mark.parametrize(("item", "answer"), UNSTARRED)
def test_ahc_unstarred_answer_is_not_a_need(item: str, answer: str) -> None:
    assert domains({item: answer}) == []


# --- Living situation, q2 (§1.2, §1.4) ----------------------------------------------------

HOUSING_PROBLEMS = ["pests", "mold", "lead", "heat", "stove", "smoke_detectors", "water_leaks"]


@pytest.mark.parametrize("problem", HOUSING_PROBLEMS)
def test_ahc_any_housing_problem_makes_living_situation_positive(problem: str) -> None:
    assert domains(NO_NEEDS | {"ahc.q2": [problem]}) == ["living_situation"]


def test_ahc_several_housing_problems_are_positive() -> None:
    assert domains({"ahc.q2": ["mold", "pests"]}) == ["living_situation"]


def test_ahc_housing_none_is_not_a_need() -> None:
    assert domains({"ahc.q1": "steady", "ahc.q2": ["none"]}) == []


@pytest.mark.parametrize(
    "bad",
    [
        ["none", "mold"],
        ["mold", "none"],
        [],
        ["fire"],
        ["mold", "Mold"],
        "mold",
        "none",
        [1],
        [True],
        ("none", "mold"),
    ],
    ids=repr,
)
def test_ahc_invalid_housing_problem_list_is_invalid(bad: object) -> None:
    result = score("ahc", {"ahc.q1": "steady", "ahc.q2": bad})
    assert result["valid"] is False
    assert "ahc.q2" in str(result["reason"])
    assert "positive_domains" not in result


def test_ahc_housing_none_is_exclusive() -> None:
    result = score("ahc", NO_NEEDS | {"ahc.q2": ["none", "mold"]})
    assert result == {"instrument": "ahc", "valid": False, "reason": result["reason"]}


# --- Safety (§1.5, §1.7) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "total", "positive"),
    [
        ((1, 1, 1, 1), 4, False),
        ((5, 1, 1, 1), 8, False),  # "physically hurt: frequently" alone is not positive
        ((1, 5, 1, 1), 8, False),
        ((3, 3, 2, 2), 10, False),
        ((1, 4, 4, 1), 10, False),
        ((3, 3, 3, 2), 11, True),
        ((5, 4, 1, 1), 11, True),
        ((3, 3, 3, 3), 12, True),
        ((5, 5, 5, 5), 20, True),
    ],
)
def test_ahc_safety_is_positive_from_11_and_then_urgent(
    values: tuple[int, int, int, int], total: int, positive: bool
) -> None:
    answers = dict(zip(["ahc.q7", "ahc.q8", "ahc.q9", "ahc.q10"], values, strict=True))
    result = ahc(answers)
    assert result["safety_score"] == total
    assert result["score"] == total
    assert result["positive_domains"] == (["safety"] if positive else [])
    assert result["urgent"] is positive


def test_ahc_safety_sum_10_is_negative_and_11_positive() -> None:
    ten = ahc(NO_NEEDS | {"ahc.q7": 4, "ahc.q8": 4})
    eleven = ahc(NO_NEEDS | {"ahc.q7": 4, "ahc.q8": 5})
    assert (ten["safety_score"], ten["urgent"], ten["positive_domains"]) == (10, False, [])
    assert (eleven["safety_score"], eleven["urgent"], eleven["positive_domains"]) == (
        11,
        True,
        ["safety"],
    )


@pytest.mark.parametrize(
    ("answered", "certainly_positive"),
    [
        # answered items + 1 ("Never") for each missing one reaches 11 -> escalate anyway
        ({"ahc.q7": 5, "ahc.q8": 5, "ahc.q9": 5}, True),  # 15 + 1
        ({"ahc.q7": 4, "ahc.q8": 3, "ahc.q9": 3}, True),  # 10 + 1 = 11
        ({"ahc.q7": 3, "ahc.q8": 3, "ahc.q9": 3}, False),  # 9 + 1 = 10
        ({"ahc.q8": 5, "ahc.q10": 4}, True),  # 9 + 2 = 11
        ({"ahc.q8": 5, "ahc.q10": 3}, False),  # 8 + 2 = 10
        ({"ahc.q7": 5}, False),  # 5 + 3 = 8
        ({}, False),
    ],
)
def test_ahc_safety_with_missing_items_has_no_score_but_certain_positive_escalates(
    answered: dict[str, object], certainly_positive: bool
) -> None:
    result = ahc({"ahc.q1": "steady"} | answered)
    assert result["safety_score"] is None
    assert result["score"] is None
    assert result["positive_domains"] == (["safety"] if certainly_positive else [])
    assert result["urgent"] is certainly_positive


@pytest.mark.parametrize("bad", [0, 6, -1, True, "3", 3.0, "sometimes"], ids=repr)
def test_ahc_safety_answer_outside_1_to_5_is_invalid(bad: object) -> None:
    result = score("ahc", NO_NEEDS | {"ahc.q9": bad})
    assert result["valid"] is False
    assert "ahc.q9" in str(result["reason"])


# --- Urgent policy (§1.7) -----------------------------------------------------------------


def test_ahc_every_need_except_safety_is_not_urgent() -> None:
    answers = ALL_NEEDS | {"ahc.q7": 1, "ahc.q8": 1, "ahc.q9": 1, "ahc.q10": 1}
    result = ahc(answers)
    assert result["positive_domains"] == [d for d in CANONICAL_ORDER if d != "safety"]
    assert result["urgent"] is False


def test_ahc_safety_alone_is_urgent() -> None:
    result = ahc(NO_NEEDS | {"ahc.q7": 3, "ahc.q8": 3, "ahc.q9": 3, "ahc.q10": 2})
    assert result["positive_domains"] == ["safety"]
    assert result["urgent"] is True


# --- Physical activity (§1.4, §1.6) -------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "minutes_per_day", "age", "weekly", "positive"),
    [
        # adult (default when age is unknown): need when < 150 a week
        (5, 30, None, 150, False),
        (1, 150, None, 150, False),  # "150 or greater" counts as 150
        (7, 20, None, 140, True),
        (3, 40, None, 120, True),
        (0, 0, None, 0, True),
        (7, 150, None, 1050, False),
        (5, 30, 18, 150, False),
        (7, 20, 18, 140, True),
        (6, 60, 18, 360, False),  # the child threshold does not apply at 18
        (2, 60, 80, 120, True),
        # ages 6-17: need when < 60 a day on average, i.e. < 420 a week
        (7, 60, 17, 420, False),
        (6, 60, 17, 360, True),
        (7, 50, 17, 350, True),
        (6, 90, 17, 540, False),
        (7, 60, 6, 420, False),
        (6, 60, 6, 360, True),
        (5, 30, 10, 150, True),  # enough for an adult, not for a child
        # under 6: cannot be determined, never positive
        (0, 0, 5, 0, False),
        (1, 10, 5, 10, False),
        (0, 0, 0, 0, False),
    ],
)
def test_ahc_physical_activity_uses_minutes_per_week_and_age_threshold(
    days: int, minutes_per_day: int, age: int | None, weekly: int, positive: bool
) -> None:
    result = ahc({"ahc.q17": days, "ahc.q18": minutes_per_day}, age=age)
    assert result["physical_activity_minutes_per_week"] == weekly
    assert result["positive_domains"] == (["physical_activity"] if positive else [])
    assert result["urgent"] is False


def test_ahc_zero_days_of_exercise_is_zero_minutes_without_asking_minutes() -> None:
    result = ahc({"ahc.q17": 0})
    assert result["physical_activity_minutes_per_week"] == 0
    assert result["positive_domains"] == ["physical_activity"]


@pytest.mark.parametrize(
    "answers",
    [{"ahc.q17": 3}, {"ahc.q18": 30}, {"ahc.q17": 3, "ahc.q18": None}],
    ids=["days only", "minutes only", "minutes None"],
)
def test_ahc_physical_activity_needs_both_items_unless_zero_days(
    answers: dict[str, object],
) -> None:
    result = ahc(answers)
    assert result["physical_activity_minutes_per_week"] is None
    assert result["positive_domains"] == []


@pytest.mark.parametrize(
    ("item", "bad"),
    [
        ("ahc.q17", 8),
        ("ahc.q17", -1),
        ("ahc.q17", True),
        ("ahc.q17", 3.0),
        ("ahc.q17", "3"),
        ("ahc.q18", 45),
        ("ahc.q18", 151),
        ("ahc.q18", 200),
        ("ahc.q18", -10),
        ("ahc.q18", "30"),
    ],
)
def test_ahc_physical_activity_value_outside_the_options_is_invalid(item: str, bad: object) -> None:
    result = score("ahc", NO_NEEDS | {item: bad})
    assert result["valid"] is False
    assert item in str(result["reason"])


@pytest.mark.parametrize("bad_age", [-1, True, "30", 30.0], ids=repr)
def test_ahc_invalid_age_is_invalid(bad_age: object) -> None:
    result = score("ahc", NO_NEEDS, age=bad_age)  # type: ignore[arg-type]
    assert result["valid"] is False
    assert "age" in str(result["reason"])


# --- Mental health (§1.4, §1.6) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "total", "positive"),
    [
        (0, 0, 0, False),
        (1, 1, 2, False),
        (2, 0, 2, False),
        (2, 1, 3, True),
        (0, 3, 3, True),
        (3, 0, 3, True),
        (3, 3, 6, True),
    ],
)
def test_ahc_mental_health_sum_of_3_or_more_is_a_need(
    first: int, second: int, total: int, positive: bool
) -> None:
    result = ahc({"ahc.q23a": first, "ahc.q23b": second, "ahc.q24": "not_at_all"})
    assert result["mental_health_score"] == total
    assert result["positive_domains"] == (["mental_health"] if positive else [])


def test_ahc_stress_makes_mental_health_positive_even_with_low_sum() -> None:
    result = ahc({"ahc.q23a": 0, "ahc.q23b": 0, "ahc.q24": "a_little"})
    assert result["mental_health_score"] == 0
    assert result["positive_domains"] == ["mental_health"]


@pytest.mark.parametrize("answered", [{"ahc.q23a": 3}, {"ahc.q23b": 3}])
def test_ahc_mental_health_score_is_null_when_either_item_is_missing(
    answered: dict[str, object],
) -> None:
    result = ahc(answered | {"ahc.q24": "not_at_all"})
    assert result["mental_health_score"] is None
    assert result["positive_domains"] == []


@pytest.mark.parametrize("bad", [4, -1, True, "2", 1.0], ids=repr)
def test_ahc_mental_health_item_outside_0_to_3_is_invalid(bad: object) -> None:
    result = score("ahc", NO_NEEDS | {"ahc.q23b": bad})
    assert result["valid"] is False
    assert "ahc.q23b" in str(result["reason"])


# --- Missing data (§0.2, §1.7) ------------------------------------------------------------


def test_ahc_only_supplemental_answers_give_null_safety_score() -> None:
    result = ahc({"ahc.q11": "very_hard", "ahc.q25": "no"})
    assert result["safety_score"] is None
    assert result["score"] is None
    assert result["physical_activity_minutes_per_week"] is None
    assert result["mental_health_score"] is None
    assert result["positive_domains"] == ["financial_strain"]
    assert result["urgent"] is False


def test_ahc_domain_is_scored_from_the_items_answered() -> None:
    assert domains({"ahc.q4": "sometimes"}) == ["food"]
    assert domains({"ahc.q4": "never"}) == []


def test_ahc_skipped_items_given_as_none_count_as_unanswered() -> None:
    answers = {"ahc.q1": None, "ahc.q5": "yes", "ahc.q7": None}
    result = ahc(answers)
    assert result["positive_domains"] == ["transportation"]
    assert result["safety_score"] is None


def test_ahc_with_no_item_answered_is_invalid() -> None:
    result = score("ahc", {"phq9.q1": 3, "hvs.q1": "often"})
    assert result["valid"] is False
    assert "positive_domains" not in result


# --- Invalid codes (§0.1) -----------------------------------------------------------------

SINGLE_CHOICE_ITEMS = [
    f"ahc.q{n}" for n in (1, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 24, 25, 26)
]


@pytest.mark.parametrize("item", SINGLE_CHOICE_ITEMS)
@pytest.mark.parametrize("bad", ["maybe", "YES", "", 1, True, ["yes"]], ids=repr)
def test_ahc_unknown_option_code_is_invalid_and_named(item: str, bad: object) -> None:
    result = score("ahc", NO_NEEDS | {item: bad})
    assert result == {"instrument": "ahc", "valid": False, "reason": result["reason"]}
    assert item in str(result["reason"])


def test_ahc_invalid_reason_names_every_bad_item_and_only_those() -> None:
    reason = str(score("ahc", NO_NEEDS | {"ahc.q5": "maybe", "ahc.q10": 0})["reason"])
    assert "ahc.q5" in reason and "ahc.q10" in reason
    assert "ahc.q6" not in reason


def test_ahc_2017_transport_options_are_not_accepted() -> None:
    # §1.1: the 2018+ version is used; Q5 is yes/no.
    result = score("ahc", {"ahc.q5": "medical"})
    assert result["valid"] is False
