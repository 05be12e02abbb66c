"""The organisers' status page (issue 23), in a real browser: the real bot against the
stand-in serves `/status` behind its token; headless Chromium shows the coming week (a
pending reminder at the series' local time), the sent reminder with a link to its message,
and the lease's holder. Without the token: 401; with no token configured: off (404)."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from bot.plan.posts import PostStatus
from testkit.harness import Harness
from tests.builders import episode_md
from tests.e2e.episodes import AMA_START, LS_START, SUNDAY, http_get, rk, webhook_url, world

TOKEN = "status-token-for-tests"


def with_token(h: Harness) -> None:
    h.environ["AMABOT_STATUS_TOKEN"] = TOKEN


async def test_the_status_page_shows_the_week_the_sends_and_the_lease(tmp_path, browser):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": episode_md()},
        configure=lambda h: {"reminders": {"offsets": ["1h", "10m"]}},
        before_start=with_token,
    ) as h:
        url = webhook_url(h) + "/status"
        assert (await http_get(url))[0] == 401
        assert (await http_get(url + "?token=wrong"))[0] == 401
        # The AMA's screen has no token here: it is off.
        assert (await http_get(webhook_url(h) + "/ama/s9-e01/screen"))[0] == 404

        # The livestream's hour-ahead reminder goes out; its 10-minute one is found past its
        # grace (the bot was "down") and skipped; the AMA's wait for Friday.
        clock.set(LS_START - timedelta(hours=1))
        await h.posting.deliver_due()
        sent = await h.bot.db.outbox.get(rk("reminder:s9-e01:livestream:1h", LS_START))
        assert sent.status is PostStatus.SENT and sent.message_id
        clock.set(LS_START + timedelta(minutes=1))
        await h.posting.deliver_due()
        late = await h.bot.db.outbox.get(rk("reminder:s9-e01:livestream:10m", LS_START))
        assert late.status is PostStatus.SKIPPED and late.reason
        pending = rk("reminder:s9-e01:ama:1h", AMA_START)
        assert (await h.bot.db.outbox.get(pending)).status is PostStatus.PENDING

        status, body, headers = await http_get(f"{url}?token={TOKEN}")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "<script" not in body.decode()

        await browser.get(f"{url}?token={TOKEN}")
        week = await browser.texts("#week tbody tr")
        row = next(r for r in week if pending in r)
        # 17:30 UTC less an hour, in the series' zone (America/Los_Angeles, summer time).
        assert row.startswith("Fri 2025-07-18 09:30 PDT")
        assert any("ama" in r and "Fri 2025-07-18 10:30 PDT" in r for r in week)
        link = f"https://discord.com/channels/{h.settings.discord.guild_id}/{sent.channel_id}/{sent.message_id}"
        assert link in await browser.attribute("#sent a", "href")
        sent_rows = await browser.texts("#sent tbody tr")
        assert any(sent.key in r for r in sent_rows)
        facts = await browser.text("dl")
        assert "(this process)" in facts and "America/Los_Angeles" in facts
        troubles = await browser.texts("#troubles tbody tr")
        assert any(late.key in r and "skipped" in r and late.reason in r for r in troubles)
        assert await browser.attribute('meta[name="viewport"]', "content") == [
            "width=device-width, initial-scale=1"
        ]
        await browser.screenshot("status")
        await browser.run(lambda d: d.set_window_size(390, 844))  # a phone
        await browser.screenshot("status-phone")
