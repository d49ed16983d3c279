"""Fixtures for driving the real aiogram and python-telegram-bot clients against FakeBotAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram
from aiogram import Bot

from cm_bot.testing import FakeBotAPI
from tests.support.emulator import make_aiogram_bot


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as emulator:
        yield emulator


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
