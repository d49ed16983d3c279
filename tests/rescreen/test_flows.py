"""The re-screen flows ask the intake's questions with the intake's keys, scores and rules."""

from __future__ import annotations

import pytest

from cm_bot.flows.loader import load_flow
from cm_bot.flows.schema import ChoiceStep, Flow, MessageStep
from tests.support.paths import ROOT

PAIRS = [("screening_phq", "rescreen_phq9"), ("screening_gad", "rescreen_gad7")]


@pytest.mark.parametrize(("intake", "rescreen"), PAIRS)
def test_same_questions_keys_scores_and_flags(intake: str, rescreen: str) -> None:
    first = load_flow(ROOT / "conversations" / f"{intake}.yaml")
    again = load_flow(ROOT / "conversations" / f"{rescreen}.yaml")

    def questions(flow: Flow) -> list[tuple[str, str, object]]:
        steps = [s for s in flow.steps if isinstance(s, ChoiceStep)]
        assert len(steps) == len([s for s in flow.steps if not isinstance(s, MessageStep)])
        return [(s.key, s.text, [(o.value, o.label) for o in s.options]) for s in steps]

    assert questions(again) == questions(first)
    assert again.scores == first.scores
    assert again.flags == first.flags


@pytest.mark.parametrize(("intake", "rescreen"), PAIRS)
def test_a_rescreen_asks_the_whole_instrument(intake: str, rescreen: str) -> None:
    """No two-item gate: a re-screen always reaches the full PHQ-9 / GAD-7."""
    first = load_flow(ROOT / "conversations" / f"{intake}.yaml")
    again = load_flow(ROOT / "conversations" / f"{rescreen}.yaml")
    assert first.steps[2].next  # intake: a negative two-item screen ends there
    assert again.steps[2].next is None  # a re-screen goes on to item 3
    assert [s.id for s in again.steps] == [s.id for s in first.steps]
