"""Menus answer themselves: a typed choice at an open menu never reaches the question under it.

A menu is a message whose buttons belong to no question (the language picker, the
withdraw and erase confirmations) or the resume offer. While one is open, what the
person types is read against that menu only: its number, its label, or a code (``es``,
``yes``). On Telegram a "2" typed at the language menu once answered the consent
question under it with "No"; here it picks the second language, and text that fits no
option gets the menu again instead of being passed on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cm_bot.engine.answers import NO_WORDS, YES_WORDS, fold
from cm_bot.i18n.translator import N_, Gettext

# The confirmations' buttons: their label, and whether "yes" picks them.
CONFIRM_LABELS: dict[str, tuple[str, bool]] = {
    "withdraw": (N_("Yes, withdraw"), True),
    "erase": (N_("Yes, ask to erase"), True),
    "keep": (N_("No, keep going"), False),
}
RESUME_LABELS: dict[str, str] = {"resume": N_("Continue"), "restart": N_("Start again")}
# Yes and no as people type them (one list, kept with the answers' parsing), folded.
_YES = frozenset(fold(word) for word in YES_WORDS)
_NO = frozenset(fold(word) for word in NO_WORDS)


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One button of a menu: what it does, and every way of typing it."""

    value: Mapping[str, Any]
    names: frozenset[str]
    yes: bool | None = None  # the option "yes" (True) or "no" (False) picks, if any


@dataclass(slots=True)
class Menu:
    """The options of the open menu, in the order they are shown (1, 2, ...)."""

    options: list[MenuOption] = field(default_factory=list)

    def choose(self, text: str) -> Mapping[str, Any] | None:
        """The option the text names, or ``None`` (no option, or more than one)."""
        typed = fold(text)
        if not typed:
            return None
        found: list[MenuOption] = []
        if typed.isdigit() and 1 <= int(typed) <= len(self.options):
            found.append(self.options[int(typed) - 1])
        found.extend(o for o in self.options if typed in o.names and o not in found)
        if not found and (typed in _YES or typed in _NO):
            wanted = typed in _YES
            found = [o for o in self.options if o.yes is wanted]
        return found[0].value if len(found) == 1 else None


def _names(*texts: str) -> frozenset[str]:
    return frozenset(f for f in (fold(t) for t in texts) if f)


def runless_menu(
    values: Sequence[Mapping[str, Any]],
    _: Gettext,
    language_names: Callable[[str], Iterable[str]],
) -> Menu:
    """The open menu from its buttons' values (shown in the order ``n``), in the reader's words.

    ``language_names(code)`` gives every name a language may be typed as (its own name,
    its name in English and in the reader's language).
    """
    menu = Menu()
    for value in sorted(values, key=lambda v: int(v.get("n", 0))):
        act = str(value.get("act"))
        if act == "lang":
            code = str(value.get("locale", ""))
            menu.options.append(MenuOption(value, _names(code, *language_names(code))))
        elif act in CONFIRM_LABELS:
            label, yes = CONFIRM_LABELS[act]
            menu.options.append(MenuOption(value, _names(_(label), label), yes))
    return menu


def resume_menu(_: Gettext) -> Menu:
    """The resume offer: 1 continues, 2 starts again; "yes" continues."""
    return Menu(
        [
            MenuOption(
                {"act": "resume"},
                _names(_(RESUME_LABELS["resume"]), RESUME_LABELS["resume"]),
                True,
            ),
            MenuOption({"act": "restart"}, _names(_(RESUME_LABELS["restart"]), "restart")),
        ]
    )


__all__ = [
    "CONFIRM_LABELS",
    "RESUME_LABELS",
    "Menu",
    "MenuOption",
    "resume_menu",
    "runless_menu",
]
