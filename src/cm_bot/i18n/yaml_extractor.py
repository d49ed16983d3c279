"""A Babel extraction method for flow files, so flow text lands in ``messages.pot``.

Registered as the ``cm_yaml`` extractor (entry point ``babel.extractors``). Each
user-facing field of a flow yields its English text with its line number; a
step's ``note:`` becomes a translator comment, and an option's ``context:`` its
``msgctxt`` (the same English label can then be translated two ways).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

import yaml

TEXT_FIELDS = frozenset({"title", "text", "label", "min_label", "max_label", "message", "reason"})
# A program file (cm_bot.program): its name, contact, and each resource's name, contact, hours.
PROGRAM_FIELDS = frozenset({"name", "contact", "hours", "response_time"})
_COMMENTS = {
    "reason": "Shown to staff in a flag notice, not to the client.",
    "label": "A button label: keep it short.",
    "contact": "From the program file: what to call or text. Keep numbers unchanged.",
    "hours": "From the program file: when this resource answers.",
}

Extracted = tuple[int, str | None, str | tuple[str, str], list[str]]


def extract(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any] | Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    """Yield ``(lineno, funcname, message, comments)`` for every text field of a flow file."""
    encoding = str(options.get("encoding", "utf-8"))
    document = yaml.compose(fileobj.read().decode(encoding), Loader=yaml.SafeLoader)
    if document is not None:
        yield from _walk(document, PROGRAM_FIELDS if _is_program(document) else TEXT_FIELDS)


def _is_program(node: yaml.Node) -> bool:
    """A program file has resources and no steps (see cm_bot.program.looks_like_program)."""
    if not isinstance(node, yaml.MappingNode):
        return False
    keys = {str(k.value) for k, _v in node.value}
    return "resources" in keys and "steps" not in keys


def _walk(node: yaml.Node, fields: frozenset[str]) -> Iterator[Extracted]:
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, fields)
    elif isinstance(node, yaml.MappingNode):
        note = next(
            (
                v.value
                for k, v in node.value
                if k.value == "note" and isinstance(v, yaml.ScalarNode)
            ),
            None,
        )
        context = next(
            (
                str(v.value)
                for k, v in node.value
                if k.value == "context" and isinstance(v, yaml.ScalarNode)
            ),
            None,
        )
        for key, value in node.value:
            if key.value in fields and isinstance(value, yaml.ScalarNode) and value.value:
                comments = [c for c in (note, _COMMENTS.get(key.value)) if c]
                line = value.start_mark.line + 1
                if context is not None and key.value == "label":
                    yield line, "pgettext", (context, str(value.value)), comments
                else:
                    yield line, None, str(value.value), comments
            else:
                yield from _walk(value, fields)


__all__ = ["extract"]
