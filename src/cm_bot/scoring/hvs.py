"""Hunger Vital Sign: two food-insecurity items, at risk if either is affirmative."""

from __future__ import annotations

from collections.abc import Mapping

from cm_bot.scoring.base import ChoiceItem, Result, read_answers

# docs/instruments.md §4.2 options; §4.3 (HL7 SDOHCC HVS Questionnaire; Hager et al. 2010;
# Children's HealthWatch 2014): "often" and "sometimes" are at risk, "dont_know" is not.
_ITEM = ChoiceItem(
    codes=("often", "sometimes", "never", "dont_know"),
    positive=frozenset({"often", "sometimes"}),
)
_DONT_KNOW = "dont_know"
HVS_ITEMS: tuple[str, ...] = ("hvs.q1", "hvs.q2")


def score_hvs(answers: Mapping[str, object]) -> Result:
    """Score the HVS; raises InvalidAnswersError unless both items are answered (§0.2).

    Bands: ``at_risk`` (either item affirmative), ``unknown`` (both items "Don't know /
    prefer not to say": nothing was told, so neither risk nor its absence is shown) or
    ``no_risk``. Only ``at_risk`` is ``positive``.
    """
    answered = read_answers(answers, dict.fromkeys(HVS_ITEMS, _ITEM), required=HVS_ITEMS)
    # docs/instruments.md §4.3: "either or both" items affirmative; one is enough.
    at_risk = any(answered[item_id] in _ITEM.positive for item_id in HVS_ITEMS)
    # docs/instruments.md §4.3: "dont_know is not affirmative", so it never makes the screen
    # positive. [POLICY, issue 13 / clinical review 2026-12-07] when *both* items are
    # dont_know the client told us nothing, and "no_risk" would show a refusal as no risk:
    # the band is "unknown" (still not positive, no urgent rule). One dont_know with one
    # "never" stays no_risk, as the published rule reads.
    unknown = not at_risk and all(answered[item_id] == _DONT_KNOW for item_id in HVS_ITEMS)
    # docs/instruments.md §0.1 / §4.3: no score field, no urgent rule.
    return {
        "instrument": "hvs",
        "valid": True,
        "band": "at_risk" if at_risk else "unknown" if unknown else "no_risk",
        "positive": at_risk,
        "urgent": False,
    }
