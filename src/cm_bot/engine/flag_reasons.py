"""The one place a flag's reason is put into words, in English or the reader's language.

A reason with placeholders is stored twice: ``flag.reason`` holds it formatted in English
(so the CLI, the export and any reader that knows nothing of this stay right), and
``flag.reason_msgid`` with ``flag.reason_params`` hold the msgid and its values, so a
reader in another language can translate the msgid first and then fill it in. A reason
without params is its own msgid. Readers call :func:`flag_reason`; none formats on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cm_bot.i18n.translator import Gettext


def english(text: str) -> str:
    """The identity gettext: the English source text, for the record, the CLI and export."""
    return text


def _param(value: Any, _: Gettext) -> str:
    """A string is translated if it is a msgid (a need name), else left (a service name)."""
    if isinstance(value, str):
        return _(value)
    if isinstance(value, list | tuple):
        return ", ".join(_param(item, _) for item in value)
    return str(value)


def flag_reason(
    reason: str,
    msgid: str | None,
    params: Mapping[str, Any] | None,
    _: Gettext,
) -> str:
    """A flag's reason in ``_``'s language.

    ``msgid`` and ``params`` are ``None`` for a reason without placeholders (and for every
    flag raised before they existed): then ``reason`` is the msgid, translated if the
    catalogue has it, shown as it is if not. A translation that does not fit its params (a
    translator's slip) falls back to the English text rather than failing the notice.
    """
    if msgid is None or params is None:
        return _(reason)
    values = {key: _param(value, _) for key, value in params.items()}
    try:
        return _(msgid).format(**values)
    except (KeyError, IndexError, ValueError):
        return reason


__all__ = ["english", "flag_reason"]
