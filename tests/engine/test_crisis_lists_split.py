"""The built-in crisis lists live apart from the matcher, and importing it compiles nothing.

Issue 15: a clinician reviews one language's lists in ``cm_bot/engine/crisis_words/``
without reading regex code, and the command line no longer compiles every pattern on
import only to compile them again when the engine starts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cm_bot.engine.crisis import DEFAULT, CrisisWords, default_words
from cm_bot.engine.crisis_words import GROUPS, LOCALES, SELF_HARM, VIOLENCE

_PROBE = """
import json
import cm_bot.engine.crisis as crisis
compiled_on_import = crisis.default_words.cache_info().currsize
first = crisis.DEFAULT
print(json.dumps({
    "on_import": compiled_on_import,
    "after_first_read": crisis.default_words.cache_info().currsize,
    "same_each_read": first is crisis.DEFAULT,
}))
"""


def test_importing_the_matcher_compiles_no_pattern_until_default_is_first_read() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"on_import": 0, "after_first_read": 1, "same_each_read": True}


def test_default_is_the_built_in_lists_of_every_language() -> None:
    assert DEFAULT is default_words()
    assert len(DEFAULT) == len(CrisisWords())


@pytest.mark.parametrize("locale", LOCALES)
def test_each_language_has_a_self_harm_and_a_violence_list_without_repeats(locale: str) -> None:
    for lists in (SELF_HARM, VIOLENCE):
        entries = lists[locale]
        assert entries, f"{locale}: an empty list"
        assert len(set(entries)) == len(entries), f"{locale}: an entry listed twice"
    # Each language's lists compile on their own (their <groups> are all defined).
    assert len(CrisisWords(locales=[locale])) > 0


def test_every_named_group_is_used_by_some_list() -> None:
    everything = " ".join(e for lists in (SELF_HARM, VIOLENCE) for v in lists.values() for e in v)
    assert [name for name in GROUPS if f"<{name}>" not in everything] == []
