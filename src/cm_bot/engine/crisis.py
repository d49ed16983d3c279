"""Words that mean someone may not be safe, wherever in the conversation they appear.

A flow asks about risk at set points; people say it when they say it, mid-form,
in an edit, in another language. Matching is deliberately broad (a false alarm
costs a case manager a minute; a miss can cost a life) and done on normalised,
case-folded text. The phrases are English, Spanish and Ukrainian; the list is
data a program can extend.
"""

from __future__ import annotations

import re
import unicodedata

PHRASES: tuple[str, ...] = (
    # English
    "kill myself",
    "killing myself",
    "suicide",
    "suicidal",
    "end my life",
    "end it all",
    "want to die",
    "wanna die",
    "better off dead",
    "hurt myself",
    "harm myself",
    "self harm",
    "self-harm",
    "cut myself",
    "not safe",
    "unsafe at home",
    "he will kill me",
    "she will kill me",
    "going to kill me",
    "overdose",
    # Spanish
    "suicid",
    "matarme",
    "quitarme la vida",
    "acabar con mi vida",
    "quiero morir",
    "no quiero vivir",
    "hacerme daño",
    "no estoy a salvo",
    "me va a matar",
    # Ukrainian
    "самогубств",
    "вбити себе",
    "покінчити з собою",
    "не хочу жити",
    "хочу померти",
    "завдати собі шкоди",
    "я не в безпеці",
    "мене вб'ють",
    "мене вбʼють",
)

_PATTERN = re.compile("|".join(re.escape(p) for p in PHRASES))
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _fold(text: str) -> str:
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(text.replace("’", "'").split())


def mentions_crisis(text: str | None) -> bool:
    """Whether the message contains a crisis phrase in any supported language."""
    return bool(text) and _PATTERN.search(_fold(text or "")) is not None


__all__ = ["PHRASES", "mentions_crisis"]
