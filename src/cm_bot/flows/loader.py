"""Load flow files and check them as a whole, reporting every problem as ``path:line: message``.

Why so strict: a program admin edits these files without touching Python, and a
mistake found at load time is a line in ``cm-bot flows check``; found in
production it is a client stuck on a question at night.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cm_bot.domain.errors import RefusedError
from cm_bot.flows.conditions import ExpressionError, check
from cm_bot.flows.schema import (
    END,
    ChoiceStep,
    DateStep,
    Flow,
    FlowKind,
    IntegerStep,
    MessageStep,
    ScaleStep,
    YesNoStep,
)

Path_ = tuple[str | int, ...]

MAX_SCALE_BUTTONS = 11


@dataclass(frozen=True, slots=True)
class FlowProblem:
    """One problem in a flow file, located by line."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class FlowDefinitionError(RefusedError):
    """One or more flow files are invalid; ``problems`` lists each with its line."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Lines:
    """Line numbers of every mapping key and sequence item in a YAML document."""

    def __init__(self, node: yaml.Node | None) -> None:
        self._lines: dict[Path_, int] = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                self._lines[child] = key.start_mark.line + 1
                self._walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Iterable[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that exists in the file."""
        found = 1
        current: Path_ = ()
        for part in path:
            candidate = (*current, part)
            if candidate in self._lines:
                current = candidate
                found = self._lines[candidate]
            # pydantic adds union tags (e.g. 'choice') to locations: skip what the file lacks
        return self._lines.get(current, found)


def _read(path: Path) -> tuple[Any, _Lines]:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return data, _Lines(yaml.compose(text, Loader=yaml.SafeLoader))


M = TypeVar("M", bound=BaseModel)


def load_document(
    path: Path,
    model: type[M],
    *,
    shape: str,
    semantic: Callable[[M], Iterable[tuple[Path_, str]]],
) -> M:
    """Read one YAML file into ``model`` and check it; every problem as ``path:line``.

    Shared by flow files and the program file: YAML errors, the wrong shape, schema
    errors and ``semantic`` problems all become :class:`FlowDefinitionError` by line.
    """
    where = str(path)
    try:
        data, lines = _read(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise FlowDefinitionError([FlowProblem(where, line, f"not valid YAML: {exc}")]) from None
    except OSError as exc:
        raise FlowDefinitionError([FlowProblem(where, 1, f"cannot read: {exc}")]) from None
    if not isinstance(data, dict):
        raise FlowDefinitionError([FlowProblem(where, 1, shape)])
    try:
        document = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [part for part in error["loc"] if isinstance(part, str | int)]
            field = ".".join(str(p) for p in loc)
            problems.append(FlowProblem(where, lines.line(loc), f"{field}: {error['msg']}"))
        raise FlowDefinitionError(problems) from None
    problems = [FlowProblem(where, lines.line(loc), msg) for loc, msg in semantic(document)]
    if problems:
        raise FlowDefinitionError(problems)
    return document


def load_flow(path: Path) -> Flow:
    """Load and fully check one flow file; :class:`FlowDefinitionError` lists every problem."""
    return load_document(
        path,
        Flow,
        shape="a flow file is a mapping with id, steps ...",
        semantic=_semantic_problems,
    )


def _targets(flow: Flow, index: int) -> Iterator[tuple[Path_, str]]:
    step = flow.steps[index]
    if step.next is None:
        yield ("steps", index), flow.following(step.id)
    elif isinstance(step.next, str):
        yield ("steps", index, "next"), step.next
    else:
        for b, branch in enumerate(step.next):
            yield ("steps", index, "next", b, "goto"), branch.goto
    if step.skip_if is not None and step.next is None:
        yield ("steps", index, "skip_if"), flow.following(step.id)


def _expressions(flow: Flow) -> Iterator[tuple[Path_, str]]:
    for i, step in enumerate(flow.steps):
        if step.skip_if:
            yield ("steps", i, "skip_if"), step.skip_if
        if isinstance(step.next, list):
            for b, branch in enumerate(step.next):
                if branch.when:
                    yield ("steps", i, "next", b, "when"), branch.when
    for s, score in enumerate(flow.scores):
        if score.expr:
            yield ("scores", s, "expr"), score.expr
    for f, rule in enumerate(flow.flags):
        yield ("flags", f, "when"), rule.when


def _semantic_problems(flow: Flow) -> Iterator[tuple[Path_, str]]:
    ids: dict[str, int] = {}
    keys: dict[str, int] = {}
    for i, step in enumerate(flow.steps):
        if step.id == END:
            yield ("steps", i, "id"), f"'{END}' is reserved for the end of the flow"
        if step.id in ids:
            yield ("steps", i, "id"), f"duplicate step id '{step.id}'"
        ids.setdefault(step.id, i)
        if not isinstance(step, MessageStep):
            if step.key in keys:
                yield (
                    ("steps", i, "key"),
                    (
                        f"duplicate store key '{step.key}' "
                        f"(also step {flow.steps[keys[step.key]].id})"
                    ),
                )
            keys.setdefault(step.key, i)
        yield from _step_problems(step, i)

    if flow.start is not None and flow.start not in ids:
        yield ("start",), f"start step '{flow.start}' does not exist"

    edges: dict[str, set[str]] = {s.id: set() for s in flow.steps}
    for i, step in enumerate(flow.steps):
        for loc, target in _targets(flow, i):
            if target != END and target not in ids:
                yield loc, f"unknown step '{target}'"
            edges[step.id].add(target)
        if isinstance(step.next, list) and step.next[-1].when is not None:
            yield (
                ("steps", i, "next"),
                (
                    "dead end: the last branch has a 'when', so no branch may match; "
                    "end the list with a plain 'goto'"
                ),
            )
    reachable = _reachable(flow.start_step, edges)
    for i, step in enumerate(flow.steps):
        if step.id not in reachable:
            yield ("steps", i, "id"), f"step '{step.id}' can never be reached"
    if END not in reachable and flow.start_step in ids:
        yield ("steps",), "the flow never reaches its end"

    score_ids = {s.id for s in flow.scores}
    yield from _score_problems(flow)
    for index, declared in enumerate(flow.scores):
        for item, key in declared.items.items():
            if key not in keys:
                yield ("scores", index, "items", item), f"unknown answer key '{key}'"
    for loc, expression in _expressions(flow):
        try:
            refs = check(expression)
        except ExpressionError as exc:
            yield loc, str(exc)
            continue
        for key in sorted(refs.answers - keys.keys()):
            yield loc, f"unknown answer key '{key}'"
        for score in sorted(refs.scores - score_ids):
            yield loc, f"unknown score '{score}'"

    flag_ids: set[str] = set()
    for f, rule in enumerate(flow.flags):
        if rule.id in flag_ids:
            yield ("flags", f, "id"), f"duplicate flag rule '{rule.id}'"
        flag_ids.add(rule.id)

    yield from _consent_problems(flow, ids)


def _step_problems(step: Any, i: int) -> Iterator[tuple[Path_, str]]:
    if isinstance(step, ChoiceStep):
        seen: set[str] = set()
        for o, option in enumerate(step.options):
            if str(option.value) in seen:
                yield ("steps", i, "options", o), f"duplicate option value '{option.value}'"
            seen.add(str(option.value))
            if option.exclusive and not step.multiple:
                yield ("steps", i, "options", o), "'exclusive' only makes sense with 'multiple'"
    elif isinstance(step, ScaleStep):
        if step.min >= step.max:
            yield ("steps", i, "max"), "scale max must be greater than min"
        elif step.max - step.min + 1 > MAX_SCALE_BUTTONS:
            yield ("steps", i, "max"), f"a scale has at most {MAX_SCALE_BUTTONS} points"
    elif isinstance(step, IntegerStep):
        if step.min > step.max:
            yield ("steps", i, "max"), "max must not be less than min"
    elif isinstance(step, DateStep):
        if step.past_only and step.future_only:
            yield ("steps", i, "past_only"), "a date cannot be both past_only and future_only"
        if step.not_before and step.not_after and step.not_before > step.not_after:
            yield ("steps", i, "not_after"), "not_after is before not_before"


def _score_problems(flow: Flow) -> Iterator[tuple[Path_, str]]:
    from cm_bot.scoring import INSTRUMENTS  # the same scorers `cm-bot score` uses

    seen: set[str] = set()
    for s, score in enumerate(flow.scores):
        if score.id in seen:
            yield ("scores", s, "id"), f"duplicate score '{score.id}'"
        seen.add(score.id)
        if (score.instrument is None) == (score.expr is None):
            yield ("scores", s), "a score has exactly one of 'instrument' or 'expr'"
        if score.instrument is not None:
            if score.instrument not in INSTRUMENTS:
                yield (
                    ("scores", s, "instrument"),
                    (f"unknown instrument '{score.instrument}' (known: {', '.join(INSTRUMENTS)})"),
                )
            if score.bands:
                yield ("scores", s, "bands"), "an instrument's bands come from its scorer"
        maxima = [b.max for b in score.bands]
        if any(m is None for m in maxima[:-1]):
            yield ("scores", s, "bands"), "only the last band may be open-ended"
        bounded = [m for m in maxima if m is not None]
        if bounded != sorted(bounded) or len(set(bounded)) != len(bounded):
            yield ("scores", s, "bands"), "band maxima must increase"


def _consent_problems(flow: Flow, ids: Mapping[str, int]) -> Iterator[tuple[Path_, str]]:
    if flow.purposes and flow.kind is not FlowKind.CONSENT:
        yield ("purposes",), "only a consent flow declares purposes"
    if flow.kind is FlowKind.CONSENT and not any(p.required for p in flow.purposes):
        yield ("kind",), "a consent flow needs at least one required purpose"
    for p, purpose in enumerate(flow.purposes):
        if purpose.step not in ids:
            yield ("purposes", p, "step"), f"unknown step '{purpose.step}'"
        elif not isinstance(flow.steps[ids[purpose.step]], YesNoStep):
            yield ("purposes", p, "step"), "a consent purpose is recorded by a yesno step"


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(edges.get(current, ()))
    return seen


class FlowRegistry:
    """Every loaded flow by id: the engine's read-only view of ``conversations/``."""

    def __init__(self, flows: Iterable[Flow]) -> None:
        self._flows = {flow.id: flow for flow in flows}

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._flows

    def __iter__(self) -> Iterator[Flow]:
        return iter(self._flows.values())

    def get(self, flow_id: str) -> Flow:
        """Return a flow by id; ``KeyError`` if it is not loaded."""
        return self._flows[flow_id]

    def of_kind(self, kind: FlowKind) -> list[Flow]:
        """Flows of one kind, in id order."""
        return sorted((f for f in self._flows.values() if f.kind is kind), key=lambda f: f.id)


PROGRAM_FILE_NAMES = frozenset({"program.yaml", "program.yml"})


def flow_files(path: Path) -> list[Path]:
    """The flow files at ``path``: the file itself, or every ``*.yaml``/``*.yml`` in a folder.

    A folder's ``program.yaml`` describes the program (:mod:`cm_bot.program`), not a flow.
    """
    if path.is_dir():
        found = [*path.glob("*.yaml"), *path.glob("*.yml")]
        return sorted(p for p in found if p.name not in PROGRAM_FILE_NAMES)
    return [path]


def load_flows(path: Path) -> FlowRegistry:
    """Load every flow under ``path``; raise one :class:`FlowDefinitionError` with all problems."""
    problems: list[FlowProblem] = []
    flows: list[Flow] = []
    first_file: dict[str, str] = {}
    files = flow_files(path)
    if not files or not path.exists():
        raise FlowDefinitionError([FlowProblem(str(path), 1, "no flow files found")])
    for file in files:
        try:
            flow = load_flow(file)
        except FlowDefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if flow.id in first_file:
            problems.append(
                FlowProblem(
                    str(file), 1, f"flow id '{flow.id}' is also used by {first_file[flow.id]}"
                )
            )
            continue
        first_file[flow.id] = str(file)
        flows.append(flow)
    problems.extend(_reuse_problems(flows, first_file))
    if problems:
        raise FlowDefinitionError(problems)
    return FlowRegistry(flows)


def _reuse_problems(flows: list[Flow], files: Mapping[str, str]) -> Iterator[FlowProblem]:
    """A question that takes another flow's answer names a flow and a key that exist."""
    keys = {f.id: {s.key for s in f.steps if not isinstance(s, MessageStep)} for f in flows}
    for flow in flows:
        lines: _Lines | None = None
        for index, step in enumerate(flow.steps):
            reuse = getattr(step, "reuse", None)
            if reuse is None:
                continue
            if reuse.flow in keys and reuse.key in keys[reuse.flow]:
                continue
            if lines is None:
                lines = _read(Path(files[flow.id]))[1]
            where = ("steps", index, "reuse")
            message = (
                f"reuse: unknown flow '{reuse.flow}'"
                if reuse.flow not in keys
                else f"reuse: flow '{reuse.flow}' has no answer key '{reuse.key}'"
            )
            yield FlowProblem(files[flow.id], lines.line(where), message)


__all__ = [
    "PROGRAM_FILE_NAMES",
    "FlowDefinitionError",
    "FlowProblem",
    "FlowRegistry",
    "flow_files",
    "load_document",
    "load_flow",
    "load_flows",
]
