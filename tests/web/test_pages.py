"""The read-only pages' parts without a browser: the browser fixture's skip (a failure under
CI), the token check, and members' text kept as text on both pages."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import page_token
from bot.web.screen import screen_routes
from bot.web.status import render_status
from tests.web import conftest


def test_a_missing_browser_skips_with_its_reason_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(conftest, "CHROMEDRIVER", "/nonexistent/chromedriver")
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    reason = conftest._missing()
    assert reason == "/nonexistent/chromedriver is missing: apt-get install chromium-driver"
    with pytest.raises(pytest.skip.Exception, match="no headless Chromium: /nonexistent"):
        conftest.require_browser(reason, {})
    with pytest.raises(pytest.fail.Exception, match="CI needs the browser tests"):
        conftest.require_browser(reason, {"CI": "true"})
    conftest.require_browser(None, {"CI": "true"})  # a browser: nothing to say


def test_a_page_token_comes_from_the_environment_or_the_page_is_off():
    assert page_token("AMABOT_STATUS_TOKEN", {"AMABOT_STATUS_TOKEN": " t0k "}) == "t0k"
    assert page_token("AMABOT_STATUS_TOKEN", {"AMABOT_STATUS_TOKEN": ""}) is None
    assert page_token("AMABOT_STATUS_TOKEN", {}) is None


def test_the_status_page_escapes_what_it_shows():
    page = render_status(
        {
            "title": "<b>Show</b>",
            "facts": [("Lease holder", "<i>x</i>")],
            "sections": [
                {
                    "id": "sent",
                    "heading": "Sent",
                    "columns": ["Key", "Message"],
                    "rows": [["<script>alert(1)</script>", {"text": "m", "href": 'x"y'}]],
                },
                {"id": "troubles", "heading": "Troubles", "rows": [], "empty": "None."},
            ],
        }
    )
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;Show&lt;/b&gt;" in page and "&lt;i&gt;x&lt;/i&gt;" in page
    assert '<a href="x&quot;y">m</a>' in page
    assert '<p class="empty">None.</p>' in page


async def test_the_screen_keeps_a_question_as_text_and_checks_its_token():
    view = {
        "episode": "s9-e01",
        "title": "S9:E1",
        "state": "live",
        "on_air": {
            "id": 1,
            "text": "</script><script>alert(1)</script>",
            "asked_by": "sam",
            "votes": 2,
        },
        "next": [],
        "counts": {},
    }

    async def source(episode: str):
        return view if episode == "s9-e01" else None

    app = web.Application()
    app.router.add_routes(screen_routes(source, "tok"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/ama/s9-e01/screen")).status == 401
        bearer = await client.get(
            "/ama/s9-e01/screen.json", headers={"Authorization": "Bearer tok"}
        )
        assert bearer.status == 200 and await bearer.json() == view
        assert (await client.get("/ama/nope/screen?token=tok")).status == 404
        page = await client.get("/ama/s9-e01/screen?token=tok")
        text = await page.text()
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "script-src 'sha256-" in page.headers["Content-Security-Policy"]
        # Only our own two script elements; the question's "</script>" stayed inside the JSON.
        assert text.count("<script") == 2
        initial = text.split("id=initial>")[1].split("</script>")[0]
        assert json.loads(initial) == view
