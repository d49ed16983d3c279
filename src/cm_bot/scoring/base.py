"""Shared pieces of the scorers: item specs, answer validation and band lookup.

Validation is strict on purpose (docs/instruments.md §0.2): a scorer must never guess, so a
wrong type or an unknown code makes the whole result invalid rather than being coerced.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Result = dict[str, object]
"""A JSON-serialisable scorer result (docs/instruments.md §0.1)."""


class UnknownInstrumentError(ValueError):
    """The instrument id is not one cm-bot scores (C-SSRS is deliberately absent: §5.5)."""


class InvalidAnswersError(ValueError):
    """Answers that must not be scored; the message names the offending item ids."""


class ItemSpec(Protocol):
    """What a valid answer to one item looks like."""

    def problem(self, value: object) -> str | None:
        """Say why ``value`` is not a valid answer, or return None if it is."""


def _shown(value: object) -> str:
    # Free text can be long (or personal): show only enough to find the bad answer.
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class IntItem:
    """An item answered with one integer from a fixed set (booleans and floats are not integers)."""

    values: tuple[int, ...]

    def problem(self, value: object) -> str | None:
        """Reject bools explicitly: ``True`` is an ``int`` in Python but not an answer (§0.2)."""
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.values:
            return f"expected {self._expected()}, got {_shown(value)}"
        return None

    def _expected(self) -> str:
        low, high = self.values[0], self.values[-1]
        if self.values == tuple(range(low, high + 1)):
            return f"an integer {low}-{high}"
        return "one of " + ", ".join(str(v) for v in self.values)


def int_range(low: int, high: int) -> IntItem:
    """An integer item with every value from ``low`` to ``high`` inclusive."""
    return IntItem(tuple(range(low, high + 1)))


@dataclass(frozen=True)
class ChoiceItem:
    """A single-choice item; ``positive`` holds the ★ (underlined/asterisked) codes."""

    codes: tuple[str, ...]
    positive: frozenset[str] = frozenset()

    def problem(self, value: object) -> str | None:
        """Only the documented option codes are answers."""
        if not isinstance(value, str) or value not in self.codes:
            return f"expected one of {', '.join(self.codes)}, got {_shown(value)}"
        return None


@dataclass(frozen=True)
class MultiChoiceItem:
    """A choose-all-that-apply item: a non-empty list of codes, ``exclusive`` only on its own."""

    codes: tuple[str, ...]
    exclusive: str

    def problem(self, value: object) -> str | None:
        """A list of known codes where the exclusive code ("none of the above") stands alone."""
        if not isinstance(value, list | tuple) or not value:
            return f"expected a non-empty list of {', '.join(self.codes)}, got {_shown(value)}"
        unknown = [code for code in value if not isinstance(code, str) or code not in self.codes]
        if unknown:
            return f"unknown option(s) {_shown(unknown)}; expected {', '.join(self.codes)}"
        if self.exclusive in value and any(code != self.exclusive for code in value):
            return f"{self.exclusive!r} cannot be combined with other options"
        return None


def read_answers(
    answers: Mapping[str, object],
    specs: Mapping[str, ItemSpec],
    required: Collection[str],
) -> dict[str, object]:
    """Pick this instrument's answered items out of ``answers``, or raise InvalidAnswersError.

    Keys that are not in ``specs`` are ignored so a flow can pass all of its answers. A value
    of None counts as not answered. Every problem is reported at once, in item order.
    """
    answered: dict[str, object] = {}
    problems: list[str] = []
    missing: list[str] = []
    for item_id, spec in specs.items():
        value = answers.get(item_id)
        if value is None:
            # docs/instruments.md §0.2: no prorating; a missing scored item is never taken as 0.
            if item_id in required:
                missing.append(item_id)
            continue
        problem = spec.problem(value)
        if problem is not None:
            problems.append(f"{item_id}: {problem}")
        else:
            answered[item_id] = value
    if missing:
        problems.insert(0, "missing " + ", ".join(missing))
    if problems:
        raise InvalidAnswersError("; ".join(problems))
    return answered


def band_for(score: int, bands: Sequence[tuple[int, str]]) -> str:
    """The band whose lower edge is the highest one not above ``score``.

    ``bands`` lists (lower edge, code) in ascending order and starts at the scale's minimum.
    """
    code = bands[0][1]
    for lower_edge, band in bands:
        if score >= lower_edge:
            code = band
    return code
