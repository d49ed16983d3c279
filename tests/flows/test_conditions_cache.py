"""Conditions are parsed once and the cached tree gives the same answers as a fresh parse."""

from __future__ import annotations

from typing import Any

import pytest
from simpleeval import EvalWithCompoundTypes

from cm_bot.flows import conditions
from cm_bot.flows.conditions import FUNCTIONS, ExpressionError, check, evaluate, holds

ANSWERS: dict[str, object] = {"phq9.q9": 1, "checkin.progress": 2, "ahc.q17": False}
SCORES: dict[str, object] = {
    "phq9": {"score": 14, "band": "moderate", "positive": True},
    "ahc": {"positive_domains": ["food", "safety"], "urgent": False},
}
CONTEXT: dict[str, object] = {"last_progress": 6, "previous_progress_zero": False}

EXPRESSIONS = [
    "answers['phq9.q9'] > 0",
    "  answers['phq9.q9'] > 0  ",  # the same expression with the whitespace a YAML file may leave
    "scores['phq9']['positive']",
    "'food' in scores['ahc']['positive_domains']",
    "'housing' in scores['ahc']['positive_domains']",
    "not answers['ahc.q17']",
    "context['last_progress'] - answers['checkin.progress'] >= 3",
    "context['previous_progress_zero'] == True and answers['checkin.progress'] == 0",
    "total(answers['phq9.q9'], answers['checkin.progress'])",
    "total(answers['phq9.q9'], answers['phq9.q1'])",  # q1 missing: None, not a partial sum
    "max(answers['phq9.q9'], 3) if answered(answers['phq9.q9']) else -1",
    # A missing answer makes a condition undecidable: false, never an error.
    "answers['phq9.q1'] > 0",
    "answers['phq9.q1'] - 1 >= 0",
    "scores['gad7']['positive']",
    "context['goal'] == 'sleep'",
]


def _uncached(expression: str) -> object:
    """What ``evaluate`` did before the cache: simpleeval parses the source on every call."""
    evaluator = EvalWithCompoundTypes(
        names={
            "answers": conditions._Missing(ANSWERS),
            "scores": conditions._Missing(SCORES),
            "context": conditions._Missing(CONTEXT),
        },
        functions=dict(FUNCTIONS),
    )
    return evaluator.eval(expression.strip())


def _outcome(call: Any) -> tuple[str, object]:
    try:
        return ("value", call())
    except Exception as exc:
        return ("raises", type(exc))


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_cached_evaluation_matches_a_fresh_parse(expression: str) -> None:
    check(expression)  # every expression here would load from a flow file
    fresh = _outcome(lambda: _uncached(expression))
    for _ in range(3):  # the first call fills the cache, the later ones read it
        cached = _outcome(
            lambda: evaluate(expression, answers=ANSWERS, scores=SCORES, context=CONTEXT)
        )
        assert cached == fresh


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_holds_is_the_same_on_every_call(expression: str) -> None:
    results = {holds(expression, answers=ANSWERS, scores=SCORES, context=CONTEXT) for _ in range(3)}
    assert len(results) == 1


def test_missing_answer_is_false_through_the_cache() -> None:
    expression = "answers['phq9.q9'] > 0"
    conditions._parsed.cache_clear()
    assert holds(expression, answers={"phq9.q9": 2})
    assert not holds(expression, answers={})  # None > 0: undecidable, so false
    assert not holds(expression, answers={"phq9.q9": 0})
    assert holds(expression, answers={"phq9.q9": 3})
    info = conditions._parsed.cache_info()
    assert info.misses == 1
    assert info.hits == 3


def test_the_tree_is_shared_and_not_changed_by_evaluation() -> None:
    import ast

    expression = "answers['phq9.q9'] > 0 and scores['phq9']['score'] >= 10"
    conditions._parsed.cache_clear()
    evaluate(expression, answers=ANSWERS, scores=SCORES)
    tree = conditions._parsed(expression)
    before = ast.dump(tree)
    assert not holds(expression, answers={}, scores={})
    assert not holds(expression, answers={"phq9.q9": 0}, scores=SCORES)
    assert conditions._parsed(expression) is tree
    assert ast.dump(tree) == before


def test_errors_are_not_cached_and_stay_errors() -> None:
    with pytest.raises(ExpressionError):
        evaluate("   ", answers={})
    with pytest.raises(SyntaxError):
        evaluate("answers[", answers={})
    with pytest.raises(SyntaxError):
        evaluate("answers[", answers={})


def test_evaluating_does_not_widen_what_check_accepts() -> None:
    evaluate("answers['x'] == 1", answers={"x": 1})
    assert "list" not in FUNCTIONS and "dict" not in FUNCTIONS
    for expression in ("list(answers)", "dict(a=1)", "set()", "tuple()"):
        with pytest.raises(ExpressionError):
            check(expression)


def test_the_cache_is_bounded() -> None:
    maxsize = conditions._parsed.cache_info().maxsize
    assert maxsize is not None
    for i in range(maxsize + 10):
        evaluate(f"answers['k{i}'] == {i}", answers={f"k{i}": i})
    assert conditions._parsed.cache_info().currsize <= maxsize
