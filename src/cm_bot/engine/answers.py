"""Turning what a client typed into a valid answer, or a reason it is not one.

Parsing is explicit on purpose: Python's ``int()`` accepts ``"٣"``, ``"1_000"``
and ``float()`` accepts ``"nan"`` and ``"1e309"``. Here a number is ASCII digits
after NFKC normalisation and trimming, nothing else.

Words are compared the way people type them (:func:`fold`): case, accents,
punctuation and spacing do not count, so ``"  NOT at all!! "`` is ``"Not at all"``
and ``"Si"`` is ``"Sí"``. Matching is exact after that: no prefixes, no guessing.

- **Choice**: the option's label (in the client's language or in English), its
  number as listed (``2``, ``2.`` or ``2)``), and, for an option labelled Yes or No,
  the yes and no words below. When an option's label is itself a number (minutes:
  ``0``, ``10``, ``20``), typed numbers are read as labels only, never as positions.
  Text that fits more than one option is refused with :data:`AMBIGUOUS`, never
  resolved. A multiple choice takes several, separated by commas or semicolons
  (``"1, 3"``, ``"mold; pests"``); a label that holds a comma is still read whole.
- **Yes/no**: the translated Yes/No button labels, ``1`` (Yes) and ``2`` (No),
  and in every locale, since a client may write in another language than the
  one they chose: :data:`YES_WORDS` (yes, y, yeah, yep; sí; так, ага; да) and
  :data:`NO_WORDS` (no, n, nope; ні; нет). "ok" is not a yes: it answers many
  things. Nothing is read as both.
- **Skip**: with ``skip=True`` and a skippable step, :data:`SKIP_WORDS` (skip;
  saltar, omitir; пропустити, пропустить), the locale's word for ``"skip"`` and
  the Skip button's label give :class:`Skip` (before any other reading). The
  caller does what the Skip button does. Without ``skip=True``, or on a step that
  is not skippable, they are read like any other text.

A refusal's reason is short and stands on its own: it is sent alone, with the
question's buttons, not before a copy of the question.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, overload

from cm_bot.domain.text import utf16_length, without_invisible
from cm_bot.domain.time import SYSTEM_CLOCK
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
from cm_bot.i18n.translator import N_, Gettext

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_POSITION = re.compile(r"([0-9]{1,9})[.)]?")  # "2", "2." or "2)" as in a numbered list
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_APOSTROPHES = re.compile("['\u2018\u2019\u02bc\u0060\u00b4]")  # don't = dont, п'ять = пять
_NOT_A_WORD = re.compile(r"[^\w\s]")
_SEPARATOR = re.compile(r"[,;]")
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")

# Typed in any locale (compared folded). Conservative: only words that cannot mean anything else.
YES_WORDS = ("yes", "y", "yeah", "yep", "sí", "так", "ага", "да")
NO_WORDS = ("no", "n", "nope", "ні", "нет")
SKIP_WORDS = ("skip", "saltar", "omitir", "пропустити", "пропустить")

# Translators: a word a client may type instead of tapping "Skip this question". One word,
# lowercase: the verb people would type to skip a question.
SKIP_WORD = N_("skip")
AMBIGUOUS = N_("That could mean more than one option. Please tap the one you mean.")
CHOOSE_ONE = N_("Please choose one of the options.")
CHOOSE_SOME = N_("Please choose the options that apply.")
CHOOSE_AT_LEAST_ONE = N_("Please choose at least one option.")
YES_OR_NO = N_("Please answer yes or no.")
WHOLE_NUMBER = N_("Please type a whole number from {low} to {high}.")


def _identity(message: str) -> str:
    return message


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid answer: the value to store."""

    value: Any


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not an answer to this question, with a short kind sentence that says what is accepted."""

    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """The client asked to skip this (skippable) question: store nothing, move on."""


Outcome = Accepted | Rejected | Skip


def normalise(text: str) -> str:
    """NFKC, without invisible or bidi controls, trimmed: the form used for matching."""
    return without_invisible(unicodedata.normalize("NFKC", text)).strip()


def fold(text: str) -> str:
    """The form typed words are compared in: no case, accents, punctuation or extra spaces.

    ``fold("  NOT at all!! ") == fold("Not at all")``, ``fold("Sí") == "si"``. Marks go
    in every script (й, ї lose theirs too); both sides are folded, so they still agree.
    """
    decomposed = unicodedata.normalize("NFKD", normalise(text).casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = " ".join(_NOT_A_WORD.sub(" ", _APOSTROPHES.sub("", bare)).split())
    # Text that arrived damaged (U+FFFD stands for bytes that were not valid) is never
    # read as a word: "yes" plus garbage is not a yes to a consent question.
    return folded + " \ufffd" if "\ufffd" in text else folded


def parse_int(text: str) -> int | None:
    """A whole number written with ASCII digits (after NFKC and trim), else ``None``."""
    candidate = normalise(text)
    if not _INTEGER.fullmatch(candidate):
        return None
    return int(candidate)


def _folded(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(f for f in map(fold, texts) if f)


def yes_no(text: str, _: Gettext) -> bool | None:
    """``True`` for a typed yes, ``False`` for a no (any locale's words), else ``None``."""
    typed = fold(text)
    is_yes = typed in _folded((*YES_WORDS, "Yes", _("Yes")))
    is_no = typed in _folded((*NO_WORDS, "No", _("No")))
    return is_yes if is_yes != is_no else None


def wants_to_skip(text: str, _: Gettext) -> bool:
    """Whether the text asks to skip the question (a skip word, or the Skip button's label)."""
    words = (*SKIP_WORDS, _(SKIP_WORD), "Skip this question", _("Skip this question"))
    return fold(text) in _folded(words)


class _Options:
    """How each option of a choice step may be typed, folded once per answer."""

    def __init__(self, step: ChoiceStep, label: Callable[[Option], str], _: Gettext) -> None:
        self.step = step
        self.names: dict[str, set[int]] = {}
        self.widest = 1  # the most comma-separated pieces one label spans
        yes = (*YES_WORDS, _("Yes"))
        no = (*NO_WORDS, _("No"))
        for index, option in enumerate(step.options):
            labels = (label(option), option.label)
            aliases = {"Yes": yes, "No": no}.get(option.label, ()) if not option.context else ()
            for name in _folded((*labels, *aliases)):
                self.names.setdefault(name, set()).add(index)
            self.widest = max(self.widest, *(len(_SEPARATOR.split(t)) for t in labels))
        # Labels that are numbers (minutes: 0, 10, 20) make a typed number mean the label.
        self.by_position = not any(name.isdecimal() for name in self.names)

    def matching(self, text: str) -> set[int]:
        """The indexes of every option the text names (by label, alias or number)."""
        found = set(self.names.get(fold(text), ()))
        position = _POSITION.fullmatch(normalise(text))
        if self.by_position and position and 1 <= int(position[1]) <= len(self.step.options):
            found.add(int(position[1]) - 1)
        return found


def match_option(
    step: ChoiceStep, text: str, label: Callable[[Option], str], _: Gettext | None = None
) -> Option | None:
    """The one option the text names (label, alias or 1-based number), else ``None``.

    ``None`` as well when it names more than one: nothing is guessed.
    """
    found = _Options(step, label, _ or _identity).matching(text)
    return step.options[found.pop()] if len(found) == 1 else None


@overload
def parse_text(
    step: QuestionStep,
    text: str,
    _: Gettext,
    label: Callable[[Option], str],
    *,
    today: dt.date | None = None,
) -> Accepted | Rejected: ...


@overload
def parse_text(
    step: QuestionStep,
    text: str,
    _: Gettext,
    label: Callable[[Option], str],
    *,
    skip: bool,
    today: dt.date | None = None,
) -> Outcome: ...


def parse_text(
    step: QuestionStep,
    text: str,
    _: Gettext,
    label: Callable[[Option], str],
    *,
    skip: bool = False,
    today: dt.date | None = None,
) -> Outcome:
    """Validate typed text against a question step.

    ``skip``: the caller handles :class:`Skip`, returned for a skip word on a skippable step.
    ``today`` (UTC) bounds past-only and future-only dates: the engine passes its
    transaction's day; without it, the wall clock's.
    """
    if skip and step.skippable and wants_to_skip(text, _):
        return Skip()
    if isinstance(step, ChoiceStep):
        options = _Options(step, label, _)
        return _choose_many(options, text, _) if step.multiple else _choose_one(options, text, _)
    if isinstance(step, YesNoStep):
        return _yes_or_no(text, _)
    if isinstance(step, ScaleStep | IntegerStep):
        return _number(step.min, step.max, text, _)
    if isinstance(step, TextStep):
        return _free_text(step, text, _)
    return _date(step, text, _, today)


def _choose_one(options: _Options, text: str, _: Gettext) -> Outcome:
    found = options.matching(text)
    if len(found) > 1:
        return Rejected(_(AMBIGUOUS))
    if not found:
        return Rejected(_(CHOOSE_ONE))
    return Accepted(options.step.options[found.pop()].value)


def _choose_many(options: _Options, text: str, _: Gettext) -> Outcome:
    """Several options separated by commas; a piece may span commas of a label that has them.

    ``readings[i]`` holds every set of options the pieces from ``i`` on can be read as. One
    reading is an answer; none is refused; two different ones (or a piece naming two options)
    would be a guess, and are refused as ambiguous.
    """
    pieces = _SEPARATOR.split(text)
    readings: list[set[frozenset[int]]] = [set() for _piece in pieces]
    readings.append({frozenset()})
    ambiguous = False
    for start in reversed(range(len(pieces))):
        if not fold(pieces[start]):  # "1,,3" and a trailing comma
            readings[start] = set(readings[start + 1])
            continue
        for end in range(start + 1, min(len(pieces), start + options.widest) + 1):
            found = options.matching(",".join(pieces[start:end]))
            ambiguous = ambiguous or len(found) > 1
            if len(found) == 1:
                readings[start] |= {rest | found for rest in readings[end]}
    if ambiguous or len(readings[0]) > 1:
        return Rejected(_(AMBIGUOUS))
    if not readings[0]:
        return Rejected(_(CHOOSE_SOME))
    return check_selection(options.step, [options.step.options[i] for i in readings[0].pop()], _)


def check_selection(step: ChoiceStep, picked: list[Option], _: Gettext) -> Outcome:
    """Validate a multi-select: at least one, and an exclusive option stands alone."""
    if not picked:
        return Rejected(_(CHOOSE_AT_LEAST_ONE))
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


def _yes_or_no(text: str, _: Gettext) -> Outcome:
    """Yes or no in words, or the number of its button (1 Yes, 2 No)."""
    answer = yes_no(text, _)
    position = _POSITION.fullmatch(normalise(text))
    if answer is None and position and int(position[1]) in (1, 2):
        answer = int(position[1]) == 1
    return Rejected(_(YES_OR_NO)) if answer is None else Accepted(answer)


def _number(low: int, high: int, text: str, _: Gettext) -> Outcome:
    number = parse_int(text)
    if number is None or not low <= number <= high:
        return Rejected(_(WHOLE_NUMBER).format(low=low, high=high))
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
    today = today or SYSTEM_CLOCK.now().date()
    if (step.past_only and parsed > today) or (step.future_only and parsed < today):
        return Rejected(_("That date is not possible for this question. ") + hint)
    if (step.not_before and parsed < step.not_before) or (
        step.not_after and parsed > step.not_after
    ):
        return Rejected(_("That date is not possible for this question. ") + hint)
    return Accepted(parsed.isoformat())


__all__ = [
    "AMBIGUOUS",
    "NO_WORDS",
    "SKIP_WORDS",
    "YES_WORDS",
    "Accepted",
    "Outcome",
    "Rejected",
    "Skip",
    "check_selection",
    "fold",
    "label_of",
    "match_option",
    "normalise",
    "parse_int",
    "parse_text",
    "utf16_length",
    "wants_to_skip",
    "yes_no",
]
