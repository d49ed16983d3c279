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
_COMMENTS = {
    "reason": "Shown to staff in a flag notice, not to the client.",
    "label": "A button label: keep it short.",
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
        yield from _walk(document)


def _walk(node: yaml.Node) -> Iterator[Extracted]:
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item)
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
            if key.value in TEXT_FIELDS and isinstance(value, yaml.ScalarNode) and value.value:
                comments = [c for c in (note, _COMMENTS.get(key.value)) if c]
                line = value.start_mark.line + 1
                if context is not None and key.value == "label":
                    yield line, "pgettext", (context, str(value.value)), comments
                else:
                    yield line, None, str(value.value), comments
            else:
                yield from _walk(value)


__all__ = ["extract"]
