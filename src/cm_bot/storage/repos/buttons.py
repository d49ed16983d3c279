"""Button payloads: random tokens bound to a client's prompt, or to a staff member."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select

from cm_bot.engine.ports import Token
from cm_bot.storage.models import PromptToken
from cm_bot.storage.repos.base import TOKEN, Repo

_CLIENT_TOKENS = select(
    TOKEN.c.id, TOKEN.c.token, TOKEN.c.run_id, TOKEN.c.prompt_seq, TOKEN.c.value_key
).where(TOKEN.c.client_id == bindparam("client_id"))
_DELETE_TOKENS = delete(TOKEN).where(TOKEN.c.id.in_(bindparam("ids", expanding=True)))
_DELETE_STALE_TOKENS = delete(TOKEN).where(
    TOKEN.c.client_id == bindparam("client_id"),
    or_(
        TOKEN.c.run_id.is_(None),
        TOKEN.c.run_id != bindparam("run_id"),
        TOKEN.c.prompt_seq < bindparam("prompt_seq"),
    ),
)
_ADD_TOKENS = insert(TOKEN)
_MENU_VALUES = (
    select(TOKEN.c.value)
    .where(
        TOKEN.c.client_id == bindparam("client_id"),
        TOKEN.c.run_id.is_(None),
        TOKEN.c.staff_id.is_(None),
    )
    .order_by(TOKEN.c.id)
)
_FORGET_BUTTONS = delete(TOKEN).where(
    TOKEN.c.client_id == bindparam("client_id"), TOKEN.c.run_id.is_(None)
)
_RESOLVE_TOKEN = (
    select(
        TOKEN.c.client_id,
        TOKEN.c.run_id,
        TOKEN.c.prompt_seq,
        TOKEN.c.value,
        TOKEN.c.staff_id,
    )
    .where(TOKEN.c.token == bindparam("token"))
    .limit(1)
)


class SqlButtons(Repo):
    """Implements :class:`cm_bot.engine.ports.ButtonsRepo`."""

    def tokens(
        self,
        client_id: int,
        run_id: int | None,
        prompt_seq: int,
        values: Sequence[Any],
        *,
        new_prompt: bool = False,
    ) -> list[str]:
        """Random payloads bound to this client and prompt; stable while the prompt stands.

        At most one read of the client's buttons, one delete of the stale ones and one
        batched insert, however many buttons the prompt has; a new prompt skips the read.
        """
        if not values:
            return []
        keys = [_value_key({"r": run_id, "s": prompt_seq, "v": value}) for value in values]
        issued: dict[str, str] = {}
        if new_prompt and run_id is not None:
            retire: tuple[Any, dict[str, Any]] | None = (
                _DELETE_STALE_TOKENS,
                {"client_id": client_id, "run_id": run_id, "prompt_seq": prompt_seq},
            )
        else:
            stale: list[int] = []
            for row in self._sql(_CLIENT_TOKENS, {"client_id": client_id}):
                issued[row.value_key] = row.token
                if row.run_id is None or row.run_id != run_id or row.prompt_seq < prompt_seq:
                    stale.append(row.id)
            retire = (_DELETE_TOKENS, {"ids": stale}) if run_id is not None and stale else None
        new: dict[str, Any] = {}
        for key, value in zip(keys, values, strict=True):
            if key not in issued and key not in new:
                new[key] = value
        if not new:
            return [issued[key] for key in keys]
        if retire is not None:
            # Buttons of earlier prompts (and of answered confirmations) stop working:
            # "that question has closed".
            self._change(*retire, PromptToken)
        rows = [
            {
                "token": secrets.token_urlsafe(12),
                "client_id": client_id,
                "staff_id": None,
                "run_id": run_id,
                "prompt_seq": prompt_seq,
                "value": value,
                "value_key": key,
            }
            for key, value in new.items()
        ]
        self._sql(_ADD_TOKENS, rows)
        issued.update((row["value_key"], row["token"]) for row in rows)
        return [issued[key] for key in keys]

    def menu_values(self, client_id: int) -> list[dict[str, Any]]:
        """The values of the client's buttons that belong to no question: the open menu."""
        rows = self._sql(_MENU_VALUES, {"client_id": client_id}).scalars()
        return [dict(value) for value in rows if isinstance(value, dict)]

    def forget_buttons(self, client_id: int) -> None:
        """Delete the client's question-less buttons."""
        self._change(_FORGET_BUTTONS, {"client_id": client_id}, PromptToken)

    def resolve_token(self, payload: str) -> Token | None:
        """What a payload means, if we issued it."""
        if not payload or len(payload) > 64:
            return None
        row = self._sql(_RESOLVE_TOKEN, {"token": payload}).first()
        return None if row is None else Token(*row)

    def staff_token(self, staff_id: int | None, value: Any) -> str:
        """A random payload for a staff button (flag actions); checked against the presser."""
        token = secrets.token_urlsafe(12)
        self.session.add(
            PromptToken(
                token=token,
                staff_id=staff_id,
                prompt_seq=0,
                value=value,
                value_key=f"staff:{token}",
            )
        )
        return token


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


__all__ = ["SqlButtons"]
