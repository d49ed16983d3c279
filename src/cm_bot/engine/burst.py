"""B-17: texts one question refuses, arriving together, get one reply between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from cm_bot.domain import Inbound
from cm_bot.i18n.translator import N_

Prompt = tuple[int, int]  # (run id, prompt seq): one asking of one question

ONE_AT_A_TIME = N_(
    "I got several messages at once. I'll take one answer at a time — please answer the "
    "question above."
)


@dataclass(slots=True)
class Burst:
    """What one :meth:`ConversationEngine.process` call told a chat about texts it could not take.

    A burst (B-17) is everything in the chat's inbox when the call starts. For each prompt it
    holds whether the "one answer at a time" note went out with it. Marks made while handling
    an update are staged and kept only once that update's transaction has committed, so a
    rolled-back update leaves no trace here.
    """

    following: Inbound | None = None  # the batch's next update, when the current one is text
    prompts: dict[Prompt, bool] = field(default_factory=dict)  # prompt -> note sent
    staged: dict[Prompt, bool] = field(default_factory=dict)

    def noted(self, prompt: Prompt) -> bool | None:
        """``None``: no text was refused at this prompt yet in this batch."""
        return self.staged.get(prompt, self.prompts.get(prompt))

    def mark(self, prompt: Prompt, *, noted: bool) -> None:
        """Stage that a text was refused at ``prompt`` (and whether the note went out)."""
        self.staged[prompt] = noted

    def committed(self) -> None:
        """The update's transaction committed: keep its marks."""
        self.prompts.update(self.staged)
        self.staged.clear()

    def rolled_back(self) -> None:
        """The update's transaction rolled back: forget its marks."""
        self.staged.clear()


__all__ = ["ONE_AT_A_TIME", "Burst", "Prompt"]
