"""Clients of the Bot API emulator: the real aiogram bot pointed at it."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from cm_bot.testing import FakeBotAPI


def make_aiogram_bot(api: FakeBotAPI) -> Bot:
    """An aiogram ``Bot`` whose requests go to the emulator (close its session after)."""
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
