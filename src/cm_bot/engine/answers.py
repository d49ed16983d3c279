"""Turning what a client typed into a valid answer, or a reason it is not one.

Parsing is explicit on purpose: Python's ``int()`` accepts ``"٣"``, ``"1_000"``
and ``float()`` accepts ``"nan"`` and ``"1e309"``. Here a number is ASCII digits
after NFKC normalisation and trimming, nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cm_bot.flows.schema import (
    ChoiceStep,
    DateStep,
    IntegerStep,
    Option,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")

Gettext = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid answer: the value to store."""

    value: Any


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not an answer to this question, with a kind sentence that says what is accepted."""

    reason: str


Outcome = Accepted | Rejected


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def normalise(text: str) -> str:
    """NFKC, without invisible or bidi controls, trimmed: the form used for matching."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).strip()


def parse_int(text: str) -> int | None:
    """A whole number written with ASCII digits (after NFKC and trim), else ``None``."""
    candidate = normalise(text)
    if not _INTEGER.fullmatch(candidate):
        return None
    return int(candidate)


def _fold(text: str) -> str:
    return " ".join(normalise(text).casefold().split())


def match_option(step: ChoiceStep, text: str, label: Callable[[Option], str]) -> Option | None:
    """The option whose (translated or English) label or 1-based position the client typed."""
    wanted = _fold(text)
    for option in step.options:
        if wanted in (_fold(label(option)), _fold(option.label)):
            return option
    number = parse_int(text)
    if number is not None and 1 <= number <= len(step.options):
        return step.options[number - 1]
    return None


def parse_text(
    step: QuestionStep, text: str, _: Gettext, label: Callable[[Option], str]
) -> Outcome:
    """Validate typed text against a question step."""
    if isinstance(step, ChoiceStep):
        return _choice(step, text, _, label)
    if isinstance(step, YesNoStep):
        return _yesno(text, _)
    if isinstance(step, ScaleStep | IntegerStep):
        return _number(step.min, step.max, text, _)
    if isinstance(step, TextStep):
        return _free_text(step, text, _)
    return _date(step, text, _)


def _choice(step: ChoiceStep, text: str, _: Gettext, label: Callable[[Option], str]) -> Outcome:
    if not step.multiple:
        option = match_option(step, text, label)
        if option is None:
            return Rejected(_("Please tap one of the buttons, or type its number."))
        return Accepted(option.value)
    picked: list[Option] = []
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        option = match_option(step, part, label)
        if option is None:
            return Rejected(
                _("Please tap the options that apply, or type their numbers separated by commas.")
            )
        if option not in picked:
            picked.append(option)
    return check_selection(step, picked, _)


def check_selection(step: ChoiceStep, picked: list[Option], _: Gettext) -> Outcome:
    """Validate a multi-select: at least one, and an exclusive option stands alone."""
    if not picked:
        return Rejected(_("Please choose at least one option."))
    if len(picked) > 1 and any(o.exclusive for o in picked):
        return Rejected(
            _("“{option}” cannot be combined with other options. Please choose again.").format(
                option=label_of(next(o for o in picked if o.exclusive), _)
            )
        )
    order = {id(o): i for i, o in enumerate(step.options)}
    return Accepted([o.value for o in sorted(picked, key=lambda o: order[id(o)])])


def label_of(option: Option, _: Gettext) -> str:
    r"""The option's label in the client's language.

    A label with a ``context`` is looked up under gettext's key for it,
    ``context + "\x04" + label`` (what ``pgettext`` looks up); untranslated, the
    English label is shown.
    """
    if option.context is None:
        return _(option.label)
    key = f"{option.context}\x04{option.label}"
    translated = _(key)
    return option.label if translated == key else translated


def _yesno(text: str, _: Gettext) -> Outcome:
    folded = _fold(text)
    yes = {_fold(_("Yes")), "yes", "y", "1"}
    no = {_fold(_("No")), "no", "n", "2"}
    if folded in yes:
        return Accepted(True)
    if folded in no:
        return Accepted(False)
    return Rejected(_("Please tap Yes or No."))


def _number(low: int, high: int, text: str, _: Gettext) -> Outcome:
    number = parse_int(text)
    if number is None or not low <= number <= high:
        return Rejected(
            _("Please send a whole number from {low} to {high}, using digits.").format(
                low=low, high=high
            )
        )
    return Accepted(number)


def _free_text(step: TextStep, text: str, _: Gettext) -> Outcome:
    cleaned = _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
    if not normalise(cleaned):
        return Rejected(_("Please type your answer as a message."))
    length = utf16_length(cleaned)
    if length > step.max_length:
        return Rejected(
            _(
                "That is a bit long for this question ({length} characters). "
                "Please keep it under {limit} characters."
            ).format(length=length, limit=step.max_length)
        )
    return Accepted(cleaned)


def _date(step: DateStep, text: str, _: Gettext, today: dt.date | None = None) -> Outcome:
    candidate = normalise(text)
    parsed: dt.date | None = None
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(candidate, fmt).date()  # noqa: DTZ007 - a calendar date
            break
        except ValueError:
            continue
    hint = _("Please send a date like 2025-03-31 (year-month-day).")
    if parsed is None:
        return Rejected(hint)
    today = today or dt.datetime.now(dt.UTC).date()
    if (step.past_only and parsed > today) or (step.future_only and parsed < today):
        return Rejected(_("That date is not possible for this question. ") + hint)
    if (step.not_before and parsed < step.not_before) or (
        step.not_after and parsed > step.not_after
    ):
        return Rejected(_("That date is not possible for this question. ") + hint)
    return Accepted(parsed.isoformat())


__all__ = [
    "Accepted",
    "Outcome",
    "Rejected",
    "check_selection",
    "label_of",
    "match_option",
    "normalise",
    "parse_int",
    "parse_text",
    "utf16_length",
]
