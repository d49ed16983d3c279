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
    Accepted,
    Rejected,
    label_of,
    normalise,
    parse_int,
    parse_text,
    utf16_length,
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


# Mostly-plausible answers, so the accepting side is exercised as well as the refusing one.
_PLAUSIBLE = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 +-.,;/", max_size=12),
    st.sampled_from(
        ["Good", "okay", "3", "yes", "No", "y", "Mold, Pests", "1,3", "3", "None of these", "2,2"]
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
