"""Commands by name: one small table type for the client's and the staff's commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

H = TypeVar("H")


class Registry(Generic[H]):
    """Names to handlers; a handler registers itself where it is defined.

    ``@COMMANDS.register("help")`` above a method adds it under that name, so the list
    of commands is the list of decorated methods and no ladder of ``if name == ...``
    has to be kept in step with it.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, H] = {}

    def register(self, *names: str) -> Callable[[H], H]:
        """Add the decorated handler under each of ``names``."""

        def add(handler: H) -> H:
            for name in names:
                if name in self._handlers:
                    raise ValueError(f"command {name!r} is registered twice")
                self._handlers[name] = handler
            return handler

        return add

    def get(self, name: str) -> H | None:
        """The handler of ``name``; ``None`` for a command nobody registered."""
        return self._handlers.get(name)

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._handlers)


__all__ = ["Registry"]
