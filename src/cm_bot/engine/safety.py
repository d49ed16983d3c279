"""What the bot says when someone may not be safe: the program's real resources, in their words.

Every crisis text is built here from the program file (:mod:`cm_bot.program`), so a
person in danger always hears the numbers the program checked, in their language,
with the truth about this chat: their case manager was told, when staff usually
answer, and that nobody watches the chat all the time.
"""

from __future__ import annotations

from collections.abc import Iterable

from cm_bot.i18n.translator import Gettext
from cm_bot.program import Program, ResourceKind


def resources_block(program: Program, _: Gettext, extra: Iterable[str] = ()) -> str:
    """The emergency and crisis resources, plus any other kinds asked for (violence ...)."""
    kinds = [ResourceKind.EMERGENCY, ResourceKind.CRISIS]
    for kind in extra:
        resource_kind = ResourceKind(kind)
        if resource_kind not in kinds:
            kinds.append(resource_kind)
    lines = [_("If you are in danger right now:")]
    lines.extend(program.resource_lines(program.of_kind(*kinds), _))
    return "\n".join(lines)


def staff_told(program: Program, _: Gettext, locale: str) -> str:
    """Who was told, when they usually answer, and that the chat is not watched all the time."""
    return "\n".join(
        (
            _("I have told your case manager. Staff usually answer {response_time}.").format(
                response_time=_(program.response_time)
            ),
            _("Office hours: {staff_hours}.").format(staff_hours=program.staff_hours_text(locale)),
            _(
                "This chat is not watched all the time. If you need help now, please use "
                "the numbers above."
            ),
        )
    )


def crisis_reply(program: Program, _: Gettext, locale: str, *, violence: bool) -> str:
    """The reply to words of crisis from a client: resources first, then who was told."""
    return "\n\n".join(
        (
            _("I'm worried about what you wrote, and I want you to be safe."),
            resources_block(program, _, [ResourceKind.VIOLENCE] if violence else []),
            staff_told(program, _, locale),
        )
    )


def rule_reply(
    program: Program, _: Gettext, locale: str, message: str | None, kinds: Iterable[str]
) -> str:
    """An urgent flag rule's own message (already translated), then the resources."""
    parts = [message] if message else []
    parts.extend((resources_block(program, _, kinds), staff_told(program, _, locale)))
    return "\n\n".join(parts)


def unlinked_reply(program: Program, _: Gettext, *, violence: bool) -> str:
    """Words of crisis from someone linked to no case: resources, and the honest limits."""
    return "\n\n".join(
        (
            _("I'm worried about what you wrote, and I want you to be safe."),
            resources_block(program, _, [ResourceKind.VIOLENCE] if violence else []),
            _(
                "This chat is only for clients of {program}, and it is not watched all the "
                "time. To reach the program: {program_contact}."
            ).format(program=_(program.name), program_contact=_(program.contact)),
        )
    )


def paused_reply(program: Program, _: Gettext) -> str:
    """The short reply while paused (at most one per window): kept, and where help is."""
    emergency = "; ".join(_(r.contact) for r in program.of_kind(ResourceKind.EMERGENCY))
    crisis = "; ".join(f"{_(r.name)}: {_(r.contact)}" for r in program.of_kind(ResourceKind.CRISIS))
    return _(
        "I've kept your message for your case manager, and I won't ask any questions for "
        "now. If you are in danger right now: {emergency}. {crisis}. Send /human to ask "
        "for a person."
    ).format(emergency=emergency, crisis=crisis)


def resumed(_: Gettext) -> str:
    """The one message that ends a pause, sent when staff resolve the flag."""
    return _(
        "Thank you for waiting. Someone from the program has looked at your messages. "
        "When you are ready, send any message and we will carry on where we stopped."
    )


def human_reply(program: Program, _: Gettext, locale: str) -> str:
    """``/human``: a person will contact them, and when."""
    return "\n".join(
        (
            _(
                "I've asked a person from the program to contact you. Staff usually answer "
                "{response_time} (office hours: {staff_hours})."
            ).format(
                response_time=_(program.response_time),
                staff_hours=program.staff_hours_text(locale),
            ),
            _("If you are in danger right now: {emergency}.").format(
                emergency="; ".join(_(r.contact) for r in program.of_kind(ResourceKind.EMERGENCY))
            ),
        )
    )


__all__ = [
    "crisis_reply",
    "human_reply",
    "paused_reply",
    "resources_block",
    "resumed",
    "rule_reply",
    "staff_told",
    "unlinked_reply",
]
