"""Translations (Babel/gettext) and the extractor that pulls flow text into ``messages.pot``."""

from cm_bot.i18n.translator import DOMAIN, N_, SOURCE_LOCALE, Translator

__all__ = ["DOMAIN", "N_", "SOURCE_LOCALE", "Translator"]
