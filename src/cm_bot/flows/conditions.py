"""Conditions and score expressions in flow files, evaluated with simpleeval (never ``eval``).

An expression sees three read-only mappings:

* ``answers['phq9.q1']`` — this run's answers by store key (``None`` when unanswered),
* ``scores['phq9']`` — computed scores (a dict such as ``{"score": 12, "band": "moderate"}``),
* ``context['goal']`` — values the run was started with (a goal's text, the last progress ...),

and the functions in :data:`FUNCTIONS`. A condition that cannot be decided because
an answer is missing (``None > 0``) is *false*, never an error and never zero.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

NAMES = ("answers", "scores", "context")


class _Missing(dict[str, Any]):
    """A mapping whose absent keys read as ``None``, so conditions can test for them."""

    def __missing__(self, key: str) -> None:
        return None


def _answered(value: object) -> bool:
    return value is not None


def _total(*values: object) -> int | float | None:
    """Sum numbers; ``None`` if any is missing, so a partial sum is never mistaken for a score."""
    total: int | float = 0
    for value in values:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        total += value
    return total


def _count(values: Iterable[object], *wanted: object) -> int:
    return sum(1 for v in values if v in wanted)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "answered": _answered,
    "total": _total,
    "count": _count,
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
}


# What the evaluator is given. ``EvalWithCompoundTypes.__init__`` adds ``list``, ``tuple``,
# ``dict`` and ``set`` to the mapping it receives; handing it :data:`FUNCTIONS` itself made
# them appear there after the first evaluation, so :func:`check` accepted names that it
# rejected at start-up. They are in here from the start, and :data:`FUNCTIONS` stays as is.
_EVAL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "set": set,
}


class ExpressionError(ValueError):
    """An expression in a flow file is malformed or refers to something that does not exist."""


@dataclass(frozen=True, slots=True)
class References:
    """What an expression reads: answer keys, score ids and context keys."""

    answers: frozenset[str]
    scores: frozenset[str]
    context: frozenset[str]


def check(expression: str) -> References:
    """Parse ``expression`` and return what it refers to; raise :class:`ExpressionError` if unsafe.

    Loading a flow calls this for every expression, so a typo is a ``file:line``
    error at load time rather than a silent false at 3 a.m.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression {expression!r}: {exc.msg}") from None
    refs: dict[str, set[str]] = {name: set() for name in NAMES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if (
                node.id not in NAMES
                and node.id not in FUNCTIONS
                and node.id
                not in (
                    "True",
                    "False",
                    "None",
                )
            ):
                raise ExpressionError(
                    f"unknown name {node.id!r} in {expression!r} "
                    "(use answers[...], scores[...], context[...] or "
                    f"{', '.join(sorted(FUNCTIONS))})"
                )
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"private attribute {node.attr!r} in {expression!r}")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id in NAMES:
                if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                    raise ExpressionError(
                        f"{node.value.id}[...] needs a quoted key in {expression!r}"
                    )
                refs[node.value.id].add(node.slice.value)
        elif isinstance(node, ast.Lambda | ast.ListComp | ast.DictComp | ast.SetComp):
            raise ExpressionError(f"comprehensions and lambdas are not allowed: {expression!r}")
    return References(
        answers=frozenset(refs["answers"]),
        scores=frozenset(refs["scores"]),
        context=frozenset(refs["context"]),
    )


@lru_cache(maxsize=1024)
def _parsed(expression: str) -> ast.AST:
    """The tree simpleeval parses ``expression`` (stripped) into, kept for the next evaluation.

    Flows have a few dozen expressions, each evaluated on many turns; parsing was about
    half the cost of an evaluation. simpleeval never modifies a parsed tree (it only reads
    it), so one tree serves every thread. A syntax error is raised, not cached. The cache
    is bounded, so expressions that are not from flow files cannot make it grow.
    """
    node: ast.AST = EvalWithCompoundTypes.parse(expression)
    return node


def evaluate(
    expression: str,
    *,
    answers: Mapping[str, object],
    scores: Mapping[str, object] | None = None,
    context: Mapping[str, object] | None = None,
) -> object:
    """Evaluate ``expression``; a missing value propagates as ``None`` or a ``TypeError``."""
    evaluator = EvalWithCompoundTypes(
        names={
            "answers": _Missing(answers),
            "scores": _Missing(scores or {}),
            "context": _Missing(context or {}),
        },
        functions=_EVAL_FUNCTIONS,
    )
    source = expression.strip()
    try:
        return evaluator.eval(source, previously_parsed=_parsed(source))
    except InvalidExpression as exc:
        raise ExpressionError(str(exc)) from None


def holds(
    expression: str,
    *,
    answers: Mapping[str, object],
    scores: Mapping[str, object] | None = None,
    context: Mapping[str, object] | None = None,
) -> bool:
    """Decide a condition; undecidable because of missing data means false."""
    try:
        return bool(evaluate(expression, answers=answers, scores=scores, context=context))
    except (TypeError, KeyError, AttributeError, ZeroDivisionError):
        return False
