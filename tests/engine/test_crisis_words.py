"""'I am not safe' typed anywhere reaches a human at once, in every supported language.

The corpus in tests/data/crisis/ (one file per language, see the header of en.txt) holds
messages as clients type them that must match, and everyday messages that must not.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.engine.crisis import (
    DEFAULT,
    LOCALES,
    CrisisKind,
    CrisisMatch,
    CrisisWords,
    PhraseError,
    fold,
    mentions_crisis,
)
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag
from tests.support.people import make_client, texts

CORPUS = Path(__file__).parents[1] / "data" / "crisis"
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_KINDS = re.compile(r"\[([a-z_,]+)\] (.*)")


def _corpus() -> list[tuple[str, int, bool, frozenset[CrisisKind], str]]:
    """(language, line, must match, expected kinds, text) for every corpus line."""
    cases = []
    for language in LOCALES:
        section: bool | None = None
        path = CORPUS / f"{language}.txt"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() in ("# match", "# no match"):
                section = line.strip() == "# match"
                continue
            if not line.strip() or line.startswith("#"):
                continue
            assert section is not None, f"{path}:{number}: a line before '# match'"
            kinds = frozenset({CrisisKind.SELF_HARM})
            if marked := _KINDS.fullmatch(line):
                kinds = frozenset(CrisisKind(k) for k in marked[1].split(","))
                line = marked[2]
            text = _ESCAPE.sub(lambda m: chr(int(m[1], 16)), line)
            cases.append((language, number, section, kinds, text))
    return cases


CASES = _corpus()


@functools.cache
def _only(language: str) -> CrisisWords:
    return CrisisWords(locales=[language])


@pytest.mark.parametrize(
    ("language", "line", "must_match", "kinds", "text"),
    CASES,
    ids=[f"{c[0]}:{c[1]}" for c in CASES],
)
def test_corpus(
    language: str, line: int, must_match: bool, kinds: frozenset[CrisisKind], text: str
) -> None:
    match = DEFAULT.find(text)
    if must_match:
        assert match is not None, f"{language}.txt:{line} missed: {text!r}"
        assert match.kinds == kinds, f"{language}.txt:{line}: {match}"
        assert match.violence is (CrisisKind.VIOLENCE in kinds)
        assert mentions_crisis(text)
        # The language's own list is enough: a locale-restricted matcher finds it too.
        assert _only(language).find(text) is not None
    else:
        assert match is None, f"{language}.txt:{line} false alarm on {match.phrases}"
        assert not mentions_crisis(text)


@pytest.mark.parametrize("language", LOCALES)
def test_corpus_is_big_enough_in_every_language(language: str) -> None:
    lines = [c for c in CASES if c[0] == language]
    assert sum(c[2] for c in lines) >= 40
    assert sum(not c[2] for c in lines) >= 15
    assert any(CrisisKind.VIOLENCE in c[3] for c in lines if c[2])


# Everything the list before this rewrite caught still matches (it matched substrings).
OLD_LIST = (
    "kill myself", "killing myself", "suicide", "suicidal", "end my life", "end it all",
    "want to die", "wanna die", "better off dead", "hurt myself", "harm myself", "self harm",
    "self-harm", "cut myself", "not safe", "unsafe at home", "he will kill me",
    "she will kill me", "going to kill me", "overdose", "suicidio", "matarme",
    "quitarme la vida", "acabar con mi vida", "quiero morir", "no quiero vivir",
    "hacerme daño", "no estoy a salvo", "me va a matar", "самогубство", "вбити себе",
    "покінчити з собою", "не хочу жити", "хочу померти", "завдати собі шкоди",
    "я не в безпеці", "мене вб'ють", "мене вбʼють",
)  # fmt: skip


@pytest.mark.parametrize("phrase", OLD_LIST)
def test_everything_the_old_list_caught_still_matches(phrase: str) -> None:
    assert DEFAULT.find(f"so {phrase} ok") is not None


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ki\u200bll my\u200cself",  # zero-width inside words
        "ki\u00adll my\u2060self",  # soft hyphen, word joiner
        "\ufeff\u202ekill myself\u202c",  # BOM and bidi controls
        "kill\u2066 myself\u2069",
    ],
)
def test_invisible_characters_are_ignored(text: str) -> None:
    assert DEFAULT.find(text) is not None


@pytest.mark.parametrize("apostrophe", ["'", "’", "ʼ", "`", "´", "‘", "*", "ъ", ""])
def test_every_apostrophe_and_none(apostrophe: str) -> None:
    assert DEFAULT.find(f"я вб{apostrophe}ю себе") is not None
    assert DEFAULT.find(f"мене вб{apostrophe}ють") is not None
    if apostrophe != "ъ":  # typed for an apostrophe on a Russian keyboard, in Cyrillic only
        assert DEFAULT.find(f"I don{apostrophe}t want to live") is not None
        assert DEFAULT.find(f"he{apostrophe}ll kill me") is not None


def test_accents_and_diacritics_fold_the_same_way_on_both_sides() -> None:
    assert fold("Hacerme DAÑO") == fold("hacerme dano") == "hacerme dano"
    assert fold("ЇЖАК йод ёлка") == fold("ижак иод елка")
    assert fold("Suicídio") == "suicidio"
    assert DEFAULT.find("estaría mejor MUERTA") is not None
    assert DEFAULT.find("estaria mejor muerta") is not None
    assert DEFAULT.find("суїцид") == DEFAULT.find("суицид")


def test_punctuation_and_case_between_words_are_ignored() -> None:
    assert DEFAULT.find("KILL...MYSELF!!!") is not None
    assert DEFAULT.find("want-to-die") is not None
    assert DEFAULT.find("no\nquiero\tvivir") is not None


@pytest.mark.parametrize(
    "text", ["diiiiie wanna diiie", "kiiiill myseeeelf", "suuuuicidal", "хочу вмеееерти"]
)
def test_stretched_letters_collapse(text: str) -> None:
    assert DEFAULT.find(text) is not None


def test_latin_look_alikes_in_cyrillic_words() -> None:
    assert fold("нe xoчy жити") == fold("не хочу жити")
    assert DEFAULT.find("я нe в бeзпеці") is not None  # Latin e twice


def test_stems_match_word_starts_and_plain_words_match_whole_words() -> None:
    assert DEFAULT.find("killing myself") is not None
    assert DEFAULT.find("ending my life") is not None
    assert DEFAULT.find("skill myself") is None
    assert DEFAULT.find("overdue") is None  # overdos* is a stem of overdose, not overd*
    assert DEFAULT.find("kmsx") is None


def test_a_long_message_is_fast_and_still_matched() -> None:
    filler = "we talked about the rent and the bus pass and my son's school. " * 80
    assert len(filler) >= 5000
    started = time.perf_counter()
    assert DEFAULT.find(filler) is None
    assert DEFAULT.find(filler + " i want to end my life") is not None
    many = "i want to kill myself and he hits me " * 140  # hits everywhere
    match = DEFAULT.find(many)
    elapsed = time.perf_counter() - started
    assert match is not None and match.violence and CrisisKind.SELF_HARM in match.kinds
    assert elapsed < 0.5, f"{elapsed:.3f}s for three 5,000-character messages"


def test_phrases_are_reported_as_written_in_order_of_first_appearance() -> None:
    match = DEFAULT.find("he hits me. I don't want to live, I want to kill myself. he hits me")
    assert match is not None
    assert match.phrases[0].startswith("hit* me")
    assert match.phrases[1] == "dont|not want_to|wanna live"
    assert match.phrases[2] == "kill* myself"
    assert len(match.phrases) == len(set(match.phrases)) == 3
    assert match.kinds == {CrisisKind.SELF_HARM, CrisisKind.VIOLENCE} and match.violence


def test_empty_and_none_never_match() -> None:
    assert DEFAULT.find(None) is None
    assert DEFAULT.find("") is None
    assert DEFAULT.find(" \u200b ") is None
    assert not DEFAULT.matches(None) and not mentions_crisis("")


def test_match_is_a_frozen_value() -> None:
    match = CrisisMatch(kinds=frozenset({CrisisKind.VIOLENCE}), phrases=("not safe",))
    assert match.violence
    with pytest.raises(AttributeError):
        match.phrases = ()  # type: ignore[misc]


# -- a program's own words, locales -------------------------------------------------------


def test_extra_words_from_a_program() -> None:
    words = CrisisWords(extra={"en": ["my special phrase"]})
    match = words.find("this is My Speciaaal phrase!")
    assert match is not None and match.phrases == ("my special phrase",)
    assert match.kinds == {CrisisKind.SELF_HARM}
    assert DEFAULT.find("my special phrase") is None


def test_extra_violence_words_and_stems() -> None:
    words = CrisisWords(extra_violence={"uk": ["тримає* мене вдома"]})
    match = words.find("він тримає мене вдома")
    assert match is not None and match.violence and match.kinds == {CrisisKind.VIOLENCE}


def test_the_same_words_in_both_lists_have_both_kinds() -> None:
    words = CrisisWords(extra={"en": ["code red"]}, extra_violence={"en": ["code red"]})
    match = words.find("code red")
    assert match is not None and match.kinds == set(CrisisKind)
    assert words.kinds_of("code red") == set(CrisisKind)


def test_locales_restrict_to_those_lists_and_their_extras() -> None:
    english = CrisisWords(extra={"en": ["purple"], "es": ["morado"]}, locales=["en"])
    assert english.find("i want to die") is not None
    assert english.find("me quiero matar") is None
    assert english.find("purple") is not None
    assert english.find("morado") is None
    both = CrisisWords(locales={"es", "uk-UA"})
    assert both.find("me quiero matar") is not None and both.find("хочу вмерти") is not None
    assert both.find("i want to die") is None
    assert CrisisWords(extra={"pl": ["zabić się"]}, locales=["pl"]).find("chcę zabić się")


def test_a_locale_without_any_list_is_an_error() -> None:
    with pytest.raises(PhraseError, match="pl"):
        CrisisWords(locales=["pl"])


@pytest.mark.parametrize(
    "bad", ["", "..", "kill .. ", ".. me", "a* b", "!up", "x $ y", "<nobody> me", "a !"]
)
def test_unreadable_extra_phrases_are_rejected(bad: str) -> None:
    with pytest.raises(PhraseError):
        CrisisWords(extra={"en": [bad]})


def test_notation_gap_end_and_exclusions() -> None:
    words = CrisisWords(extra={"xx": ["red .. fox", "blue moon $", "green tea !please"]})
    assert words.find("red quick brown fox")
    assert not words.find("red a b c d fox")  # at most three words between
    assert words.find("once in a blue moon.")
    assert not words.find("blue moon tonight")
    assert words.find("green tea")
    assert not words.find("green tea please")


@pytest.mark.parametrize(
    "message",
    [
        "I want to KILL MYSELF",
        "i'm not safe",
        "suicide",
        "no estoy a salvo",
        "Quiero morir",
        "я не хочу жити",
        "думаю про самогубство",
        "kill\u200b myself",
    ],
)
def test_crisis_phrases_in_three_languages_match(message: str) -> None:
    assert mentions_crisis(message.replace("\u200b", "")) or mentions_crisis(message)


@pytest.mark.parametrize("message", ["I feel safe", "killed it at work", "2", "Good"])
def test_ordinary_messages_do_not_match(message: str) -> None:
    assert not mentions_crisis(message)


def _urgent(db: Engine) -> list[Flag]:
    with transaction(db) as session:
        return list(session.execute(select(Flag).where(Flag.rule_id == "crisis_words")).scalars())


def test_crisis_words_mid_question_give_resources_and_an_urgent_flag_and_keep_the_step(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No", "Good"):
        person.tap(label)
    replies = person.say("honestly I want to die")
    said = texts(replies)
    assert "911" in said and "988" in said  # the program's resources
    assert "How worried are you?" not in said  # paused: no next question, not even this one
    assert person.step() == "intake.worry"  # ... but the step stays where it was
    flags = _urgent(db)
    assert len(flags) == 1 and flags[0].severity == "urgent"
    assert flags[0].source_value is None  # no free text in the flag


def test_crisis_words_in_an_edited_message_are_caught(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    person.deliver(person.inbound(InboundKind.EDITED, text="actually I'm not safe at home"))
    assert len(_urgent(db)) == 1
