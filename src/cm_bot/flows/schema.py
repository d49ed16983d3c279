"""The flow file format, as pydantic models.

A flow file is YAML; these models are its schema. English text in the file is
the gettext msgid, translated at render time. Semantic checks that need the
whole flow (step graph, expressions, store keys) live in :mod:`cm_bot.flows.loader`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cm_bot.domain import Severity

END = "end"
"""The step id that ends a flow; reserved, never a real step."""

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
KEY_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"


class FlowKind(StrEnum):
    """What a flow is for; the engine treats ``consent`` specially."""

    CONSENT = "consent"
    SCREENING = "screening"
    CHECKIN = "checkin"
    FOLLOWUP = "followup"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Branch(_Model):
    """One way out of a step: taken when ``when`` holds (always, if absent)."""

    when: str | None = None
    goto: str


class _StepBase(_Model):
    id: str = Field(pattern=STEP_ID_PATTERN)
    text: str = Field(min_length=1)
    note: str | None = None  # a comment for translators
    skip_if: str | None = None
    next: str | list[Branch] | None = None


class Reuse(_Model):
    """Take the answer another flow already got, instead of asking the same thing twice."""

    flow: str = Field(pattern=STEP_ID_PATTERN)  # the flow that asked it ...
    key: str = Field(pattern=KEY_PATTERN)  # ... and its answer key
    note: str = Field(min_length=1)  # provenance, e.g. "taken from the food questions"


class _QuestionBase(_StepBase):
    key: str = Field(pattern=KEY_PATTERN)
    skippable: bool = False
    # Asked only when the client has no answer to ``reuse.key`` from a finished run of
    # ``reuse.flow`` that this question accepts (an answer it has no option for is asked).
    reuse: Reuse | None = None


class MessageStep(_StepBase):
    """Say something and move on without waiting."""

    type: Literal["message"]


class Option(_Model):
    """One button of a choice step; ``value`` is what is stored."""

    value: str | int
    label: str = Field(min_length=1)
    exclusive: bool = False  # in a multi-select, cannot be combined with others
    # Translator context (gettext msgctxt) for a label whose English is shared with a
    # different meaning elsewhere: "Not at all" as a frequency vs as an amount of stress.
    context: str | None = Field(default=None, min_length=1)


class ChoiceStep(_QuestionBase):
    """Pick one (or, with ``multiple``, several) of a fixed set of options."""

    type: Literal["choice"]
    options: list[Option] = Field(min_length=1)
    multiple: bool = False


class YesNoStep(_QuestionBase):
    """A yes/no question; stores ``true`` or ``false``."""

    type: Literal["yesno"]


class ScaleStep(_QuestionBase):
    """A small integer scale shown as buttons, with labelled ends."""

    type: Literal["scale"]
    min: int = 0
    max: int = 10
    min_label: str | None = None
    max_label: str | None = None


class IntegerStep(_QuestionBase):
    """A whole number typed by the client, within a range."""

    type: Literal["integer"]
    min: int
    max: int


class TextStep(_QuestionBase):
    """Free text with a length limit (counted as Telegram counts: UTF-16 units)."""

    type: Literal["text"]
    max_length: int = Field(default=500, ge=1, le=4000)


class DateStep(_QuestionBase):
    """A calendar date typed as YYYY-MM-DD or DD.MM.YYYY; optionally bounded."""

    type: Literal["date"]
    not_before: dt.date | None = None
    not_after: dt.date | None = None
    past_only: bool = False
    future_only: bool = False


Step = Annotated[
    MessageStep | ChoiceStep | YesNoStep | ScaleStep | IntegerStep | TextStep | DateStep,
    Field(discriminator="type"),
]
QuestionStep = ChoiceStep | YesNoStep | ScaleStep | IntegerStep | TextStep | DateStep


class Band(_Model):
    """A score band: the first band whose ``max`` is not exceeded wins."""

    max: float | None = None  # None: no upper bound (the last band)
    band: str


class Score(_Model):
    """A score computed from answers: a published instrument, or an expression with bands."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    instrument: str | None = None
    items: dict[str, str] = Field(default_factory=dict)  # instrument item id -> this flow's key
    expr: str | None = None
    bands: list[Band] = Field(default_factory=list)


class FlagRule(_Model):
    """Raise a flag for a human when ``when`` holds; at most once per run of the flow."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    when: str
    severity: Severity
    reason: str = Field(min_length=1)
    message: str | None = None  # said to the client at once
    then: Literal["continue", "end"] = "continue"
    # The program's resources told with an urgent flag's message (cm_bot.program kinds).
    # An urgent rule without this list tells the emergency and crisis resources.
    resources: list[Literal["emergency", "crisis", "violence", "other"]] | None = None


class ConsentPurpose(_Model):
    """A consent decision: the yes/no step that records it and whether it is required."""

    step: str
    purpose: str = Field(pattern=STEP_ID_PATTERN)
    required: bool = True


class Flow(_Model):
    """One conversation: a list of steps walked from ``start``."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    version: int = Field(ge=1)
    kind: FlowKind
    title: str = Field(min_length=1)
    start: str | None = None
    steps: list[Step] = Field(min_length=1)
    scores: list[Score] = Field(default_factory=list)
    flags: list[FlagRule] = Field(default_factory=list)
    purposes: list[ConsentPurpose] = Field(default_factory=list)
    followup_days: list[int] = Field(default_factory=list)

    @field_validator("followup_days")
    @classmethod
    def _positive_days(cls, days: list[int]) -> list[int]:
        if any(d <= 0 for d in days):
            raise ValueError("follow-up days must be positive")
        return days

    @property
    def start_step(self) -> str:
        """The id of the first step walked."""
        return self.start or self.steps[0].id

    def step(self, step_id: str) -> MessageStep | QuestionStep:
        """Return the step with this id; ``KeyError`` if there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def following(self, step_id: str) -> str:
        """The step after ``step_id`` in file order, or ``end`` after the last."""
        ids = [s.id for s in self.steps]
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else END
