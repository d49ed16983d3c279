"""Parsing what a client typed: table tests and properties over any text at all."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cm_bot.engine.answers import (
    AMBIGUOUS,
    CHOOSE_ONE,
    CHOOSE_SOME,
    WHOLE_NUMBER,
    YES_OR_NO,
    Accepted,
    Rejected,
    Skip,
    fold,
    label_of,
    match_option,
    normalise,
    parse_int,
    parse_text,
    utf16_length,
    wants_to_skip,
    yes_no,
)
from cm_bot.flows import load_flows
from cm_bot.flows.schema import (
    ChoiceStep,
    DateStep,
    IntegerStep,
    MessageStep,
    Option,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)

FLOWS = Path(__file__).parents[1] / "data" / "flows"
INTAKE = load_flows(FLOWS).get("intake")
STEPS: list[QuestionStep] = [s for s in INTAKE.steps if not isinstance(s, MessageStep)]
PROPERTY = settings(max_examples=200, deadline=None)
ASCII_DIGITS = frozenset("0123456789")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _identity(message: str) -> str:
    return message


def _label(option: Option) -> str:
    return label_of(option, _identity)


def _step(key: str) -> QuestionStep:
    return next(s for s in STEPS if s.key == key)


def _choice(*labels: str, multiple: bool = False) -> ChoiceStep:
    """A choice step with these labels, valued by their position (1, 2, ...)."""
    options = [Option(value=i, label=label) for i, label in enumerate(labels, 1)]
    return ChoiceStep(
        id="pick", type="choice", key="test.pick", text="Pick", options=options, multiple=multiple
    )


def _parse(step: QuestionStep, text: str, *, skip: bool = False) -> object:
    """What ``parse_text`` gives, as the value, or the reason, or ``Skip()``."""
    outcome = parse_text(step, text, _identity, _label, skip=skip)
    return outcome.value if isinstance(outcome, Accepted) else outcome


def test_the_intake_flow_has_every_question_type() -> None:
    kinds = {type(s) for s in STEPS}
    assert kinds == {ChoiceStep, YesNoStep, ScaleStep, IntegerStep, TextStep, DateStep}
    assert any(isinstance(s, ChoiceStep) and s.multiple for s in STEPS)
    assert any(isinstance(s, ChoiceStep) and not s.multiple for s in STEPS)


# -- parse_int: a table of what real people type ---------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("\t42\n", 42),
        ("+3", 3),
        ("-3", -3),
        ("007", 7),
        ("0", 0),
        ("999999999", 999_999_999),
        # NFKC folds these to ASCII digits, and the docstring says NFKC comes first.
        ("²", 2),
        ("５", 5),
        ("１２", 12),
        ("𝟕", 7),
        ("\u00a07\u3000", 7),  # no-break space and ideographic space are trimmed
        ("\u200b7\u200b", 7),  # zero-width spaces are removed
        ("\u202e7", 7),  # a bidi override is removed
    ],
)
def test_parse_int_accepts_ascii_digits_after_nfkc_and_trim(typed: str, expected: int) -> None:
    assert parse_int(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "٣",  # Arabic-Indic three: int() takes it, we do not
        "۳",  # extended Arabic-Indic three
        "३",  # Devanagari three
        "٣٣",
        "1e309",  # float() makes this inf
        "1e3",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "1_000",  # int() takes underscores
        "0x10",
        "0o7",
        "0b1",
        "1.0",
        "7.5",
        "1,000",
        "1 000",
        "3 4",
        "- 3",
        "+-3",
        "--3",
        "\u22123",  # a real minus sign is not NFKC-folded to "-"
        "½",
        "Ⅻ",
        "seven",
        "5 people",
        "about 5",
        "10/10",
        "7\x00",
        "1234567890",  # more than nine digits
        "9" * 5000,
    ],
)
def test_parse_int_rejects_everything_else(typed: str) -> None:
    assert parse_int(typed) is None


@given(st.integers(min_value=-999_999_999, max_value=999_999_999))
@PROPERTY
def test_parse_int_reads_back_every_number_it_allows(number: int) -> None:
    assert parse_int(str(number)) == number
    assert parse_int(f"  {number}\n") == number


@given(st.integers(min_value=0, max_value=999_999_999))
@PROPERTY
def test_parse_int_reads_full_width_digits_as_their_ascii_twins(number: int) -> None:
    full_width = "".join(chr(ord("０") + int(d)) for d in str(number))
    assert parse_int(full_width) == number


@given(st.text())
@PROPERTY
@example("1e309")
@example("nan")
@example("٣")
@example("1_000")
def test_parse_int_returns_a_number_only_for_ascii_digits(text: str) -> None:
    result = parse_int(text)
    if result is None:
        return
    assert isinstance(result, int) and not isinstance(result, bool)
    digits = normalise(text).lstrip("+-")
    assert digits and set(digits) <= ASCII_DIGITS
    assert abs(result) < 10**9


def _unfolded_digit(char: str) -> bool:
    """A Unicode decimal digit that NFKC does not turn into an ASCII one."""
    return not set(unicodedata.normalize("NFKC", char)) & ASCII_DIGITS


@given(
    st.text(alphabet="0123456789", max_size=4),
    st.characters(categories=["Nd"]).filter(_unfolded_digit),
    st.text(alphabet="0123456789", max_size=4),
)
@PROPERTY
def test_parse_int_refuses_any_other_script_of_digits(
    before: str, foreign: str, after: str
) -> None:
    typed = before + foreign + after
    assert int(typed) is not None  # Python would take it ...
    assert parse_int(typed) is None  # ... we do not


# -- fold: the form typed words are compared in ----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("  NOT at all!! ", "not at all"),
        ("Not   at\tall", "not at all"),
        ("Sí", "si"),
        ("¡Sí!", "si"),
        ("Más de la mitad de los días", "mas de la mitad de los dias"),
        ("Don't know", "dont know"),
        ("Don’t  know", "dont know"),
        ("more-than-half", "more than half"),
        ("ТАК", "так"),
        ("п'ять", "пять"),
        ("пʼять", "пять"),
        ("Ｙｅｓ", "yes"),
        ("\u200bYes\u200b", "yes"),
        ("Straße", "strasse"),
        ("2.", "2"),
        ("?!…", ""),
    ],
)
def test_fold_ignores_case_accents_punctuation_and_spacing(typed: str, folded: str) -> None:
    assert fold(typed) == folded


@given(st.text())
@PROPERTY
def test_fold_is_stable(text: str) -> None:
    assert fold(fold(text)) == fold(text)


# -- choice: label or number, exactly, never a guess -----------------------------------------------


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("okay", "okay"),
        ("  OKAY!! ", "okay"),
        ("Okay.", "okay"),
        ("2", "okay"),
        (" 2. ", "okay"),
        ("2)", "okay"),
        ("02", "okay"),
        ("３", "bad"),
    ],
)
def test_a_choice_takes_its_label_however_typed_or_its_number(typed: str, value: str) -> None:
    assert _parse(_step("intake.mood"), typed) == value


@pytest.mark.parametrize(
    "typed", ["o", "ok", "goo", "good bad", "good, bad", "0", "4", "-2", "#2", "two", ""]
)
def test_a_choice_refuses_prefixes_and_anything_else_shortly(typed: str) -> None:
    assert _parse(_step("intake.mood"), typed) == Rejected(CHOOSE_ONE)


@pytest.mark.parametrize(
    ("labels", "typed"),
    [
        (("Café", "Cafe"), "cafe"),  # the same after folding
        (("Often", "often!"), "OFTEN"),
        (("Don't know", "Dont know"), "dont know"),
    ],
)
def test_text_that_fits_two_options_is_refused_as_ambiguous(
    labels: tuple[str, ...], typed: str
) -> None:
    step = _choice(*labels, "Never")
    assert _parse(step, typed) == Rejected(AMBIGUOUS)
    assert match_option(step, typed, _label) is None
    assert _parse(step, "never") == 3  # the rest still work, by label and number
    assert _parse(step, "1") == 1


def test_a_translation_that_matches_another_options_english_label_is_ambiguous() -> None:
    step = _choice("Often", "Sometimes")

    def spanish(message: str) -> str:
        return {"Often": "A veces", "Sometimes": "Often"}.get(message, message)

    outcome = parse_text(step, "often", spanish, lambda o: label_of(o, spanish))
    assert outcome == Rejected(AMBIGUOUS)


def test_when_labels_are_numbers_a_typed_number_is_the_label_not_the_position() -> None:
    minutes = _choice("0", "10", "20", "150 or greater")
    assert _parse(minutes, "10") == 2  # 10 minutes, not the 10th option
    assert _parse(minutes, "0") == 1
    assert _parse(minutes, "1") == Rejected(CHOOSE_ONE)  # never read as "the first"
    assert _parse(minutes, "3") == Rejected(CHOOSE_ONE)
    assert _parse(minutes, "150 or greater") == 4


@pytest.mark.parametrize(
    ("typed", "value"), [("y", "yes"), ("Sí", "yes"), ("так", "yes"), ("nope", "no"), ("ні", "no")]
)
def test_options_labelled_yes_and_no_take_the_yes_and_no_words(typed: str, value: str) -> None:
    step = ChoiceStep(
        id="pick",
        type="choice",
        key="test.pick",
        text="Pick",
        options=[Option(value="yes", label="Yes"), Option(value="no", label="No")],
    )
    assert _parse(step, typed) == value


# -- multiple choice -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("1, 2", ["mold", "pests"]),
        ("2,1", ["mold", "pests"]),
        ("mold, pests", ["mold", "pests"]),
        ("  PESTS!; Mold ", ["mold", "pests"]),
        ("1,,2,", ["mold", "pests"]),
        ("2, 2", ["pests"]),
        ("3", ["none"]),
        ("None of these.", ["none"]),
    ],
)
def test_a_multiple_choice_takes_labels_or_numbers_separated_by_commas(
    typed: str, values: list[str]
) -> None:
    assert _parse(_step("intake.housing"), typed) == values


@pytest.mark.parametrize("typed", ["mold pests", "1 2", "1, 4", "mold, rats", "mo, pests"])
def test_a_multiple_choice_refuses_a_piece_that_is_no_option(typed: str) -> None:
    assert _parse(_step("intake.housing"), typed) == Rejected(CHOOSE_SOME)


def test_a_multiple_choice_reads_a_label_that_holds_commas_whole() -> None:
    step = _choice(
        "Pests such as bugs, ants, or mice", "Mold", "Power, gas or water", multiple=True
    )
    assert _parse(step, "pests such as bugs, ants, or mice") == [1]
    assert _parse(step, "Mold, Pests such as bugs, ants, or mice") == [1, 2]
    assert _parse(step, "power, gas or water; 2") == [2, 3]
    assert _parse(step, "pests such as bugs") == Rejected(CHOOSE_SOME)


def test_a_multiple_choice_with_two_readings_is_ambiguous() -> None:
    step = _choice("Gas", "Water", "Gas, water", multiple=True)
    assert _parse(step, "gas, water") == Rejected(AMBIGUOUS)  # options 1 and 2, or option 3?
    assert _parse(step, "1, 2") == [1, 2]
    assert _parse(step, "3") == [3]


# -- yes/no ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["yes", "Yes!", " YES ", "y", "yeah", "yep", "sí", "Si", "так", "Так.", "да", "ага", "1"],
)
def test_yes_is_typed_in_any_of_the_clients_languages(typed: str) -> None:
    assert _parse(_step("intake.safe"), typed) is True


@pytest.mark.parametrize("typed", ["no", "No.", "n", "nope", "ні", "НІ!", "нет", "2"])
def test_no_is_typed_in_any_of_the_clients_languages(typed: str) -> None:
    assert _parse(_step("intake.safe"), typed) is False


@pytest.mark.parametrize(
    "typed", ["ok", "okay", "sure", "nah", "yes no", "yess", "та", "не", "0", "3", "maybe", ""]
)
def test_anything_else_at_a_yes_no_question_is_refused(typed: str) -> None:
    assert _parse(_step("intake.safe"), typed) == Rejected(YES_OR_NO)


def test_the_translated_button_labels_are_yes_and_no_too() -> None:
    def french(message: str) -> str:
        return {"Yes": "Oui", "No": "Non"}.get(message, message)

    assert yes_no("OUI", french) is True
    assert yes_no("non", french) is False
    assert yes_no("oui", _identity) is None


def test_a_word_that_would_be_both_yes_and_no_is_neither() -> None:
    def odd(message: str) -> str:
        return {"Yes": "no"}.get(message, message)

    assert yes_no("no", odd) is None
    assert yes_no("yes", odd) is True


# -- skip ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["skip", "Skip!", " SKIP ", "Skip this question", "saltar", "omitir", "Пропустити"]
)
def test_a_skip_word_skips_a_skippable_question(typed: str) -> None:
    notes = _step("intake.notes")
    assert notes.skippable
    assert _parse(notes, typed, skip=True) == Skip()


def test_a_skip_word_is_an_answer_when_the_caller_does_not_handle_skip() -> None:
    assert _parse(_step("intake.notes"), "skip") == "skip"


def test_a_skip_word_does_not_skip_a_question_that_cannot_be_skipped() -> None:
    mood = _step("intake.mood")
    assert not mood.skippable
    assert _parse(mood, "skip", skip=True) == Rejected(CHOOSE_ONE)


def test_the_locales_own_word_for_skip_skips() -> None:
    def french(message: str) -> str:
        return {"skip": "passer"}.get(message, message)

    assert wants_to_skip("Passer", french)
    assert not wants_to_skip("passer", _identity)
    assert not wants_to_skip("skipping", _identity)


# -- reasons: short, and each makes sense without the question -------------------------------------


@pytest.mark.parametrize(
    ("key", "typed", "reason"),
    [
        ("intake.mood", "great", CHOOSE_ONE),
        ("intake.housing", "damp", CHOOSE_SOME),
        ("intake.safe", "maybe", YES_OR_NO),
        ("intake.worry", "11", WHOLE_NUMBER.format(low=0, high=10)),
        ("intake.people", "-1", WHOLE_NUMBER.format(low=0, high=20)),
    ],
)
def test_a_refusal_says_shortly_what_is_accepted(key: str, typed: str, reason: str) -> None:
    assert _parse(_step(key), typed) == Rejected(reason)


# -- utf16_length ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("", 0),
        ("abc", 3),
        ("é", 1),
        ("e\u0301", 2),
        ("Привіт", 6),
        ("😀", 2),
        ("😀" * 5000, 10000),
        ("👩‍👩‍👧", 8),
    ],
)
def test_utf16_length_counts_as_telegram_does(text: str, units: int) -> None:
    assert utf16_length(text) == units


@given(st.text())
@PROPERTY
def test_utf16_length_is_length_plus_one_per_astral_character(text: str) -> None:
    astral = sum(1 for c in text if ord(c) > 0xFFFF)
    assert utf16_length(text) == len(text) + astral


# -- parse_text on every step type: never raises, accepts only what fits ---------------------------


def _check_accepted(step: QuestionStep, value: object) -> None:
    if isinstance(step, ChoiceStep):
        values = [o.value for o in step.options]
        if not step.multiple:
            assert value in values
            return
        assert isinstance(value, list) and value
        assert len(set(value)) == len(value)
        assert all(v in values for v in value)
        assert value == sorted(value, key=values.index)
        exclusive = {o.value for o in step.options if o.exclusive}
        assert len(value) == 1 or not exclusive & set(value)
    elif isinstance(step, YesNoStep):
        assert value is True or value is False
    elif isinstance(step, ScaleStep | IntegerStep):
        assert isinstance(value, int) and not isinstance(value, bool)
        assert step.min <= value <= step.max
    elif isinstance(step, TextStep):
        assert isinstance(value, str)
        assert normalise(value)
        assert value == value.strip()
        assert not CONTROL.search(value)
        assert utf16_length(value) <= step.max_length
    else:
        assert isinstance(step, DateStep)
        assert isinstance(value, str)
        parsed = dt.date.fromisoformat(value)
        assert value == parsed.isoformat()
        if step.past_only:
            assert parsed <= dt.datetime.now(dt.UTC).date()
        if step.future_only:
            assert parsed >= dt.datetime.now(dt.UTC).date()
        if step.not_before:
            assert parsed >= step.not_before
        if step.not_after:
            assert parsed <= step.not_after


def _check(step: QuestionStep, text: str) -> None:
    outcome = parse_text(step, text, _identity, _label)
    if isinstance(outcome, Rejected):
        assert isinstance(outcome.reason, str) and outcome.reason.strip()
    else:
        assert isinstance(outcome, Accepted)
        _check_accepted(step, outcome.value)
    skippable = parse_text(step, text, _identity, _label, skip=True)
    if step.skippable and wants_to_skip(text, _identity):
        assert skippable == Skip()
    else:
        assert skippable == outcome


# Mostly-plausible answers, so the accepting side is exercised as well as the refusing one.
_PLAUSIBLE = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 +-.,;/", max_size=12),
    st.sampled_from(
        [
            *["Good", "okay", "3", "yes", "No", "y", "Mold, Pests", "1,3", "None of these", "2,2"],
            *["  GOOD!! ", "2.", "sí", "так", "skip", "Skip this question", "пропустити"],
        ]
    ),
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%d.%m.%Y")),
    st.lists(
        st.sampled_from(["1", "2", "3", "mold", "pests", "none of these", " "]), max_size=4
    ).map(", ".join),
    st.text(min_size=190, max_size=210),
)


@pytest.mark.parametrize("step", STEPS, ids=[s.key for s in STEPS])
@given(text=_PLAUSIBLE)
@PROPERTY
def test_parse_text_never_raises_and_accepts_only_valid_values(
    step: QuestionStep, text: str
) -> None:
    _check(step, text)


@pytest.mark.parametrize("step", STEPS, ids=[s.key for s in STEPS])
@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00", "😀" * 5000, "x" * 10_000, "\u200b", "٣", "1e309", "nan", "31.02.2024"],
)
def test_parse_text_handles_hostile_input_on_every_step(step: QuestionStep, text: str) -> None:
    _check(step, text)


@pytest.mark.parametrize("text", ["a\ud800", "\udcff"])
def test_parse_text_on_a_text_step_survives_a_lone_surrogate(text: str) -> None:
    notes = next(s for s in STEPS if isinstance(s, TextStep))
    _check(notes, text)
