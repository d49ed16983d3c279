"""Typed answers as people type them, in each language the bot speaks (issue 13).

Each row is one scenario: a client who reads the bot in English, Spanish or Ukrainian types
something at a question, and the row says what is stored, that the question is skipped, or
that the answer is refused and with which short reason. The questions are the shipped ones
from ``conversations/`` and the words come from the shipped catalogues in ``locales/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cm_bot.engine.answers import (
    AMBIGUOUS,
    CHOOSE_ONE,
    CHOOSE_SOME,
    WHOLE_NUMBER,
    YES_OR_NO,
    Accepted,
    Outcome,
    Rejected,
    Skip,
    label_of,
    parse_text,
)
from cm_bot.flows import load_flow, load_flows
from cm_bot.flows.schema import ChoiceStep, MessageStep, Option, QuestionStep, YesNoStep
from cm_bot.i18n import Translator

ROOT = Path(__file__).parents[2]
TRANSLATOR = Translator(ROOT / "locales")
LANGUAGES = {"en": "English", "es": "Spanish", "uk": "Ukrainian"}


def _shipped(file: str, step_id: str) -> QuestionStep:
    step = load_flow(ROOT / "conversations" / file).step(step_id)
    assert not isinstance(step, MessageStep)
    return step


# Where the client is when they type, named as the scenario says it.
QUESTIONS: dict[str, QuestionStep] = {
    "a yes/no question": _shipped("goal_checkin.yaml", "contact"),
    # exit_followup v3 asks housing as AHC item 1 (a choice); a yes/no one stands in.
    "a skippable yes/no question": YesNoStep(
        id="steady",
        type="yesno",
        key="test.steady",
        skippable=True,
        text="Do you have a steady place to live right now?",
    ),
    "PHQ item 1": _shipped("screening_phq.yaml", "phq2_q1"),
    "the skippable PHQ item 10": _shipped("screening_phq.yaml", "phq9_q10"),
    "the goal progress scale (0-10)": _shipped("goal_checkin.yaml", "progress"),
    "the skippable exercise days scale (0-7)": _shipped(
        "screening_ahc_supplemental.yaml", "ahc_q17"
    ),
    "the exercise minutes question (0, 10, ... 150 or greater)": _shipped(
        "screening_ahc_supplemental.yaml", "ahc_q18"
    ),
    "the housing problems question (all that apply)": _shipped("screening_ahc.yaml", "ahc_q2"),
    "a question with look-alike options Café and Cafe": ChoiceStep(
        id="drink",
        type="choice",
        key="test.drink",
        text="Where shall we meet?",
        options=[Option(value="cafe_1", label="Café"), Option(value="cafe_2", label="Cafe")],
    ),
}


@dataclass(frozen=True)
class Refused:
    """Refused, with this reason (a msgid; ``low``/``high`` fill a number range)."""

    msgid: str
    low: int | None = None
    high: int | None = None

    def reason(self, locale: str) -> str:
        text = TRANSLATOR.gettext(locale, self.msgid)
        return text if self.low is None else text.format(low=self.low, high=self.high)

    def __str__(self) -> str:
        return f"refused: {self.msgid.format(low=self.low, high=self.high)}"


SKIPPED = Skip()
Expected = Any  # a stored value, SKIPPED, or Refused(...)


def scenario(locale: str, typed: str, at: str, gives: Expected) -> Any:
    """One row, with an id that reads as the scenario."""
    assert at in QUESTIONS, at
    said = "skipped" if gives == SKIPPED else str(gives)
    name = f"{LANGUAGES[locale]} client types {typed!r} at {at} -> {said}"
    return pytest.param(locale, typed, at, gives, id=name)


ROWS = [
    # -- yes/no: yes and no in the words people use, whichever language they read the bot in
    scenario("en", "yes", "a yes/no question", True),
    scenario("en", "Y", "a yes/no question", True),
    scenario("en", "yeah!", "a yes/no question", True),
    scenario("en", "yep", "a yes/no question", True),
    scenario("en", "No.", "a yes/no question", False),
    scenario("en", "nope", "a yes/no question", False),
    scenario("en", "sí", "a yes/no question", True),
    scenario("en", "1", "a yes/no question", True),
    scenario("en", "2", "a yes/no question", False),
    scenario("en", "ok", "a yes/no question", Refused(YES_OR_NO)),
    scenario("en", "maybe", "a yes/no question", Refused(YES_OR_NO)),
    scenario("en", "skip", "a yes/no question", Refused(YES_OR_NO)),
    scenario("es", "sí", "a yes/no question", True),
    scenario("es", "Si", "a yes/no question", True),
    scenario("es", "¡SÍ!", "a yes/no question", True),
    scenario("es", "no", "a yes/no question", False),
    scenario("es", "yes", "a yes/no question", True),
    scenario("es", "да", "a yes/no question", True),
    scenario("es", "vale", "a yes/no question", Refused(YES_OR_NO)),
    scenario("es", "claro", "a yes/no question", Refused(YES_OR_NO)),
    scenario("uk", "так", "a yes/no question", True),
    scenario("uk", "Так!", "a yes/no question", True),
    scenario("uk", "ага", "a yes/no question", True),
    scenario("uk", "да", "a yes/no question", True),
    scenario("uk", "ні", "a yes/no question", False),
    scenario("uk", "НІ.", "a yes/no question", False),
    scenario("uk", "нет", "a yes/no question", False),
    scenario("uk", "no", "a yes/no question", False),
    scenario("uk", "та", "a yes/no question", Refused(YES_OR_NO)),
    scenario("uk", "ок", "a yes/no question", Refused(YES_OR_NO)),
    # -- a choice: its label in the client's language or in English, however typed, or its number
    scenario("en", "not at all", "PHQ item 1", 0),
    scenario("en", "  NOT at all!! ", "PHQ item 1", 0),
    scenario("en", "several days", "PHQ item 1", 1),
    scenario("en", "3", "PHQ item 1", 2),
    scenario("en", "4.", "PHQ item 1", 3),
    scenario("en", "5", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("en", "not", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("en", "never", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("en", "nearly", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("es", "Ningún día", "PHQ item 1", 0),
    scenario("es", "ningun dia", "PHQ item 1", 0),
    scenario("es", "varios dias", "PHQ item 1", 1),
    scenario("es", "MÁS DE LA MITAD DE LOS DÍAS", "PHQ item 1", 2),
    scenario("es", "casi todos los dias.", "PHQ item 1", 3),
    scenario("es", "Nearly every day", "PHQ item 1", 3),
    scenario("es", "2", "PHQ item 1", 1),
    scenario("es", "nunca", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("es", "casi", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("uk", "жодного разу", "PHQ item 1", 0),
    scenario("uk", "Кілька днів.", "PHQ item 1", 1),
    scenario("uk", "більше половини днів", "PHQ item 1", 2),
    scenario("uk", "Майже кожен день!", "PHQ item 1", 3),
    scenario("uk", "1", "PHQ item 1", 0),
    scenario("uk", "кожен день", "PHQ item 1", Refused(CHOOSE_ONE)),
    # -- skip: where the question can be skipped, and only there
    scenario("en", "skip", "the skippable PHQ item 10", SKIPPED),
    scenario("en", "Skip!", "the skippable PHQ item 10", SKIPPED),
    scenario("en", "skip this question", "the skippable PHQ item 10", SKIPPED),
    scenario("en", "somewhat difficult", "the skippable PHQ item 10", 1),
    scenario("en", "skip", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("en", "skip", "a skippable yes/no question", SKIPPED),
    scenario("en", "skip", "the housing problems question (all that apply)", SKIPPED),
    scenario("es", "saltar", "the skippable PHQ item 10", SKIPPED),
    scenario("es", "Omitir", "the skippable PHQ item 10", SKIPPED),
    scenario("es", "Saltar esta pregunta", "the skippable PHQ item 10", SKIPPED),
    scenario("es", "skip", "the skippable PHQ item 10", SKIPPED),
    scenario("es", "un poco dificil", "the skippable PHQ item 10", 1),
    scenario("es", "saltar", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("es", "omitir", "a skippable yes/no question", SKIPPED),
    scenario("es", "saltar", "the skippable exercise days scale (0-7)", SKIPPED),
    scenario("uk", "пропустити", "the skippable PHQ item 10", SKIPPED),
    scenario("uk", "Пропустити запитання", "the skippable PHQ item 10", SKIPPED),
    scenario("uk", "пропустить", "the skippable PHQ item 10", SKIPPED),
    scenario("uk", "skip", "the skippable PHQ item 10", SKIPPED),
    scenario("uk", "дещо складно", "the skippable PHQ item 10", 1),
    scenario("uk", "пропустити", "PHQ item 1", Refused(CHOOSE_ONE)),
    scenario("uk", "ні", "a skippable yes/no question", False),
    scenario("uk", "пропустити", "the goal progress scale (0-10)", Refused(WHOLE_NUMBER, 0, 10)),
    # -- numbers: whole numbers in range, ASCII digits (after NFKC)
    scenario("en", "7", "the goal progress scale (0-10)", 7),
    scenario("en", " 10 ", "the goal progress scale (0-10)", 10),
    scenario("en", "11", "the goal progress scale (0-10)", Refused(WHOLE_NUMBER, 0, 10)),
    scenario("en", "seven", "the goal progress scale (0-10)", Refused(WHOLE_NUMBER, 0, 10)),
    scenario("en", "7.5", "the goal progress scale (0-10)", Refused(WHOLE_NUMBER, 0, 10)),
    scenario("es", "siete", "the goal progress scale (0-10)", Refused(WHOLE_NUMBER, 0, 10)),
    scenario("es", "0", "the goal progress scale (0-10)", 0),
    scenario("uk", "５", "the goal progress scale (0-10)", 5),
    scenario("uk", "3", "the skippable exercise days scale (0-7)", 3),
    scenario("uk", "8", "the skippable exercise days scale (0-7)", Refused(WHOLE_NUMBER, 0, 7)),
    # -- options that are numbers: "10" is ten minutes, never the tenth option
    scenario("en", "10", "the exercise minutes question (0, 10, ... 150 or greater)", 10),
    scenario("en", "0", "the exercise minutes question (0, 10, ... 150 or greater)", 0),
    scenario(
        "en",
        "1",
        "the exercise minutes question (0, 10, ... 150 or greater)",
        Refused(CHOOSE_ONE),
    ),
    scenario(
        "en", "150 or greater", "the exercise minutes question (0, 10, ... 150 or greater)", 150
    ),
    scenario("es", "150 o más", "the exercise minutes question (0, 10, ... 150 or greater)", 150),
    scenario("uk", "30", "the exercise minutes question (0, 10, ... 150 or greater)", 30),
    scenario(
        "uk", "150 або більше", "the exercise minutes question (0, 10, ... 150 or greater)", 150
    ),
    # -- all that apply: numbers or labels, separated by commas
    scenario("en", "1, 2", "the housing problems question (all that apply)", ["pests", "mold"]),
    scenario(
        "en",
        "mold, pests such as bugs, ants, or mice",
        "the housing problems question (all that apply)",
        ["pests", "mold"],
    ),
    scenario("en", "1 2", "the housing problems question (all that apply)", Refused(CHOOSE_SOME)),
    scenario("en", "none of the above", "the housing problems question (all that apply)", ["none"]),
    scenario(
        "es", "moho; 7", "the housing problems question (all that apply)", ["mold", "water_leaks"]
    ),
    scenario(
        "es",
        "moho, humedad",
        "the housing problems question (all that apply)",
        Refused(CHOOSE_SOME),
    ),
    scenario(
        "uk", "Пліснява, 4", "the housing problems question (all that apply)", ["mold", "heat"]
    ),
    # -- never a guess between two options
    scenario("en", "cafe", "a question with look-alike options Café and Cafe", Refused(AMBIGUOUS)),
    scenario("es", "CAFÉ", "a question with look-alike options Café and Cafe", Refused(AMBIGUOUS)),
    scenario("uk", "Cafe!", "a question with look-alike options Café and Cafe", Refused(AMBIGUOUS)),
    scenario("uk", "2", "a question with look-alike options Café and Cafe", "cafe_2"),
]


def _typed(locale: str, step: QuestionStep, text: str) -> Outcome:
    """What the engine gets from ``parse_text`` for a client reading ``locale``."""

    def _(message: str) -> str:
        return TRANSLATOR.gettext(locale, message)

    return parse_text(step, text, _, lambda option: label_of(option, _), skip=True)


@pytest.mark.parametrize(("locale", "typed", "at", "gives"), ROWS)
def test_typed_answer(locale: str, typed: str, at: str, gives: Expected) -> None:
    outcome = _typed(locale, QUESTIONS[at], typed)
    if isinstance(gives, Refused):
        assert outcome == Rejected(gives.reason(locale))
    elif gives == SKIPPED:
        assert outcome == SKIPPED
    else:
        assert outcome == Accepted(gives)
        assert type(outcome.value) is type(gives)  # True is not 1


def test_every_row_names_a_language_the_bot_speaks() -> None:
    assert set(LANGUAGES) <= set(TRANSLATOR.locales)


# -- every shipped option can be typed, in every language, and never fits two options ------------

SHIPPED_CHOICES = [
    pytest.param(step, id=f"{flow.id}.{step.id}")
    for flow in load_flows(ROOT / "conversations")
    for step in flow.steps
    if isinstance(step, ChoiceStep)
]


@pytest.mark.parametrize("locale", sorted(LANGUAGES))
@pytest.mark.parametrize("step", SHIPPED_CHOICES)
def test_every_shipped_option_can_be_typed_by_its_label(locale: str, step: ChoiceStep) -> None:
    def _(message: str) -> str:
        return TRANSLATOR.gettext(locale, message)

    for option in step.options:
        wanted = [option.value] if step.multiple else option.value
        for typed in {label_of(option, _), option.label}:
            assert _typed(locale, step, typed) == Accepted(wanted), typed
            assert _typed(locale, step, f"  {typed.upper()}! ") == Accepted(wanted), typed
