"""The built-in words of crisis: per language (``en.py`` ...), one list per kind.

Data only, so a clinician can review one language's lists without reading the matcher
(:mod:`cm_bot.engine.crisis`). Kept broad on purpose: a false alarm costs a case manager
a minute; a miss can cost a life. Each borderline choice is noted where it is made.

Entries are compared after folding (case, accents, apostrophes, punctuation and
stretched letters do not count; see :func:`cm_bot.engine.crisis.fold`).

List notation (also for a program's extra words), one entry a phrase of words:

- ``kill* myself``: a trailing ``*`` is a stem (matches "killing myself"); a word without
  it matches a whole word only ("skill myself" does not match).
- ``he|she .. hit* me``: ``a|b`` is a choice for one word; ``_`` joins words inside a
  choice (``like_this``); ``..`` is a gap of up to three words.
- ``can't go on $``: ``$`` ends the phrase at the end of the message ("I can't go on"
  but not "I can't go on Tuesday").
- ``hit* me !up|that``: a last ``!`` item lists words that must not follow.
- ``<who> .. kill me``: ``<who>`` is a named list of choices (:data:`GROUPS`, each
  language's own); also inside a choice: ``my_<en_family>``.

Negation is deliberately not understood: "I'm not suicidal" matches, and a person reads it.
"""

from __future__ import annotations

from cm_bot.engine.crisis_words import en, es, ru, uk

LOCALES: tuple[str, ...] = ("en", "es", "uk", "ru")

# Suicide and self-harm, per language.
SELF_HARM: dict[str, tuple[str, ...]] = {
    "en": en.SELF_HARM,
    "es": es.SELF_HARM,
    "uk": uk.SELF_HARM,
    "ru": ru.SELF_HARM,
}
# Violence against the client, per language.
VIOLENCE: dict[str, tuple[str, ...]] = {
    "en": en.VIOLENCE,
    "es": es.VIOLENCE,
    "uk": uk.VIOLENCE,
    "ru": ru.VIOLENCE,
}
# Every language's named word choices, usable in any list (a name is defined once).
GROUPS: dict[str, str] = {**en.GROUPS, **es.GROUPS, **uk.GROUPS, **ru.GROUPS}
assert len(GROUPS) == sum(len(m.GROUPS) for m in (en, es, uk, ru)), "a group name is reused"

__all__ = ["GROUPS", "LOCALES", "SELF_HARM", "VIOLENCE"]
