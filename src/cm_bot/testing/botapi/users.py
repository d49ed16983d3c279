"""What users do, as updates for the bot: write, tap buttons, block the bot."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

from cm_bot.domain.text import utf16_length
from cm_bot.testing.botapi.faults import FaultPlan
from cm_bot.testing.botapi.records import JSONDict
from cm_bot.testing.botapi.state import UpdateQueue, World

_COMMAND_RE: Final = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")

# What an edited message replaces; everything else (ids, sender, chat, date) it keeps.
_CONTENT_KEYS: Final = frozenset(
    {
        "text",
        "entities",
        "caption",
        "caption_entities",
        "sticker",
        "photo",
        "voice",
        "document",
        "location",
        "contact",
        "forward_origin",
    }
)


class UserActions:
    """The users' half of :class:`~cm_bot.testing.botapi.FakeBotAPI`'s public API."""

    _world: World
    _queue: UpdateQueue
    _faults: FaultPlan

    def set_next_update_id(self, update_id: int) -> None:
        """Make the next queued update use ``update_id`` (lower ids emulate Telegram's reset)."""
        self._queue.next_update_id = update_id

    @property
    def polls_waiting(self) -> int:
        """Number of getUpdates requests long-polling right now (the bot is idle, listening)."""
        return self._queue.polls_waiting

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed, in delivery order."""
        return [entry.update for entry in self._queue.entries]

    async def post_update(self, update: Mapping[str, Any], *, force: bool = False) -> JSONDict:
        """Queue an arbitrary update, e.g. a type neither framework knows.

        Args:
            update: The update body; an explicit ``update_id`` is kept, otherwise the next
                id is assigned.
            force: Queue even if the current ``allowed_updates`` exclude its type.

        Returns:
            The update as queued.
        """
        body = dict(update)
        if "update_id" not in body:
            body = {"update_id": self._queue.take_update_id(), **body}
        return self._queue.enqueue(body, force=force)

    async def post_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: Literal["private", "group", "supergroup", "channel"] = "private",
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
        sticker: bool = False,
        photo: bool = False,
        caption: str | None = None,
        voice: bool = False,
        document: bool = False,
        location: bool | tuple[float, float] = False,
        contact: str | Mapping[str, Any] | None = None,
        forward_from: int | Mapping[str, Any] | None = None,
        edited_of: int | None = None,
    ) -> JSONDict:
        """Queue a message from a user, as Telegram would deliver it to the bot.

        A leading ``/command`` gets its ``bot_command`` entity, as Telegram adds it.

        Args:
            user_id: Sender's user id (also the chat id of a private chat).
            text: Message text.
            chat_id: Chat id; defaults to ``user_id`` for private chats, ``-user_id`` for
                groups and ``-100<user_id>`` for supergroups and channels.
            chat_type: Telegram chat type.
            language_code: Sender's client language (None to omit it).
            username: Sender's username.
            first_name: Sender's first name.
            sticker: Attach a sticker.
            photo: Attach a photo.
            caption: Caption for media.
            voice: Attach a voice note.
            document: Attach a document.
            location: Attach a location (True for a default point, or ``(lat, lon)``).
            contact: Share a contact (a phone number, or a Contact object).
            forward_from: Mark as forwarded (original sender's user id, or a MessageOrigin).
            edited_of: Send an ``edited_message`` for this earlier message id instead.

        Returns:
            The update as queued.

        Raises:
            ValueError: No content was given.
            LookupError: ``edited_of`` names an unknown message.
        """
        world = self._world
        user = world.remember_user(
            user_id, first_name=first_name, username=username, language_code=language_code
        )
        chat = world.chat_for(user, chat_id, chat_type)
        content: JSONDict = {}
        if text is not None:
            content["text"] = text
            command = _COMMAND_RE.match(text)
            if command:
                content["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_length(command.group())}
                ]
        n = self._queue.next_update_id
        if sticker:
            content["sticker"] = {
                "file_id": f"CAACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}st",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            }
        if photo:
            content["photo"] = [
                {
                    "file_id": f"AgACAgIAAxkBAAI{n}{size}",
                    "file_unique_id": f"AQAD{n}{size}",
                    "width": size,
                    "height": size,
                    "file_size": size * 40,
                }
                for size in (90, 320, 800)
            ]
        if voice:
            content["voice"] = {
                "file_id": f"AwACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}vo",
                "duration": 2,
                "mime_type": "audio/ogg",
                "file_size": 8000,
            }
        if document:
            content["document"] = {
                "file_id": f"BQACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}do",
                "file_name": "document.pdf",
                "mime_type": "application/pdf",
                "file_size": 20000,
            }
        if location is not False:
            lat, lon = (50.4501, 30.5234) if location is True else location
            content["location"] = {"latitude": lat, "longitude": lon}
        if contact is not None:
            if isinstance(contact, str):
                content["contact"] = {
                    "phone_number": contact,
                    "first_name": first_name,
                    "user_id": user_id,
                }
            else:
                content["contact"] = dict(contact)
        if caption is not None:
            content["caption"] = caption
        if not content:
            raise ValueError("post_message needs text or some media")
        if forward_from is not None:
            content["forward_origin"] = (
                dict(forward_from)
                if isinstance(forward_from, Mapping)
                else {
                    "type": "user",
                    "date": int(time.time()) - 60,
                    "sender_user": {"id": forward_from, "is_bot": False, "first_name": "Other"},
                }
            )

        chat_id_ = int(chat["id"])
        key = "channel_post" if chat_type == "channel" else "message"
        if edited_of is not None:
            original = world.messages.get((chat_id_, edited_of))
            if original is None:
                raise LookupError(f"no message {edited_of} in chat {chat_id_} to edit")
            message: JSONDict = {
                **{k: v for k, v in original.items() if k not in _CONTENT_KEYS},
                **content,
                "edit_date": int(time.time()),
            }
            key = "edited_channel_post" if chat_type == "channel" else "edited_message"
        else:
            message = {"message_id": world.take_message_id(chat_id_)}
            if chat_type == "channel":
                message["sender_chat"] = chat
            else:
                message["from"] = user
            message |= {"chat": chat, "date": int(time.time()), **content}
        world.messages[(chat_id_, int(message["message_id"]))] = message
        return self._queue.enqueue({"update_id": self._queue.take_update_id(), key: message})

    async def post_my_chat_member(
        self, user_id: int, *, blocked: bool = True, chat_id: int | None = None
    ) -> JSONDict:
        """Queue the ``my_chat_member`` update a user blocking (or unblocking) the bot causes.

        Blocking also makes every later send to the chat fail with 403, as on Telegram.

        Args:
            user_id: The user who (un)blocked the bot.
            blocked: True for block, False for unblock.
            chat_id: Chat id; defaults to the private chat with the user.

        Returns:
            The update as queued.
        """
        world = self._world
        user = world.users.get(user_id) or world.remember_user(
            user_id, first_name="Test", username=None, language_code="en"
        )
        chat = world.chat_for(user, chat_id, "private" if chat_id is None else None)
        member: JSONDict = {"user": dict(world.bot_user), "status": "member"}
        kicked: JSONDict = {"user": dict(world.bot_user), "status": "kicked", "until_date": 0}
        if blocked:
            self._faults.block(int(chat["id"]))
        else:
            self._faults.blocked.pop(int(chat["id"]), None)
        body = {
            "chat": chat,
            "from": user,
            "date": int(time.time()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        return self._queue.enqueue(
            {"update_id": self._queue.take_update_id(), "my_chat_member": body}
        )

    async def press_button(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> JSONDict:
        """Queue the ``callback_query`` a user pressing an inline button produces.

        Args:
            user_id: The user pressing.
            message_id: Message carrying the keyboard; an unknown id is sent as Telegram's
                inaccessible message (``date`` 0).
            data: The button's ``callback_data``.
            chat_id: Chat of the message; defaults to the private chat with the user.

        Returns:
            The update as queued; its ``callback_query.id`` keys :attr:`callback_answers`.
        """
        world = self._world
        user = world.users.get(user_id) or world.remember_user(
            user_id, first_name="Test", username=None, language_code="en"
        )
        chat_id_ = user_id if chat_id is None else chat_id
        message = world.messages.get((chat_id_, message_id)) or {
            "chat": world.chats.get(chat_id_) or world.synth_chat(chat_id_),
            "message_id": message_id,
            "date": 0,
        }
        query_id = world.take_callback_id()
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(7_000_000_000_000_000_000 + abs(chat_id_)),
            "data": data,
        }
        world.callback_queries[query_id] = query
        return self._queue.enqueue(
            {"update_id": self._queue.take_update_id(), "callback_query": query}
        )

    async def press_button_labelled(
        self, user_id: int, button: str, *, chat_id: int | None = None
    ) -> JSONDict:
        """Press the button labelled ``button`` on the newest message in the chat carrying one.

        What a person does when they tap a button they can see: the message is taken in
        its current state (after edits), so a button an edit removed cannot be pressed.

        Args:
            user_id: The user pressing.
            button: The button's text, exactly as shown.
            chat_id: Chat of the message; defaults to the private chat with the user.

        Returns:
            The update as queued (see :meth:`press_button`).

        Raises:
            LookupError: No message in the chat has a callback button with that label.
        """
        chat_id_ = user_id if chat_id is None else chat_id
        for (chat, message_id), message in sorted(self._world.messages.items(), reverse=True):
            if chat != chat_id_:
                continue
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            for row in rows:
                for key in row:
                    if key.get("text") == button and "callback_data" in key:
                        return await self.press_button(
                            user_id, message_id, str(key["callback_data"]), chat_id=chat_id
                        )
        raise LookupError(f"no button {button!r} in chat {chat_id_}")
