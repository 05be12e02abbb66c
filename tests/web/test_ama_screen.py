"""The AMA on screen (issue 23), in a real browser: the real bot against the stand-in serves
`/ama/<episode>/screen`; the host clicks Next on the board in the stand-in and the page,
left open in headless Chromium, shows that question (asked anonymously: "a community
member") within 2 s, without a reload. Its own token, or 401; an unknown episode is 404."""

from __future__ import annotations

import time
from typing import Any

from bot.clock import ManualClock
from testkit.harness import Harness
from tests.e2e.conftest import eventually
from tests.e2e.episodes import SUNDAY, http_get, webhook_url, world
from tests.e2e.test_ama import _async, button, final_text, open_ama
from tests.e2e.test_ama import configure as ama_configure
from tests.web.conftest import Browser

TOKEN = "screen-token-for-tests"
FIRST = "What surprised you most when you first fine-tuned a small model on your own data?"
SECOND = "Which evaluation would you run before shipping a distilled model to production?"


def configure(h: Harness) -> dict[str, dict[str, Any]]:
    sections = ama_configure(h)
    sections["ama"]["review"] = "off"  # public at once: the screen is what is under test
    return sections


def with_token(h: Harness) -> None:
    h.environ["AMABOT_SCREEN_TOKEN"] = TOKEN
    h.environ["AMABOT_STATUS_TOKEN"] = "status-token"


async def wait_dom(browser: Browser, css: str, wanted: str, within: float) -> float:
    """Seconds until the element's rendered text contains `wanted` (polled every 50 ms)."""
    start = time.monotonic()
    while True:
        text = await browser.text(css)
        if wanted in text:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{css} never showed {wanted!r} within {within}s: {text!r}")
        await browser.run(lambda d: time.sleep(0.05))


async def test_a_board_click_shows_on_the_screen_within_two_seconds(tmp_path, browser):
    async with world(
        tmp_path,
        clock=ManualClock(SUNDAY),
        episodes={"s9-e01": _episode()},
        configure=configure,
        before_start=with_token,
    ) as h:
        sb = h.sandbox
        session = await open_ama(h)
        first = await sb.slash(h.member, h.general, "ask", question=FIRST, anonymous=True)
        assert "saved" in await final_text(h, first)
        second = await sb.slash(h.asker2, h.general, "ask", question=SECOND)
        assert "saved" in await final_text(h, second)
        base = webhook_url(h) + "/ama/s9-e01/screen"
        # The organisers' status page lists the session's coming times.
        status = (await http_get(webhook_url(h) + "/status?token=status-token"))[1].decode()
        assert "s9-e01: AMA starts (collecting)" in status
        assert "Fri 2025-07-18 10:30 PDT" in status

        # Its own token, or nothing; an episode without an AMA is not found.
        assert (await http_get(base))[0] == 401
        assert (await http_get(base + "?token=wrong"))[0] == 401
        assert (await http_get(webhook_url(h) + "/ama/s9-e99/screen?token=" + TOKEN))[0] == 404

        await browser.get(f"{base}?token={TOKEN}&transparent=1")
        assert await browser.text("#on-air-text") == "No question on air yet"
        upcoming = await browser.texts("#next li .text")
        assert set(upcoming) == {FIRST, SECOND}
        assert "a community member" in " ".join(await browser.texts("#next li"))
        assert await browser.attribute("body", "class") == ["transparent"]
        await browser.screenshot("screen-before")

        # The host clicks Next on the board: the page shows it, with no reload.
        live = await sb.slash(h.organiser, h.general, "ama", subcommand="live")
        assert "live" in await final_text(h, live)
        board = await eventually(
            lambda: _async(sb.messages(session.board_thread_id)), lambda ms: len(ms) >= 1
        )
        await browser.run(lambda d: d.execute_script("window.notReloaded = true"))
        nxt = await sb.click(
            h.organiser, session.board_thread_id, board[0]["id"], button(board[0], "Next")
        )
        assert "is on air" in await final_text(h, nxt)
        # Equal backing: the older question, the anonymous one, goes on air.
        took = await wait_dom(browser, "#on-air-text", FIRST, within=2.0)
        assert took <= 2.0
        assert await browser.run(lambda d: d.execute_script("return window.notReloaded"))
        assert await browser.text("#on-air-by") == "asked by a community member · 1 vote"
        assert await browser.texts("#next li .text") == [SECOND]
        await browser.screenshot("screen-on-air")
        # The anonymous asker's name never reaches the page (the other asker's does).
        page = await browser.run(lambda d: d.page_source)
        assert "sam" not in page and "priya" in page


def _episode() -> str:
    from tests.builders import episode_md

    return episode_md()
