"""Telegram's side of the conversation: who and where everyone is, and the update queue."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cm_bot.testing.botapi.errors import ApiError
from cm_bot.testing.botapi.records import JSONDict, Records
from cm_bot.testing.botapi.signals import Signals

# Update types Telegram leaves out unless they are asked for explicitly.
_OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class World:
    """Users, chats, messages (in their current state), callback queries and command menus.

    Attributes:
        bot_user: The bot as a Telegram ``User``; hand out copies.
        users: Users by id, as their last update described them.
        chats: Chats by id.
        messages: Every message by ``(chat_id, message_id)``, after edits.
        callback_queries: Callback queries by id, until the bot answers them.
        menus: Stored command lists by ``(scope as JSON, language code)``.
    """

    def __init__(self, bot_user: JSONDict, *, strict_chats: bool) -> None:
        self.bot_user = bot_user
        self._strict_chats = strict_chats
        self.users: dict[int, JSONDict] = {}
        self.chats: dict[int, JSONDict] = {}
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self.callback_queries: dict[str, JSONDict] = {}
        self._next_callback_id = 1
        self.menus: dict[tuple[str, str], list[JSONDict]] = {}

    def take_message_id(self, chat_id: int) -> int:
        """The next message id in ``chat_id`` (ids count per chat, as in private chats)."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def take_callback_id(self) -> str:
        """A fresh callback query id, shaped like Telegram's."""
        query_id = str(4_000_000_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        return query_id

    def remember_user(
        self, user_id: int, *, first_name: str, username: str | None, language_code: str | None
    ) -> JSONDict:
        """Describe a user the way their next update will carry them."""
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self.users[user_id] = user
        return user

    def chat_for(self, user: JSONDict, chat_id: int | None, chat_type: str | None) -> JSONDict:
        """The chat ``user`` writes in (None ``chat_type``: an existing or synthesised chat)."""
        user_id = int(user["id"])
        if chat_type is None:
            assert chat_id is not None
            return self.chats.get(chat_id) or self.synth_chat(chat_id)
        if chat_type == "private":
            chat: JSONDict = {"id": user_id if chat_id is None else chat_id, "type": "private"}
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        else:
            if chat_id is None:
                chat_id = -user_id if chat_type == "group" else int(f"-100{user_id}")
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type}"}
        self.chats[int(chat["id"])] = chat
        return chat

    @staticmethod
    def synth_chat(chat_id: int) -> JSONDict:
        """A plausible chat for an id no update introduced, typed by the id's shape."""
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": "Supergroup"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def chat(self, chat_id: int) -> JSONDict:
        """The chat a method addresses (``strict_chats``: only chats updates introduced)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            if self._strict_chats:
                raise ApiError(400, "Bad Request: chat not found")
            chat = self.chats[chat_id] = self.synth_chat(chat_id)
        return chat

    @staticmethod
    def menu_key(scope: Any, language_code: Any) -> tuple[str, str]:
        """The key a command menu is stored under."""
        scope_ = dict(scope) if isinstance(scope, Mapping) else {"type": "default"}
        chat_id = scope_.get("chat_id")
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            scope_["chat_id"] = int(chat_id)  # "42" and 42 name the same chat, as in Telegram
        return json.dumps(scope_, sort_keys=True), str(language_code or "")

    def menu(self, scope: Any, language_code: Any) -> list[JSONDict]:
        """The commands stored for a scope and language (a copy of the list)."""
        return list(self.menus.get(self.menu_key(scope, language_code), []))


@dataclass
class Queued:
    """An update waiting to be confirmed; ``delivered`` once a poll has returned it."""

    update: JSONDict
    delivered: bool = False


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _is_allowed(kind: str, allowed: Sequence[str] | None) -> bool:
    if not allowed:
        return kind not in _OPT_IN_UPDATES
    return kind in allowed


class UpdateQueue:
    """Updates for the bot, in order, until a poll's ``offset`` confirms them.

    Attributes:
        entries: Queued updates, oldest first.
        allowed_updates: The bot's last ``allowed_updates``, None until it sends one.
        poll_generation: Bumped by every getUpdates; an older waiting poll then ends.
        polls_waiting: getUpdates requests long-polling right now.
    """

    def __init__(self, signals: Signals, records: Records, first_update_id: int) -> None:
        self._signals = signals
        self._records = records
        self.entries: list[Queued] = []
        self.next_update_id = first_update_id
        self.allowed_updates: list[str] | None = None
        self.poll_generation = 0
        self.polls_waiting = 0

    def take_update_id(self) -> int:
        """The id of the next update."""
        update_id = self.next_update_id
        self.next_update_id += 1
        return update_id

    def enqueue(self, update: JSONDict, *, force: bool = False) -> JSONDict:
        """Queue ``update``, or record it as filtered when ``allowed_updates`` exclude it."""
        if not force and not _is_allowed(_update_type(update), self.allowed_updates):
            self._records.filtered_updates.append(update)
            self._signals.state_changed()
            return update
        self.entries.append(Queued(update))
        self._signals.updates_changed()
        return update

    def clear(self) -> None:
        """Drop every pending update (``drop_pending_updates``)."""
        self.entries.clear()

    def confirm(self, offset: int | None) -> None:
        """Apply getUpdates' ``offset``.

        A positive offset confirms the *delivered* updates with a lower id. Confirming by
        delivery rather than by comparing numbers is what keeps updates coming when Telegram
        restarts the id sequence lower (ids going backwards): the new, smaller ids were never
        delivered, so the client's old, larger offset does not swallow them.
        """
        if offset is None or offset == 0:
            return
        before = len(self.entries)
        if offset < 0:
            self.entries = self.entries[offset:]
        else:
            self.entries = [
                entry
                for entry in self.entries
                if not (entry.delivered and int(entry.update["update_id"]) < offset)
            ]
        if len(self.entries) != before:
            self._signals.state_changed()
