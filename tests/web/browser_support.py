"""The console in a real Chromium: shared by the browser tests (``test_browser*.py``).

The console is served by uvicorn in a thread, on a free port, against the test's
database (:func:`serve`); Chromium is the system one (``/usr/bin/chromium``: Playwright's
own download cannot be fetched here). Without Chromium or Playwright the browser tests are
skipped, unless CI is set: then they fail (:func:`require_browser`). The fixtures
``console`` and ``browser`` (in ``tests/web/conftest.py``) are built on these.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cm_bot.bootstrap import App
from cm_bot.storage.console_sessions import issue_link
from cm_bot.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SHUTDOWN_WAIT = 10.0  # seconds for uvicorn to stop


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


def require_browser() -> None:
    """Skip the test without a browser; fail it instead when CI is set."""
    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {missing}")
    pytest.skip(f"browser tests skipped: {missing}")


@dataclass
class Console:
    """The console served over HTTP on a free port, and the App under it."""

    url: str
    cm: App

    def link(self, staff_id: int) -> str:
        """A fresh sign-in link for a staff member, at the App's clock."""
        with self.cm.store.unit() as uow:
            return f"{self.url}/login/{issue_link(uow.session, staff_id, uow.now)}"

    async def sign_in(self, page: Any, staff_id: int) -> None:
        """Open a fresh link in ``page`` and press its button, as the person would."""
        await open_link(page, self.link(staff_id))


async def open_link(page: Any, link: str) -> None:
    """Open a sign-in link and press "Open the console" (opening alone spends nothing)."""
    await page.goto(link)
    await page.get_by_role("button", name="Open the console").click()
    await page.wait_for_url(re.compile(r".*/flags$"))


@contextlib.contextmanager
def serve(cm: App) -> Iterator[Console]:
    """uvicorn in a thread, listening before the thread starts (so no waiting for it)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(cm), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Console(f"http://127.0.0.1:{port}", cm)
    finally:
        server.should_exit = True
        thread.join(timeout=SHUTDOWN_WAIT)
        sock.close()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless system Chromium (skipped or failed first when there is none)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(
    browser: Any, console: Console, staff_id: int, viewport: dict[str, int] | None = None
) -> Any:
    """A page in a browser context of its own, signed in as ``staff_id`` (on /flags)."""
    context = await browser.new_context(viewport=viewport or DESKTOP)
    page = await context.new_page()
    await page.goto(console.link(staff_id))
    await page.locator('form[action^="/login/"] button').click()  # in any language
    await page.wait_for_url(re.compile(r".*/flags$"))
    return page


__all__ = [
    "CHROMIUM",
    "DESKTOP",
    "PHONE",
    "Console",
    "browser_missing",
    "chromium",
    "open_link",
    "require_browser",
    "serve",
    "signed_in",
]
