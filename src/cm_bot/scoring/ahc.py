"""CMS AHC HRSN screening tool (2018+ version): one positive/negative verdict per domain.

There is no total score (docs/instruments.md §1.3), and domains are judged only from the items
that were answered (§0.2, §1.7), so a partial screening still yields the needs it shows.
"""

from __future__ import annotations

from collections.abc import Mapping

from cm_bot.scoring.base import (
    ChoiceItem,
    IntItem,
    InvalidAnswersError,
    ItemSpec,
    MultiChoiceItem,
    Result,
    int_range,
    read_answers,
)

# docs/instruments.md §1.2: option codes; ``positive`` holds the ★ (underlined) answers, which
# "might [show] an unmet health-related social need" (§1.3, CMS AHC tool; LHC-Forms copy).
_YES_NO = ChoiceItem(("yes", "no"), frozenset({"yes"}))
_FOOD = ChoiceItem(("often", "sometimes", "never"), frozenset({"often", "sometimes"}))
# docs/instruments.md §1.2 substance scale: every answer except "never" is ★.
_SUBSTANCE = ChoiceItem(
    ("never", "once_twice", "monthly", "weekly", "daily"),
    frozenset({"once_twice", "monthly", "weekly", "daily"}),
)
# docs/instruments.md §1.2: safety answers are integers 1-5 (Never 1 ... Frequently 5);
# 0 is invalid.
_SAFETY = int_range(1, 5)

AHC_SPECS: dict[str, ItemSpec] = {
    "ahc.q1": ChoiceItem(("steady", "worried", "not_steady"), frozenset({"worried", "not_steady"})),
    # docs/instruments.md §1.2: every problem is ★; "none" is exclusive (["none", "mold"] invalid).
    "ahc.q2": MultiChoiceItem(
        ("pests", "mold", "lead", "heat", "stove", "smoke_detectors", "water_leaks", "none"),
        exclusive="none",
    ),
    "ahc.q3": _FOOD,
    "ahc.q4": _FOOD,
    "ahc.q5": _YES_NO,
    "ahc.q6": ChoiceItem(("yes", "no", "already_shut_off"), frozenset({"yes", "already_shut_off"})),
    "ahc.q7": _SAFETY,
    "ahc.q8": _SAFETY,
    "ahc.q9": _SAFETY,
    "ahc.q10": _SAFETY,
    "ahc.q11": ChoiceItem(
        ("very_hard", "somewhat_hard", "not_hard"), frozenset({"very_hard", "somewhat_hard"})
    ),
    "ahc.q12": ChoiceItem(
        ("yes_finding", "yes_keeping", "no_help"), frozenset({"yes_finding", "yes_keeping"})
    ),
    "ahc.q13": ChoiceItem(
        ("dont_need", "get_all", "little_more", "lot_more"), frozenset({"little_more", "lot_more"})
    ),
    "ahc.q14": ChoiceItem(
        ("never", "rarely", "sometimes", "often", "always"), frozenset({"often", "always"})
    ),
    # docs/instruments.md §7.1: q15 "yes" is taken as ★ (NY crosswalk); revisit against the CMS PDF.
    "ahc.q15": _YES_NO,
    "ahc.q16": _YES_NO,
    "ahc.q17": int_range(0, 7),
    # docs/instruments.md §1.2 / §1.6: minutes per day from a fixed list; 150 means
    # "150 or greater".
    "ahc.q18": IntItem((0, 10, 20, 30, 40, 50, 60, 90, 120, 150)),
    "ahc.q19": _SUBSTANCE,
    "ahc.q20": _SUBSTANCE,
    "ahc.q21": _SUBSTANCE,
    "ahc.q22": _SUBSTANCE,
    "ahc.q23a": int_range(0, 3),
    "ahc.q23b": int_range(0, 3),
    # docs/instruments.md §1.6 / §7.2: every stress answer except "not_at_all" is ★, "a_little" too.
    "ahc.q24": ChoiceItem(
        ("not_at_all", "a_little", "somewhat", "quite_a_bit", "very_much"),
        frozenset({"a_little", "somewhat", "quite_a_bit", "very_much"}),
    ),
    "ahc.q25": _YES_NO,
    "ahc.q26": _YES_NO,
}
AHC_ITEMS: tuple[str, ...] = tuple(AHC_SPECS)

# docs/instruments.md §1.6: canonical order of ``positive_domains``, each with the single-choice
# items whose ★ answer makes the domain positive (§1.4). Domains with a numeric rule
# (safety, physical activity, the mental-health sum) or a list item (q2) add it below.
DOMAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("living_situation", ("ahc.q1",)),
    ("food", ("ahc.q3", "ahc.q4")),
    ("transportation", ("ahc.q5",)),
    ("utilities", ("ahc.q6",)),
    ("safety", ()),
    ("financial_strain", ("ahc.q11",)),
    ("employment", ("ahc.q12",)),
    ("family_community_support", ("ahc.q13", "ahc.q14")),
    ("education", ("ahc.q15", "ahc.q16")),
    ("physical_activity", ()),
    ("substance_use", ("ahc.q19", "ahc.q20", "ahc.q21", "ahc.q22")),
    ("mental_health", ("ahc.q24",)),
    ("disabilities", ("ahc.q25", "ahc.q26")),
)

SAFETY_ITEMS = ("ahc.q7", "ahc.q8", "ahc.q9", "ahc.q10")
# docs/instruments.md §1.5 (CMS AHC tool; 2017 text "> 10"; SHIN-NY IG): 11 or more is positive.
SAFETY_POSITIVE_FROM = 11
_SAFETY_MINIMUM_PER_ITEM = 1  # "Never"

# docs/instruments.md §1.6 (NY 1115 crosswalk): minutes per week below which activity is a need.
ADULT_AGE = 18
CHILD_AGE = 6  # under 6 the need "can't" be determined
ADULT_MINUTES_PER_WEEK = 150
CHILD_MINUTES_PER_WEEK = 7 * 60  # "less than an average of 60 minutes a day"

# docs/instruments.md §1.6 (CMS AHC tool): q23a + q23b of 3 or more is a mental-health need.
MENTAL_HEALTH_POSITIVE_FROM = 3


def _int(answered: Mapping[str, object], item_id: str) -> int | None:
    value = answered.get(item_id)
    assert value is None or isinstance(value, int)  # checked by read_answers
    return value


def _safety(answered: Mapping[str, object]) -> tuple[int | None, bool]:
    """Safety score (None unless all four items are answered) and whether the domain is positive."""
    values = [v for v in (_int(answered, item_id) for item_id in SAFETY_ITEMS) if v is not None]
    if len(values) == len(SAFETY_ITEMS):
        total = sum(values)
        # docs/instruments.md §1.5: sum 10 negative, 11 positive (range 4-20).
        return total, total >= SAFETY_POSITIVE_FROM
    # docs/instruments.md §1.5 [secondary: SHIN-NY IG]: with items missing there is no safety score.
    # §1.5 / §7.10 [POLICY]: but if the answers given plus 1 ("Never") for each missing item
    # already reach 11, the screen is certainly positive, so it still counts (and escalates).
    unanswered = len(SAFETY_ITEMS) - len(values)
    lowest_possible = sum(values) + unanswered * _SAFETY_MINIMUM_PER_ITEM
    return None, lowest_possible >= SAFETY_POSITIVE_FROM


def _activity(answered: Mapping[str, object], age: int | None) -> tuple[int | None, bool]:
    """Minutes of exercise per week (None if not computable) and whether that is a need."""
    days, per_day = _int(answered, "ahc.q17"), _int(answered, "ahc.q18")
    # docs/instruments.md §1.4 / §1.6: minutes/week = q17 x q18, and 0 days gives 0 whatever q18 is.
    if days == 0:
        minutes: int | None = 0
    elif days is not None and per_day is not None:
        minutes = days * per_day
    else:
        minutes = None
    # docs/instruments.md §1.6: no age means the adult rule; under 6 is never positive.
    if minutes is None or (age is not None and age < CHILD_AGE):
        return minutes, False
    if age is not None and age < ADULT_AGE:
        # docs/instruments.md §1.6: ages 6-17, strictly below 420 (exactly 60 a day is not a need).
        return minutes, minutes < CHILD_MINUTES_PER_WEEK
    # docs/instruments.md §1.6: age 18 or more, strictly below 150 (150 is not a need).
    return minutes, minutes < ADULT_MINUTES_PER_WEEK


def _mental_health_score(answered: Mapping[str, object]) -> int | None:
    """q23a + q23b, or None if either is missing (docs/instruments.md §1.6)."""
    first, second = _int(answered, "ahc.q23a"), _int(answered, "ahc.q23b")
    if first is None or second is None:
        return None
    return first + second


def score_ahc(answers: Mapping[str, object], age: int | None = None) -> Result:
    """Score the AHC HRSN; raises InvalidAnswersError on a bad code or when nothing was answered."""
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or age < 0):
        raise InvalidAnswersError(f"age: expected a non-negative integer in years, got {age!r}")
    # docs/instruments.md §0.2 / §1.7: no item is required; domains use what was answered.
    answered = read_answers(answers, AHC_SPECS, required=())
    if not answered:
        # Not in the document: an empty screening must not read as "no needs found".
        raise InvalidAnswersError(f"no AHC item answered ({AHC_ITEMS[0]} to {AHC_ITEMS[-1]})")

    safety_score, safety_positive = _safety(answered)
    minutes, activity_positive = _activity(answered, age)
    mental_health_score = _mental_health_score(answered)
    housing_problems = answered.get("ahc.q2", ["none"])
    assert isinstance(housing_problems, list | tuple)
    numeric_rules = {
        # docs/instruments.md §1.4: q2 positive when it lists any problem (not "none").
        "living_situation": any(code != "none" for code in housing_problems),
        "safety": safety_positive,
        "physical_activity": activity_positive,
        "mental_health": mental_health_score is not None
        and mental_health_score >= MENTAL_HEALTH_POSITIVE_FROM,
    }

    positive_domains: list[str] = []
    for domain, starred_items in DOMAINS:
        # docs/instruments.md §1.4: a domain is positive if any of its items is ★ or its rule holds;
        # an item left out simply contributes nothing (§1.7).
        starred = False
        for item_id in starred_items:
            spec = AHC_SPECS[item_id]
            assert isinstance(spec, ChoiceItem)
            starred = starred or answered.get(item_id) in spec.positive
        if starred or numeric_rules.get(domain, False):
            positive_domains.append(domain)

    return {
        "instrument": "ahc",
        "valid": True,
        # docs/instruments.md §0.1: "score" is the safety score (the only numeric core score),
        # "band" is always null: "A total score is not used; each domain stands alone" (§1.3).
        "score": safety_score,
        "band": None,
        "positive_domains": positive_domains,
        # docs/instruments.md §1.7 [POLICY]: urgent exactly when the safety domain is positive.
        "urgent": "safety" in positive_domains,
        "safety_score": safety_score,
        "physical_activity_minutes_per_week": minutes,
        "mental_health_score": mental_health_score,
    }
