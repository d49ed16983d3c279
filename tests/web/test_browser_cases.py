"""The case pages and reports in a real Chromium, driven by Playwright (issue 16).

The console runs the shipped flows on a :class:`ManualClock` (tests/web/cases_support.py)
and is served by uvicorn in a thread (tests/web/browser_support.py). Without Chromium or
Playwright the tests are skipped, unless CI is set: then they fail.

Set ``CM_BOT_SHOTS`` to a directory to save the README's screenshots there
(``CM_BOT_SHOTS=docs/screenshots``): every page at desktop width over a realistic
caseload, and the case page at phone width; ``CM_BOT_SHOTS_LOCALES`` to save the case
page in Spanish and in Ukrainian.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from cm_bot.bootstrap import App
from cm_bot.domain import InboundKind
from cm_bot.domain.time import ManualClock
from cm_bot.scheduling import run_due
from cm_bot.storage import outbox
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, CaseNote, Flag, ScheduledContact
from tests.support.people import Person
from tests.web.browser_support import (
    DESKTOP,
    PHONE,
    Console,
    require_browser,
    serve,
    signed_in,
)
from tests.web.cases_support import (
    NOW,
    case_of,
    consent,
    console_app,
    contact,
    flag,
    ids_of,
    score,
    staff,
)

TAP = 44  # px: the smallest tap target a phone page may have
PHQ_20 = [  # PHQ-9 answers adding up to 20 (severe), item 9 "Not at all"
    "Nearly every day",
    "Nearly every day",
    "Nearly every day",
    "Nearly every day",
    "More than half the days",
    "More than half the days",
    "More than half the days",
    "More than half the days",
    "Not at all",
]


@pytest.fixture(autouse=True)
def _need_a_browser() -> None:
    require_browser()  # skipped without Chromium or Playwright (failed when CI is set)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    """The shipped flows and translations at :data:`NOW` on a ManualClock."""
    with console_app(database_url) as application:
        yield application


@pytest.fixture
def site(app: App) -> Iterator[Console]:
    """``app``'s console, served over HTTP."""
    with serve(app) as served:
        yield served


def clock_of(app: App) -> ManualClock:
    clock = app.clock
    assert isinstance(clock, ManualClock)
    return clock


def screen_phq(app: App, user_id: str, answers: list[str], *, difficulty: str = "") -> None:
    """The client says hello, consents and answers the shipped PHQ screening, as on a phone."""
    person = Person(app.engine, app.db, user_id)
    now = app.clock.now()
    reply(app, person, now, text="Hello")
    for _decision in range(3):
        reply(app, person, now, tap="Yes")
    for preference in ("Yes", "Skip this question", "Skip this question"):  # issue 18
        reply(app, person, now, tap=preference)
    for label in answers:
        reply(app, person, now, tap=label)
    if difficulty and any(b.label == difficulty for b in person.buttons):
        reply(app, person, now, tap=difficulty)


def read_at(app: App, person: Person, now: datetime) -> None:
    """What the bot sent ``person`` by ``now`` (a message due in the clock's past)."""
    while items := outbox.claim(app.db, person.channel, chat_id=person.user_id, now=now):
        for item in items:
            outbox.mark_sent(app.db, item.id, None)
            if item.message.buttons:
                person.buttons = [b for row in item.message.buttons for b in row]


def reply(app: App, person: Person, now: datetime, *, text: str = "", tap: str = "") -> None:
    """``person`` types ``text`` or taps the button ``tap``, at the clock's ``now``."""
    if tap:
        button = next((b for b in person.buttons if b.label.lstrip("✓ ") == tap), None)
        assert button is not None, f"no button {tap!r} in {[b.label for b in person.buttons]}"
        app.engine.handle(
            person.inbound(InboundKind.BUTTON, payload=button.payload, received_at=now)
        )
    else:
        app.engine.handle(person.inbound(text=text, received_at=now))
    read_at(app, person, now)


async def tab_to(page: Any, text: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element reads ``text`` (the keyboard's way to a control)."""
    for _press in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.innerText || ''")
        if focused.strip().startswith(text):
            return
    raise AssertionError(f"Tab never reached {text!r}")


async def refs_listed(page: Any) -> list[str]:
    """The references in the caseload table, top to bottom."""
    cells = await page.locator("table.caseload tbody th").all_inner_texts()
    return [cell.strip() for cell in cells]


# -- who sees what ----------------------------------------------------------------------------


async def test_one_case_manager_cannot_see_anothers_case(
    app: App, site: Console, browser: Any
) -> None:
    marias = [case_of(app, "Maria"), case_of(app, "Maria")]
    olehs = case_of(app, "Oleh")
    page = await signed_in(browser, site, staff(app, "Oleh"))

    foreign = await page.goto(f"{site.url}/cases/{marias[0]}")
    foreign_page = await page.content()
    unknown = await page.goto(f"{site.url}/cases/C-9999")

    assert foreign.status == unknown.status == 404
    assert foreign_page == await page.content()  # the same page: nothing to probe
    assert await page.locator("h1").inner_text() == "Not found"
    assert marias[0] not in foreign_page
    await page.get_by_role("link", name="Cases", exact=True).click()
    assert await refs_listed(page) == [olehs]
    assert "Your caseload: 1 cases." in await page.locator("main").inner_text()


# -- the case page ---------------------------------------------------------------------------


async def test_a_case_manager_reads_the_timeline_sees_the_chart_and_adds_a_note(
    app: App, site: Console, browser: Any
) -> None:
    ref = case_of(app, "Maria", client="olena")
    screen_phq(app, "olena", PHQ_20, difficulty="Very difficult")  # a PHQ-9 of 20, now
    for weeks, value, band in ((4, 9, "mild"), (8, 4, "minimal")):
        score(app, ref, "phq9", value, band, NOW + timedelta(weeks=weeks), positive=value >= 10)
    clock_of(app).set(NOW + timedelta(weeks=8, days=1))
    page = await signed_in(browser, site, staff(app, "Maria"))

    await page.goto(f"{site.url}/cases/{ref}")

    timeline = page.locator("ol.timeline")
    # The first screening answer (the contact preferences, asked after consent, come before).
    first = timeline.locator("li.entry-answer").filter(has_not_text="How we contact you").first
    assert "Little interest or pleasure in doing things" in await first.inner_text()
    assert "Nearly every day" in await first.locator(".answer").inner_text()
    assert await timeline.get_by_text("Feeling down, depressed, or hopeless").count() == 1
    phq9 = page.get_by_role("region", name="PHQ-9", exact=True)  # its name above its chart
    svg = phq9.locator('figure.chart svg[role="img"]')
    assert await svg.count() == 1
    assert await svg.locator("title").first.text_content() == "PHQ-9 scores over time"
    assert await svg.locator("circle.point").count() == 3
    assert await svg.locator("circle.marker-response").count() == 2  # 9 and 4 from 20
    assert await svg.locator("circle.marker-remission").count() == 1  # 4, under 5
    assert await svg.locator("text.marker-remission-label").text_content() == "remission"

    await page.get_by_label("Note", exact=True).fill("Called Olena: she starts the course <b>")
    await page.get_by_role("button", name="Add note").click()
    await page.wait_for_url(re.compile(rf".*/cases/{ref}\?saved=note#notes$"))

    assert await page.get_by_role("status").inner_text() == "Note added."
    notes = await page.locator("li.entry-note .note-text").all_inner_texts()
    assert notes == ["Called Olena: she starts the course <b>"]


# -- the caseload ----------------------------------------------------------------------------


async def test_the_caseload_filters_and_sorts_by_mouse_and_keyboard(
    app: App, site: Console, browser: Any
) -> None:
    quiet, flagged, exited = (case_of(app, "Maria") for _n in range(3))
    for ref, value, band in ((quiet, 6, "mild"), (flagged, 17, "moderately_severe")):
        score(app, ref, "phq9", value, band, NOW - timedelta(days=3), positive=value >= 10)
    flag(app, flagged, "urgent", NOW - timedelta(hours=2))
    contact(app, quiet, NOW - timedelta(days=2))  # a check-in past due
    with transaction(app.db) as session:
        session.execute(update(Case).where(col(Case.ref) == exited).values(status="exited"))
    page = await signed_in(browser, site, staff(app, "Maria"))
    await page.goto(f"{site.url}/cases")
    assert await refs_listed(page) == [quiet, flagged, exited]

    # Filters, by mouse: an open flag; then a status; then an overdue contact.
    await page.get_by_label("Has an open flag").check()
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r".*flag=1.*"))
    assert await refs_listed(page) == [flagged]
    await page.get_by_role("link", name="Clear").click()
    await page.get_by_label("Status").select_option("exited")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r".*status=exited.*"))
    assert await refs_listed(page) == [exited]
    await page.get_by_role("link", name="Clear").click()
    await page.get_by_label("Overdue follow-up").check()
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r".*overdue=1.*"))
    assert await refs_listed(page) == [quiet]
    assert "overdue" in await page.locator("table.caseload tbody tr").inner_text()

    # Search and sort, by keyboard only: type a reference and press Enter; Tab to a
    # column's heading and press Enter (twice: ascending, then descending).
    await page.goto(f"{site.url}/cases")
    await page.get_by_label("Search by reference").focus()
    await page.keyboard.type(flagged[-2:])
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*q=.*"))
    assert await refs_listed(page) == [flagged]
    await page.goto(f"{site.url}/cases")
    await tab_to(page, "PHQ-9")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*sort=score%3Aphq9&dir=asc$"))
    assert await refs_listed(page) == [quiet, flagged, exited]  # no score: last
    await tab_to(page, "PHQ-9")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*dir=desc$"))
    assert await refs_listed(page) == [flagged, quiet, exited]
    heading = page.locator('th[aria-sort="descending"]')
    assert (await heading.inner_text()).startswith("PHQ-9")


# -- reports ---------------------------------------------------------------------------------


async def test_reports_show_their_sections_and_download_a_csv(
    app: App, site: Console, browser: Any
) -> None:
    ref = case_of(app, "Maria")
    flag(app, ref, "urgent", NOW - timedelta(hours=5))
    score(app, ref, "phq9", 12, "moderate", NOW - timedelta(days=1), positive=True)
    consent(app, ref, "granted", NOW - timedelta(days=1))
    page = await signed_in(browser, site, staff(app, "Sofia", "supervisor"))

    await page.get_by_role("link", name="Reports").click()

    assert await page.locator("main h2").all_inner_texts() == [
        "Open flags by severity and age",
        "Time to acknowledge urgent flags",
        "Follow-up reach after exit",
        "Positive screens by domain",
        "Consents",
    ]
    link = page.get_by_role("link", name="Download CSV")
    answer = await page.request.get(site.url + (await link.get_attribute("href") or ""))
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert (await answer.text()).startswith("section,item,measure,value")
    async with page.expect_download() as download:
        await link.click()
    assert (await download.value).suggested_filename == "cm-bot-report.csv"


# -- a phone ---------------------------------------------------------------------------------


# What sticks out past the screen's right edge (to say what a failure is about).
WIDER_THAN_THE_SCREEN = """[...document.querySelectorAll("main *")]
  .filter(e => e.scrollWidth > window.innerWidth
               || e.getBoundingClientRect().right > window.innerWidth)
  .slice(0, 5).map(e => `${e.tagName}.${e.getAttribute("class")}`)"""
TAP_TARGETS = "button, a.button, summary, header nav a, .views a"


async def test_no_page_scrolls_sideways_on_a_phone_and_tap_targets_are_large(
    app: App, site: Console, browser: Any
) -> None:
    sofia = staff(app, "Sofia", "supervisor")
    ref = case_of(app, "Maria", client="olena")
    screen_phq(app, "olena", PHQ_20)
    score(app, ref, "gad7", 14, "moderate", NOW, positive=True)
    score(app, ref, "gad7", 6, "mild", NOW + timedelta(weeks=4), positive=False)
    flag(app, ref, "routine", NOW, reason="A" * 120)  # one long word
    case_id, _client = ids_of(app, ref)
    with transaction(app.db) as session:
        session.add(CaseNote(case_id=case_id, staff_id=sofia, text="https://" + "x" * 150))
    for other in (case_of(app, "Oleh"), case_of(app, "Oleh")):
        flag(app, other, "high", NOW - timedelta(days=2))
    page = await signed_in(browser, site, sofia, PHONE)

    for path in ("/flags", "/cases", f"/cases/{ref}", "/reports"):
        await page.goto(site.url + path)
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        wide = await page.evaluate(WIDER_THAN_THE_SCREEN)
        assert width <= PHONE["width"], f"{path} scrolls sideways: {width}px wide: {wide}"
        small = await page.locator(TAP_TARGETS).evaluate_all(
            """(targets, tap) => targets
                 .filter(t => t.getClientRects().length)
                 .map(t => [t.innerText.trim(), t.getBoundingClientRect().height])
                 .filter(([, height]) => height < tap)""",
            TAP,
        )
        assert small == [], f"{path}: tap targets under {TAP}px: {small}"


# -- screenshots for the README --------------------------------------------------------------


def seed_showcase(app: App) -> str:
    """A realistic caseload over ten weeks; returns the reference of the case to show.

    Maria and Oleh are case managers and Sofia their supervisor. Maria's client Olena
    answered the PHQ screening in the chat (a PHQ-9 of 20), then scored 9 and 4; two GAD-7
    scores; notes; a goal with two check-ins answered in the chat; flags of each severity.
    Another client of Maria's has left the program and answered the 30-day follow-up.
    """
    clock = clock_of(app)
    start = NOW - timedelta(weeks=10)
    maria = staff(app, "Maria", timezone="Europe/Madrid")
    oleh = staff(app, "Oleh", timezone="Europe/Madrid")
    sofia = staff(app, "Sofia", "supervisor", timezone="Europe/Madrid")

    def at(moment: datetime) -> datetime:
        clock.set(moment)
        return moment

    def note(case_id: int, staff_id: int, text: str, moment: datetime) -> None:
        with app.store.unit() as uow:
            uow.cases.add_note(case_id, staff_id, text)
        with transaction(app.db) as session:
            session.execute(
                update(CaseNote)
                .where(col(CaseNote.case_id) == case_id, col(CaseNote.text) == text)
                .values(created_at=moment)
            )

    def act(flag_id: int, status: str, staff_id: int, moment: datetime) -> None:
        at(moment)
        with app.store.unit() as uow:
            uow.flags.act_on_flag(flag_id, status, staff_id, uow.now)

    def flags_of(case_id: int) -> list[int]:
        with transaction(app.db) as session:
            query = select(col(Flag.id)).where(col(Flag.case_id) == case_id)
            return list(session.execute(query).scalars())

    refs = [case_of(app, "Maria", client=name) for name in ("olena", "andrii")]
    refs += [case_of(app, "Oleh", client=name) for name in ("iryna", "taras", "kateryna")]
    refs += [case_of(app, "Maria", client="dmytro")]
    olena, andrii, iryna, taras, kateryna, dmytro = refs
    with transaction(app.db) as session:
        for index, ref in enumerate(refs):
            session.execute(
                update(Case)
                .where(col(Case.ref) == ref)
                .values(opened_at=start + timedelta(days=index * 4), status="active")
            )

    # Olena: the PHQ screening in the chat, then a GAD-7; a high flag worked by Maria.
    at(start + timedelta(hours=2))
    screen_phq(app, "olena", PHQ_20, difficulty="Very difficult")
    olena_id, _client = ids_of(app, olena)
    score(app, olena, "gad7", 15, "severe", start + timedelta(hours=2, minutes=6), positive=True)
    [positive] = flags_of(olena_id)
    act(positive, "acknowledged", maria, start + timedelta(hours=3, minutes=10))
    note(
        olena_id,
        maria,
        "Called Olena. She sleeps badly since the move and worries about her son's school. "
        "Referred to the GP; agreed to weekly check-ins.",
        start + timedelta(hours=3, minutes=40),
    )
    act(positive, "resolved", maria, start + timedelta(hours=3, minutes=45))
    # A goal with weekly check-ins, answered in the chat.
    at(start + timedelta(weeks=7, days=3))
    with app.store.unit() as uow:
        uow.cases.add_goal(olena_id, "Enrol in the evening Spanish course", "weekly", None, maria)
    person = Person(app.engine, app.db, "olena")
    for progress, helped, barrier, call in (
        ("3", "My neighbour told me where to sign up.", "The forms were confusing.", "No"),
        ("6", "I went to the first two classes.", "", "Yes"),
    ):
        with transaction(app.db) as session:
            due = session.execute(
                select(func.max(col(ScheduledContact.due_at))).where(
                    col(ScheduledContact.case_id) == olena_id
                )
            ).scalar_one()
        at(due + timedelta(minutes=1))
        run_due(app.engine, clock.now())
        read_at(app, person, clock.now())  # the check-in, sent in the clock's past
        reply(app, person, clock.now(), tap=progress)
        reply(app, person, clock.now(), text=helped)
        reply(
            app,
            person,
            clock.now(),
            **({"text": barrier} if barrier else {"tap": "Skip this question"}),
        )
        reply(app, person, clock.now(), tap="Skip this question")  # the next small step
        reply(app, person, clock.now(), tap=call)
        at(clock.now() + timedelta(minutes=5))
        run_due(app.engine, clock.now())
    [*_done, asked] = flags_of(olena_id)  # "contact me about this goal": Maria calls
    act(asked, "acknowledged", maria, clock.now() + timedelta(hours=2))
    note(olena_id, maria, "Phoned Olena about the course fees: the city pays them.", clock.now())
    act(asked, "resolved", maria, clock.now() + timedelta(minutes=20))
    score(app, olena, "phq9", 9, "mild", start + timedelta(weeks=5), positive=False)
    score(app, olena, "gad7", 6, "mild", start + timedelta(weeks=6), positive=False)
    score(app, olena, "phq9", 4, "minimal", start + timedelta(weeks=9), positive=False)
    note(
        olena_id,
        maria,
        "Olena feels much better: she sleeps through most nights and started the course.",
        start + timedelta(weeks=9, hours=1),
    )

    # Andrii: exited six weeks ago; the 30-day follow-up answered.
    consent(app, andrii, "granted", start + timedelta(days=4))
    score(app, andrii, "phq9", 7, "mild", start + timedelta(days=4), positive=False)
    exit_at = start + timedelta(weeks=4)
    with transaction(app.db) as session:
        session.execute(
            update(Case).where(col(Case.ref) == andrii).values(status="exited", exited_at=exit_at)
        )
    contact(
        app,
        andrii,
        exit_at + timedelta(days=30),
        "answered",
        kind="followup",
        flow_id="exit_followup",
        sent_at=exit_at + timedelta(days=30),
        outcome="answered",
        planned_for=exit_at + timedelta(days=30),
    )
    contact(
        app,
        andrii,
        exit_at + timedelta(days=90),
        kind="followup",
        flow_id="exit_followup",
        planned_for=exit_at + timedelta(days=90),
    )

    # Oleh's caseload: screens, an open high flag, a withdrawn consent, an overdue check-in.
    consent(app, iryna, "granted", start + timedelta(days=8))
    score(app, iryna, "phq9", 12, "moderate", NOW - timedelta(days=9), positive=True)
    score(app, iryna, "gad7", 11, "moderate", NOW - timedelta(days=9), positive=True)
    flag(
        app,
        iryna,
        "high",
        NOW - timedelta(days=2, hours=3),
        reason="PHQ-9 score 10 or more (positive depression screen). Clinical follow-up is needed.",
    )
    consent(app, taras, "granted", start + timedelta(days=12))
    score(
        app,
        taras,
        "ahc",
        None,
        None,
        NOW - timedelta(days=20),
        positive=True,
        positive_domains=["living_situation", "food"],
    )
    for ref, raised, minutes in (
        (taras, NOW - timedelta(days=30), 12),
        (kateryna, NOW - timedelta(days=20), 26),
    ):
        flag(
            app,
            ref,
            "urgent",
            raised,
            reason="Said they do not feel safe at home.",
            status="resolved",
            acknowledged_at=raised + timedelta(minutes=minutes),
            acknowledged_by=oleh,
            resolved_at=raised + timedelta(hours=3),
            resolved_by=oleh,
        )
    contact(app, taras, NOW - timedelta(days=3))
    consent(app, kateryna, "granted", start + timedelta(days=16))
    consent(app, kateryna, "withdrawn", NOW - timedelta(days=12))

    # Dmytro, Maria's newest client: item 9 of the PHQ-9 above 0, forty minutes ago.
    at(NOW - timedelta(minutes=40))
    screen_phq(app, "dmytro", [*PHQ_20[:8], "Several days"])
    flag(
        app,
        dmytro,
        "routine",
        NOW - timedelta(days=1),
        reason="Client asked to talk to a person.",
        status="acknowledged",
        acknowledged_at=NOW - timedelta(hours=20),
        acknowledged_by=maria,
    )
    at(NOW)
    del oleh, sofia
    return olena


async def test_screenshots_of_the_console(app: App, site: Console, browser: Any) -> None:
    """Every page over a realistic caseload; saved to $CM_BOT_SHOTS when set (the README)."""
    ref = seed_showcase(app)
    folder = os.environ.get("CM_BOT_SHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
    sofia = staff(app, "Sofia")
    maria = staff(app, "Maria")

    raw: dict[str, list[str]] = {}

    async def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
        text = await page.locator("main").inner_text()
        codes = re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", text)
        if codes:
            raw[name] = codes
        if folder:
            path = os.path.join(folder, f"{name}.png")
            await page.screenshot(path=path, full_page=full_page)

    page = await signed_in(browser, site, sofia, DESKTOP)
    await shoot(page, "console-flags")
    for severity in ("urgent", "high", "routine"):
        assert await page.locator(f"li.flag.severity-{severity}-card").count() >= 1
    await page.goto(f"{site.url}/cases")
    await shoot(page, "console-cases")
    await page.goto(f"{site.url}/reports")
    await shoot(page, "console-reports")
    page = await signed_in(browser, site, maria, DESKTOP)
    await page.goto(f"{site.url}/cases/{ref}")
    await shoot(page, "console-case")
    phone = await signed_in(browser, site, maria, PHONE)
    await phone.goto(f"{site.url}/cases/{ref}")
    await shoot(phone, "console-case-phone", full_page=False)  # the first screenful
    signin = await (await browser.new_context(viewport=DESKTOP)).new_page()
    await signin.goto(f"{site.url}/signin")
    await shoot(signin, "console-signin")

    # The case page in Spanish and in Ukrainian, for the translators (not in the README):
    # saved to $CM_BOT_SHOTS_LOCALES when set.
    translated = os.environ.get("CM_BOT_SHOTS_LOCALES")
    for locale in ("es", "uk"):
        staff(app, "Maria", locale=locale)
        page = await signed_in(browser, site, maria, DESKTOP)
        await page.goto(f"{site.url}/cases/{ref}")
        assert await page.locator("html").get_attribute("lang") == locale
        if translated:
            os.makedirs(translated, exist_ok=True)
            path = os.path.join(translated, f"console-case-{locale}.png")
            await page.screenshot(path=path, full_page=True)
    assert raw == {}, "codes shown instead of words"


# -- intake and follow-ups (issue 18) --------------------------------------------------------


async def test_the_case_page_shows_intake_against_each_followup(
    app: App, site: Console, browser: Any
) -> None:
    from tests.followups.views_support import history

    ref = case_of(app, "Maria", client="olena")
    history(app, ref)  # intake steady; 30 days steady; 90 days worried, money very hard
    page = await signed_in(browser, site, staff(app, "Maria"))

    await page.goto(f"{site.url}/cases/{ref}")

    section = page.get_by_role("region", name="Intake and follow-ups", exact=True)
    assert await section.is_visible()
    heads = await section.locator("thead th").all_inner_texts()
    assert heads == ["Question", "Intake", "30 days after exit", "90 days after exit"]
    rows = section.locator("tbody tr")
    assert await rows.count() == 3  # housing, money, work: intake beside each follow-up
    assert await section.locator("td.compare-new strong").all_inner_texts() == [
        "New need",
        "New need",
    ]
    housing_90 = await rows.nth(0).locator("td").nth(2).inner_text()
    assert "worried about losing it" in housing_90 and "New need" in housing_90
