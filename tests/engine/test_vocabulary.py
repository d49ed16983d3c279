"""Stored statuses and roles are enums: no bare status string is compared or written in src/.

The values are stable in the database (``domain/values.py``); a typo in a bare string
would be a silent bug, so the code names the enum member instead. The migrations are
history and keep their strings.
"""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path

from cm_bot.domain import values
from tests.support.paths import ROOT

SRC = ROOT / "src" / "cm_bot"
NAMES = {"status", "role"}
# Telegram's own chat-member statuses ("kicked", "left") are not ours.
OUTSIDE = {"channels/telegram_codec.py"}
# Every closed vocabulary of domain/values.py (statuses, roles, severities, results).
STORED = {
    member.value
    for enum in vars(values).values()
    if isinstance(enum, type) and issubclass(enum, StrEnum) and enum is not StrEnum
    for member in enum
}


def _named(node: ast.expr) -> bool:
    if isinstance(node, ast.Call) and node.args:  # col(Outbox.status)
        return _named(node.args[0])
    if isinstance(node, ast.Attribute):
        return node.attr in NAMES
    return isinstance(node, ast.Name) and node.id in NAMES


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for item in node.elts for s in _strings(item)]
    return []


def _bare_statuses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        strings: list[str] = []
        if isinstance(node, ast.Compare) and _named(node.left):
            strings = [s for c in node.comparators for s in _strings(c)]
        if (  # col(Outbox.status).in_((...)) in a query
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("in_", "not_in")
            and _named(node.func.value)
        ):
            strings = [s for a in node.args for s in _strings(a)]
        written = (isinstance(node, ast.keyword) and node.arg in NAMES) or (
            isinstance(node, ast.Assign) and any(_named(t) for t in node.targets)
        )
        if written:
            strings = _strings(node.value)  # type: ignore[attr-defined]
        found += [f"{path.relative_to(SRC)}:{node.lineno}: {s!r}" for s in strings if s in STORED]
    return found


def test_no_bare_status_string_is_compared_or_written_outside_the_enums() -> None:
    files = [
        p
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts
        and p.name != "values.py"
        and str(p.relative_to(SRC)) not in OUTSIDE
    ]
    found = [hit for p in files for hit in _bare_statuses(p)]
    assert found == [], "use the StrEnum member:\n" + "\n".join(found)


def test_the_guard_sees_a_bare_status(tmp_path: Path) -> None:
    """The check above can fail: it finds comparisons, ``in_``, a keyword and an assignment."""
    probe = SRC / "_probe_for_test.py"
    sample = (
        'a.status == "pending"\nf(status="resolved")\ncase.status = "exited"\n'
        'q.where(col(Outbox.status).in_(("sent",)), col(Staff.role) != "admin")\n'
    )
    try:
        probe.write_text(sample, encoding="utf-8")
        assert len(_bare_statuses(probe)) == 5
    finally:
        probe.unlink()
