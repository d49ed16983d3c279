"""Words that mean someone may not be safe, wherever in the conversation they appear.

A flow asks about risk at set points; people say it when they say it, mid-form, in an
edit, in a caption, in another language. Every text from every person goes through
:meth:`CrisisWords.find`, so matching is broad (a false alarm costs a case manager a
minute; a miss can cost a life) and cheap (one precompiled regex over folded text).

Folding (:func:`fold`, applied the same way to messages and to list entries) ignores
case, accents and diacritics (so й→и, ї→і→и, ё→е, ñ→n), apostrophes of every shape
("don't" = "dont", "вб'ю" = "вбʼю" = "вбю"), invisible characters, punctuation between
words, Latin look-alike letters inside Cyrillic words (and the reverse), and stretched
letters: every run of one letter becomes one letter ("kiiill" = "kill" = "kil"). Ukrainian
typed on a Russian keyboard is common, so і/ї→и, є→е, ґ→г, and ъ (typed for an
apostrophe) is dropped.

The built-in lists, one per language and kind, and their notation (also for a program's
extra words) are in :mod:`cm_bot.engine.crisis_words`. The built-in matcher
(:data:`DEFAULT`) is compiled on first use, not on import.

Negation is deliberately not understood: "I'm not suicidal" matches, and a person reads it.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from cm_bot.domain.text import INVISIBLE
from cm_bot.engine.crisis_words import GROUPS, LOCALES, SELF_HARM, VIOLENCE


class CrisisKind(StrEnum):
    """What a phrase is about; the flag is urgent either way, the kind helps the reader."""

    SELF_HARM = "self_harm"  # suicide and self-harm
    VIOLENCE = "violence"  # violence against the client: he hits me, not safe at home


@dataclass(frozen=True, slots=True)
class CrisisMatch:
    """What a message matched: every kind, and the list entries in order of appearance."""

    kinds: frozenset[CrisisKind]
    phrases: tuple[str, ...]  # as written in the list

    @property
    def violence(self) -> bool:
        """Someone else may hurt the client (as opposed to, or as well as, self-harm)."""
        return CrisisKind.VIOLENCE in self.kinds


# ---------------------------------------------------------------------------------------
# Folding: the same on messages and on list entries, so both meet in one normal form.

_DROP = dict.fromkeys(
    map(
        ord,
        # apostrophes of every shape ("*" stands in for one in Ukrainian), invisibles
        "'’‘‛ʼʹ`´′＇ˈ*\u00ad" + INVISIBLE,
    )
)
_CYRILLIC_FOLD = str.maketrans({"і": "и", "є": "е", "ґ": "г", "ъ": None, "ё": "е", "й": "и"})
_LATIN_TO_CYRILLIC = str.maketrans("abcehikmoptxy", "авсенікмортху")
_CYRILLIC_TO_LATIN = str.maketrans("авсенікмортху", "abcehikmoptxy")
_LOOKALIKES = frozenset("abcehikmoptxyавсенікмортху")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[a-z]")
_MIXED_WORD = re.compile(  # a word with letters from both alphabets
    r"(?<!\w)[^\W\d_]*(?:[a-z][^\W\d_]*[\u0400-\u04ff]|[\u0400-\u04ff][^\W\d_]*[a-z])[^\W\d_]*"
)
_NON_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"([^\W\d_])\1+")


def _unmix(word: re.Match[str]) -> str:
    """A word typed half in Latin look-alikes (Ukrainian "i" on an English keyboard)."""
    text = word[0]
    unique = set(text) - _LOOKALIKES  # letters that say which alphabet the word is in
    if unique:
        cyrillic = any(_CYRILLIC.match(c) for c in unique)
    else:
        cyrillic = len(_CYRILLIC.findall(text)) * 2 >= len(text)
    return text.translate(_LATIN_TO_CYRILLIC if cyrillic else _CYRILLIC_TO_LATIN)


def fold(text: str) -> str:
    """The normal form messages and phrases are compared in: lowercase words, one space apart."""
    text = text.translate(_DROP).casefold()
    if not text.isascii():
        text = "".join(
            c
            for c in unicodedata.normalize("NFKD", text)
            if not unicodedata.category(c).startswith(("M", "Cf"))
        ).translate(_DROP)
        if _CYRILLIC.search(text):
            if _LATIN.search(text):
                text = _MIXED_WORD.sub(_unmix, text)
            text = text.translate(_CYRILLIC_FOLD)
    text = _NON_WORD.sub(" ", text)
    return _REPEATS.sub(r"\1", text).strip()


# ---------------------------------------------------------------------------------------
# Phrases to regex. Each entry expands to sequences of regex atoms; all sequences share
# one trie, so the combined pattern tries one branch per first letter, not one per phrase.

_GAP = r"(?: \w++){0,3}"
_MIN_STEM = 3


class PhraseError(ValueError):
    """A list entry that cannot be read (from a program file, usually)."""


def _word_atoms(alt: str, phrase: str) -> tuple[str, ...]:
    """One choice of one word slot as atoms: literal letters, spaces and a stem tail."""
    stem = alt.endswith("*")
    folded = fold(alt.rstrip("*"))
    if not folded:
        raise PhraseError(f"crisis phrase {phrase!r}: {alt!r} has no letters")
    if stem and len(folded.replace(" ", "")) < _MIN_STEM:
        raise PhraseError(f"crisis phrase {phrase!r}: stem {alt!r} is too short")
    return (*(re.escape(c) for c in folded), r"\w*+" if stem else r"(?!\w)")


_GROUP = re.compile(r"<(\w+)>")


def _choices(item: str, phrase: str) -> list[str]:
    """The choices of one word slot, with ``<group>`` names spelt out."""
    choices: list[str] = []
    for alt in item.split("|"):
        named = _GROUP.search(alt)
        if named is None:
            choices.append(alt)
            continue
        if named[1] not in GROUPS:
            raise PhraseError(f"crisis phrase {phrase!r}: unknown group {named[0]!r}")
        for word in GROUPS[named[1]].split("|"):
            choices.extend(_choices(alt[: named.start()] + word + alt[named.end() :], phrase))
    return choices


def _expand(phrase: str) -> list[tuple[str, ...]]:
    """Every atom sequence an entry stands for (the product of its word choices)."""
    items = phrase.split()
    tail = ""
    if items and items[-1].startswith("!"):
        nots = [
            re.escape(fold(a.rstrip("*"))) + ("" if a.endswith("*") else r"(?!\w)")
            for a in items.pop()[1:].split("|")
            if fold(a.rstrip("*"))
        ]
        if not nots:
            raise PhraseError(f"crisis phrase {phrase!r}: nothing after '!'")
        tail = "(?! (?:" + "|".join(nots) + "))"
    if items and items[-1] == "$":
        items.pop()
        tail += "$"
    slots: list[list[tuple[str, ...]]] = []
    gap = False
    for item in items:
        if item in ("..", "…"):
            if not slots or gap:
                raise PhraseError(f"crisis phrase {phrase!r}: '..' must sit between words")
            gap = True
            continue
        if item in ("$",) or item.startswith("!"):
            raise PhraseError(f"crisis phrase {phrase!r}: {item!r} only goes at the end")
        joint: tuple[str, ...] = ((_GAP, " ") if gap else (" ",)) if slots else ()
        slots.append([joint + _word_atoms(alt, phrase) for alt in _choices(item, phrase)])
        gap = False
    if not slots or gap:
        raise PhraseError(f"crisis phrase {phrase!r}: no words, or it ends in '..'")
    return [
        tuple(itertools.chain.from_iterable(choice)) + ((tail,) if tail else ())
        for choice in itertools.product(*slots)
    ]


_END = ""  # trie key for "a phrase ends here"
_Node: TypeAlias = "dict[str, _Node]"


def _trie_regex(sequences: Iterable[tuple[str, ...]]) -> re.Pattern[str]:
    """One pattern for all sequences, factored by common prefix; starts on a word start."""
    trie: _Node = {}
    for seq in sequences:
        node = trie
        for atom in seq:
            node = node.setdefault(atom, {})
        node[_END] = {}

    def emit(node: _Node) -> str:
        if _END in node:
            return ""  # a shorter phrase already matched: the longer ones add nothing
        alts = [atom + emit(node[atom]) for atom in sorted(node)]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return re.compile(r"(?<!\w)" + emit(trie) if trie else r"(?!)")


class _Entry:
    """One list entry; its own pattern is compiled on the first hit that needs it."""

    __slots__ = ("_pattern", "kinds", "phrase", "sequences")

    def __init__(
        self, phrase: str, kinds: frozenset[CrisisKind], sequences: frozenset[tuple[str, ...]]
    ) -> None:
        self.phrase = phrase
        self.kinds = kinds
        self.sequences = sequences
        self._pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = _trie_regex(self.sequences)
        return self._pattern


def _locale_key(locale: str) -> str:
    """'uk', 'uk-UA' and 'uk_UA' are one list."""
    return re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]


class CrisisWords:
    """A compiled set of crisis phrases: the built-in lists plus a program's own words.

    Args:
        extra: per-locale extra phrases of kind SELF_HARM (from the program file).
        extra_violence: per-locale extra phrases of kind VIOLENCE.
        locales: only these languages' lists and extras; None is every list and extra.

    Raises:
        PhraseError: an entry cannot be read, or a locale has no list at all.
    """

    def __init__(
        self,
        extra: Mapping[str, Sequence[str]] | None = None,
        extra_violence: Mapping[str, Sequence[str]] | None = None,
        *,
        locales: Collection[str] | None = None,
    ) -> None:
        wanted = None if locales is None else {_locale_key(loc) for loc in locales}
        sources: list[tuple[CrisisKind, Mapping[str, Sequence[str]]]] = [
            (CrisisKind.SELF_HARM, SELF_HARM),
            (CrisisKind.VIOLENCE, VIOLENCE),
            (CrisisKind.SELF_HARM, extra or {}),
            (CrisisKind.VIOLENCE, extra_violence or {}),
        ]
        known = {_locale_key(loc) for _, lists in sources for loc in lists}
        if wanted is not None and (unknown := sorted(wanted - known)):
            raise PhraseError(
                f"no crisis words for locale(s) {', '.join(unknown)} "
                f"(built-in: {', '.join(LOCALES)}; or add some in the program file)"
            )
        # One entry per distinct meaning: the same words in two lists keep both kinds.
        merged: dict[frozenset[tuple[str, ...]], tuple[str, set[CrisisKind]]] = {}
        for kind, lists in sources:
            for loc, phrases in lists.items():
                if wanted is not None and _locale_key(loc) not in wanted:
                    continue
                for phrase in phrases:
                    key = frozenset(_expand(phrase))
                    merged.setdefault(key, (phrase, set()))[1].add(kind)
        self._entries = [
            _Entry(phrase, frozenset(kinds), key) for key, (phrase, kinds) in merged.items()
        ]
        self._kinds = {e.phrase: e.kinds for e in self._entries}
        self._any = _trie_regex(k for key in merged for k in key)
        # Which entries can start with a given letter: a hit is checked against those only.
        self._by_first: dict[str, list[_Entry]] = {}
        for key, entry in zip(merged, self._entries, strict=True):
            for first in sorted({re.sub(r"\\(.)", r"\1", seq[0]) for seq in key}):
                self._by_first.setdefault(first, []).append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def kinds_of(self, phrase: str) -> frozenset[CrisisKind]:
        """The kind(s) of one entry as reported in :attr:`CrisisMatch.phrases`."""
        return self._kinds[phrase]

    def matches(self, text: str | None) -> bool:
        """Whether the text holds any phrase (the fast path: one regex search)."""
        return bool(text) and self._any.search(fold(text or "")) is not None

    def find(self, text: str | None) -> CrisisMatch | None:
        """Every phrase the text holds, or None: only a hit pays for naming the phrases."""
        if not text:
            return None
        folded = fold(text)
        hit = self._any.search(folded)
        if hit is None:
            return None
        seen: dict[str, _Entry] = {}
        while hit is not None and len(seen) < len(self._entries):
            start = hit.start()
            for entry in self._by_first.get(folded[start], ()):
                if entry.phrase not in seen and entry.pattern.match(folded, start):
                    seen[entry.phrase] = entry
            hit = self._any.search(folded, start + 1)
        kinds = frozenset(k for e in seen.values() for k in e.kinds)
        return CrisisMatch(kinds=kinds, phrases=tuple(seen))


@functools.cache
def default_words() -> CrisisWords:
    """The built-in lists of every language, compiled once, on first use."""
    return CrisisWords()


if TYPE_CHECKING:
    DEFAULT: CrisisWords  # the built-in lists (:func:`default_words`)
else:

    def __getattr__(name: str) -> CrisisWords:
        """``DEFAULT`` is compiled when first read, so importing this module compiles nothing."""
        if name == "DEFAULT":
            return default_words()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mentions_crisis(text: str | None) -> bool:
    """Whether the message contains a crisis phrase in any supported language."""
    return default_words().matches(text)


__all__ = [
    "DEFAULT",
    "LOCALES",
    "CrisisKind",
    "CrisisMatch",
    "CrisisWords",
    "PhraseError",
    "default_words",
    "fold",
    "mentions_crisis",
]
