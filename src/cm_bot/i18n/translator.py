"""Translations per locale, read from ``locales/<lang>/LC_MESSAGES/messages.po``.

Catalogues are compiled in memory at start-up, so there is no ``.mo`` build step
to forget (Babel's ``Translations.load`` silently falls back to English when a
``.mo`` is missing). The locale is always passed explicitly: scheduled messages
and staff notices have no request context to borrow one from.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Gettext = Callable[[str], str]
"""A language's ``gettext``: what code that words text for a reader takes."""

DOMAIN = "messages"
SOURCE_LOCALE = "en"


class Translator:
    """Gettext for every supported locale; unknown locales fall back to the default."""

    def __init__(self, locales_dir: Path | None, *, default_locale: str = SOURCE_LOCALE) -> None:
        self._catalogues: dict[str, gettext.NullTranslations] = {
            SOURCE_LOCALE: gettext.NullTranslations()
        }
        if locales_dir is not None and locales_dir.is_dir():
            for po in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
                self._catalogues[po.parent.parent.name] = _compile(po)
        self.default_locale = self.negotiate(default_locale) or SOURCE_LOCALE

    @property
    def locales(self) -> tuple[str, ...]:
        """Supported locale codes, the source locale first."""
        return (SOURCE_LOCALE, *sorted(k for k in self._catalogues if k != SOURCE_LOCALE))

    def negotiate(self, tag: str | None) -> str | None:
        """Map a platform language tag (``es-MX``, ``uk``) to a supported locale, or ``None``."""
        if not tag:
            return None
        tag = tag.replace("-", "_").strip()
        if tag in self._catalogues:
            return tag
        base = tag.split("_")[0].lower()
        return base if base in self._catalogues else None

    def locale_for(self, tag: str | None) -> str:
        """The supported locale for ``tag``, else the configured default."""
        return self.negotiate(tag) or self.default_locale

    def get(self, locale: str | None) -> gettext.NullTranslations:
        """The catalogue for ``locale`` (the default one if unsupported)."""
        return self._catalogues.get(self.locale_for(locale), self._catalogues[SOURCE_LOCALE])

    def gettext(self, locale: str | None, message: str) -> str:
        """Translate one message into ``locale``."""
        return self.get(locale).gettext(message)

    def language_name(self, locale: str) -> str:
        """The language's own name for itself (``Español``, ``Українська``) for the picker."""
        return self.language_name_in(locale, locale)

    def language_name_in(self, locale: str, reader: str, *, alone: bool = True) -> str:
        """The language's name in the reader's language (``Spanish``, ``Іспанська``).

        ``alone``: the name stands by itself (a button, a field's value) and starts with a
        capital; inside a list or a sentence it keeps the reader's own case (``español``).
        """
        try:
            name = Locale.parse(locale).get_display_name(reader) or locale
        except (UnknownLocaleError, ValueError):
            return locale
        return name[:1].upper() + name[1:] if alone else name


def _compile(po: Path) -> gettext.NullTranslations:
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # a fuzzy guess is never shown to a client
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def N_(message: str) -> str:
    """Mark a string for extraction where it is translated later, with the reader's locale."""
    return message


__all__ = ["DOMAIN", "N_", "SOURCE_LOCALE", "Gettext", "Translator"]
