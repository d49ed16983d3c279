"""Fixtures for driving the real aiogram and python-telegram-bot clients against FakeBotAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from cm_bot.testing import FakeBotAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as emulator:
        yield emulator


def make_aiogram_bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


@pytest.fixture
async def aiogram_bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_aiogram_bot(api)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def ptb_bot(api: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(api.token, base_url=f"{api.base_url}/bot") as bot:
        yield bot
