"""Keeping the catalogues honest: extract, update, and check that nothing is left untranslated.

``cm-bot i18n extract`` rewrites ``locales/messages.pot`` from the sources (Python and
flow files) and merges it into every ``<lang>/LC_MESSAGES/messages.po``;
``cm-bot i18n check`` fails when the template is out of date or a catalogue has an
untranslated, fuzzy or missing entry. CI runs the check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from cm_bot.i18n.translator import DOMAIN

KEYWORDS = ("_", "N_", "gettext", "ngettext:1,2")
WIDTH = "100"  # line width of the .po files, as they are kept in git


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]


def extract(root: Path, output: Path) -> None:
    """Write a fresh template of every translatable string under ``root``."""
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    _pybabel(
        "extract",
        "-F",
        str(root / "pyproject.toml"),
        *keywords,
        "--sort-by-file",
        "--add-comments",
        "Translators:",
        "--project",
        "cm-bot",
        "--width",
        WIDTH,
        "-o",
        str(output),
        os.path.relpath(root),  # relative source references: the same on every checkout
    )


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _ids(catalog: Catalog) -> set[tuple[object, str | None]]:
    """Each message's (msgid, msgctxt): the same English with two contexts is two messages."""
    return {(message.id, message.context) for message in catalog if message.id}


def update(root: Path) -> None:
    """Re-extract the template and merge it into every locale's catalogue."""
    locales = root / "locales"
    extract(root, locales / f"{DOMAIN}.pot")
    for po in sorted(locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        _pybabel(
            "update",
            "-i",
            str(locales / f"{DOMAIN}.pot"),
            "-o",
            str(po),
            "-l",
            po.parent.parent.name,
            "--width",
            WIDTH,
            "--ignore-obsolete",
        )


def _show(key: tuple[object, str | None]) -> str:
    msgid, context = key
    text = str(msgid if isinstance(msgid, str) else msgid[0])  # type: ignore[index]
    return text if context is None else f"{context}|{text}"


def check(root: Path) -> list[str]:
    """Every reason the catalogues are not ready to ship, as lines; empty when they are."""
    locales = root / "locales"
    template = locales / f"{DOMAIN}.pot"
    problems: list[str] = []
    if not template.exists():
        return [f"{template}: missing; run: cm-bot i18n extract"]
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.pot"
        extract(root, fresh)
        wanted = _ids(_read(fresh))
    have = _ids(_read(template))
    for missing in sorted(map(_show, wanted - have)):
        problems.append(
            f"{template}: out of date, lacks {missing[:60]!r}; run: cm-bot i18n extract"
        )
    for stale in sorted(map(_show, have - wanted)):
        problems.append(
            f"{template}: out of date, still has {stale[:60]!r}; run: cm-bot i18n extract"
        )
    catalogues = sorted(locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    if not catalogues:
        problems.append(f"{locales}: no translations")
    for po in catalogues:
        catalog = _read(po, po.parent.parent.name)
        by_id = {(m.id, m.context): m for m in catalog if m.id}
        for msgid, context in wanted:
            message = by_id.get((msgid, context))  # type: ignore[arg-type]
            label = _show((msgid, context))[:60]
            if message is None:
                problems.append(f"{po}: missing {label!r}")
            elif message.fuzzy:
                problems.append(f"{po}:{message.lineno}: fuzzy {label!r}")
            elif not message.string or (
                isinstance(message.string, tuple | list) and not all(message.string)
            ):
                problems.append(f"{po}:{message.lineno}: untranslated {label!r}")
    return problems


__all__ = ["check", "extract", "update"]
