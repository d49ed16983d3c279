"""The console in a real Chromium, driven by Playwright (issue 16, "Done when").

The console is served by uvicorn in a thread, on a free port, against this test's
database (the ``console`` and ``browser`` fixtures: tests/web/browser_support.py); the
Telegram side is the real bot against the Bot API emulator. Chromium is the system one
(``/usr/bin/chromium``; Playwright's own download cannot be fetched here). Without
Chromium or Playwright the tests are skipped, unless CI is set: then they fail.

Set ``CM_BOT_SHOTS`` to a directory to save screenshots of ``/flags`` there (phone and
desktop widths).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

import pytest

from cm_bot.bootstrap import App, build_telegram
from cm_bot.domain import Severity
from cm_bot.domain.time import ManualClock
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag
from cm_bot.testing import FakeBotAPI
from tests.support.telegram import QUICK, WAIT, Bot
from tests.web.browser_support import Console, open_link, require_browser
from tests.web.conftest import add_case, add_flag, add_staff, make_app


@pytest.fixture(autouse=True)
def _need_a_browser() -> None:
    require_browser()  # skipped without Chromium or Playwright (failed when CI is set)


def _status(cm: App, flag_id: int) -> str:
    with transaction(cm.db) as session:
        flag = session.get(Flag, flag_id)
        assert flag is not None
        return flag.status


async def test_a_sign_in_link_works_once(console: Console, cm: App, browser: Any) -> None:
    maria = add_staff(cm, "Maria")
    link = console.link(maria)

    first = await browser.new_page()
    await first.goto(link)  # what a link preview does: nothing is spent
    assert await first.get_by_role("button", name="Open the console").is_visible()
    await open_link(first, link)
    assert first.url == f"{console.url}/flags"
    assert await first.locator("h1").inner_text() == "Open flags"

    other = await (await browser.new_context()).new_page()  # another browser, same link
    await other.goto(link)
    assert other.url == f"{console.url}/signin?refused=1"
    assert "already been used" in await other.locator("main").inner_text()
    await other.goto(f"{console.url}/flags")
    assert other.url == f"{console.url}/signin"


async def test_acknowledging_in_the_browser_edits_the_telegram_notice(
    console: Console, cm: App, browser: Any, database_url: str
) -> None:
    api = FakeBotAPI()
    await api.start()
    bot_app = make_app(database_url, telegram_token=api.token, telegram_api_url=api.base_url)
    runtime = build_telegram(bot_app)
    runtime.sender.limits = QUICK
    runtime.sender.limiter.limits = QUICK
    bot = Bot(bot_app, runtime, api, "aiogram")
    try:
        await bot.start_polling()
        maria = add_staff(cm, "Maria", telegram="5550201")
        flag_id = add_flag(cm, add_case(cm, "Maria"), reason="Not safe at home")
        runtime.sender.wake()
        [notice] = await api.wait_for_sent(1, chat_id=5550201, timeout=WAIT)

        page = await browser.new_page()
        await console.sign_in(page, maria)
        card = page.locator(f"#flag-{flag_id}")
        assert "Open: nobody has acknowledged it yet" in await card.inner_text()
        await card.get_by_role("button", name="Acknowledge").click()
        await page.wait_for_url(f"{console.url}/flags*")

        assert "Acknowledged by Maria" in await page.locator(f"#flag-{flag_id}").inner_text()
        assert _status(cm, flag_id) == "acknowledged"
        runtime.sender.wake()  # the running bot also looks every second on its own
        [edit] = await api.wait_for_edits(1, chat_id=5550201, timeout=WAIT)
        assert edit.message_id == notice.message_id
        assert "acknowledged" in edit.text.lower()
    finally:
        await bot.stop()
        bot_app.close()
        await api.stop()


async def test_a_post_without_the_csrf_token_is_refused(
    console: Console, cm: App, browser: Any
) -> None:
    maria = add_staff(cm, "Maria")
    flag_id = add_flag(cm, add_case(cm, "Maria"), notify=False)
    page = await browser.new_page()
    await console.sign_in(page, maria)
    card = page.locator(f"#flag-{flag_id}")
    # A forged form: the page's own form with the token replaced.
    await card.locator('form[action$="/ack"] input[name="csrf"]').evaluate(
        "input => { input.value = 'forged' }"
    )
    async with page.expect_response(re.compile(r"/ack$")) as answer:
        await card.get_by_role("button", name="Acknowledge").click()
    assert (await answer.value).status == 403
    assert "Not allowed" in await page.locator("h1").inner_text()
    assert _status(cm, flag_id) == "open"


async def test_an_expired_session_goes_back_to_sign_in(
    console: Console, cm: App, clock: ManualClock, browser: Any
) -> None:
    page = await browser.new_page()
    await console.sign_in(page, add_staff(cm, "Maria"))
    assert page.url == f"{console.url}/flags"
    clock.advance(timedelta(minutes=30))
    await page.reload()
    assert page.url == f"{console.url}/signin"
    assert "/console" in await page.locator("main").inner_text()


async def test_a_clients_script_shows_as_text_in_the_browser(
    console: Console, cm: App, browser: Any
) -> None:
    maria = add_staff(cm, "Maria")
    flag_id = add_flag(
        cm, add_case(cm, "Maria"), reason="<script>document.title='owned'</script>", notify=False
    )
    page = await browser.new_page()
    await console.sign_in(page, maria)
    reason = page.locator(f"#flag-{flag_id} .reason")
    assert await reason.inner_text() == "<script>document.title='owned'</script>"
    assert await page.title() != "owned"


async def test_screenshots_of_the_flags_page(console: Console, cm: App, browser: Any) -> None:
    """Phone and desktop widths; saved to $CM_BOT_SHOTS when set (for the README)."""
    sam = add_staff(cm, "Sam", "supervisor")
    add_staff(cm, "Maria", telegram="5550301")
    add_staff(cm, "Omar")
    marias, omars = add_case(cm, "Maria"), add_case(cm, "Omar")
    add_flag(cm, marias, reason="Said they do not feel safe at home")
    add_flag(cm, omars, severity=Severity.HIGH, reason="PHQ-9 score 16 (moderately severe)")
    cm.clock.advance(timedelta(hours=3))  # type: ignore[attr-defined]
    acknowledged = add_flag(cm, marias, severity=Severity.HIGH, reason="GAD-7 score 12")
    add_flag(cm, omars, severity=Severity.ROUTINE, reason="Asked to talk to a person")
    cm.clock.advance(timedelta(minutes=42))  # type: ignore[attr-defined]
    with cm.store.unit() as uow:
        uow.flags.act_on_flag(acknowledged, "acknowledged", sam, uow.now)
    shots = os.environ.get("CM_BOT_SHOTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
    for name, width, height in (("flags-phone", 390, 844), ("flags", 1280, 900)):
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await console.sign_in(page, sam)
        assert await page.locator("li.flag").count() == 4
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        if shots:
            await page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=True)
            # The resolve form, opened: a note field and its button.
            await page.locator("li.flag summary").first.click()
            await page.locator("li.flag").first.screenshot(
                path=os.path.join(shots, f"{name}-resolve.png")
            )
        await context.close()
