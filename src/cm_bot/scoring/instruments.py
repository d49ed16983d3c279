"""The scoring entry points: one registry from instrument id to its items and scorer.

Every instrument of docs/instruments.md is here except the C-SSRS, which is not shipped until its
licensing is settled (docs/instruments.md §5.5), so asking for it raises UnknownInstrumentError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from cm_bot.scoring.ahc import AHC_ITEMS, score_ahc
from cm_bot.scoring.base import InvalidAnswersError, Result, UnknownInstrumentError
from cm_bot.scoring.hvs import HVS_ITEMS, score_hvs
from cm_bot.scoring.likert import GAD2, GAD7, PHQ2, PHQ9, SumScale, score_sum_scale


@dataclass(frozen=True)
class _Instrument:
    item_ids: tuple[str, ...]
    scorer: Callable[[Mapping[str, object], int | None], Result]


def _ignoring_age(
    scorer: Callable[[Mapping[str, object]], Result],
) -> Callable[[Mapping[str, object], int | None], Result]:
    # Only the AHC physical-activity rule uses age (docs/instruments.md §1.6).
    return lambda answers, _age: scorer(answers)


def _sum_scale(scale: SumScale) -> _Instrument:
    return _Instrument(scale.item_ids, _ignoring_age(partial(score_sum_scale, scale)))


_REGISTRY: dict[str, _Instrument] = {
    "ahc": _Instrument(AHC_ITEMS, score_ahc),
    "gad2": _sum_scale(GAD2),
    "gad7": _sum_scale(GAD7),
    "hvs": _Instrument(HVS_ITEMS, _ignoring_age(score_hvs)),
    "phq2": _sum_scale(PHQ2),
    "phq9": _sum_scale(PHQ9),
}

INSTRUMENTS: tuple[str, ...] = tuple(sorted(_REGISTRY))
"""Ids of the instruments cm-bot can score."""


def _lookup(instrument: str) -> _Instrument:
    try:
        return _REGISTRY[instrument]
    except (KeyError, TypeError):
        known = ", ".join(INSTRUMENTS)
        raise UnknownInstrumentError(f"unknown instrument {instrument!r}; known: {known}") from None


def score(instrument: str, answers: Mapping[str, object], *, age: int | None = None) -> Result:
    """Score one instrument from answers keyed by item id (other keys are ignored).

    Args:
        instrument: One of INSTRUMENTS.
        answers: Item id to answer; None or an absent key means not answered.
        age: Age in years; only the AHC physical-activity rule reads it (adult rule if None).

    Returns:
        The JSON-serialisable fields of docs/instruments.md §0.1 plus ``instrument``; when the
        answers cannot be scored, only ``instrument``, ``valid: False`` and a ``reason``
        naming the items.

    Raises:
        UnknownInstrumentError: ``instrument`` is not one of INSTRUMENTS.
    """
    entry = _lookup(instrument)
    try:
        return entry.scorer(answers, age)
    except InvalidAnswersError as exc:
        # docs/instruments.md §0.1: an invalid result carries no other field and is not scored.
        return {"instrument": instrument, "valid": False, "reason": str(exc)}


def item_ids(instrument: str) -> tuple[str, ...]:
    """The item ids the instrument reads, scored and optional, so a flow knows what to ask.

    Raises:
        UnknownInstrumentError: ``instrument`` is not one of INSTRUMENTS.
    """
    return _lookup(instrument).item_ids
