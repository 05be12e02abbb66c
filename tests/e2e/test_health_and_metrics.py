"""What a supervisor and Prometheus read (issue 23), from the real bot against the stand-in:
`/healthz` answers 503 with the reasons while a post is refused and 200 once it is fixed,
`/readyz` says the process serves, and `/metrics` (parsed with prometheus-client's own parser)
counts the posts as they go out."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.clock import ManualClock
from bot.discord.app import GatewayWatch
from bot.plan.posts import PostStatus
from bot.services.metrics import BotMetrics
from testkit.harness import Harness
from tests import builders
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import LS_START, SUNDAY, http_get, rk, webhook_url, world

M = timedelta(minutes=1)
recap_md = partial(builders.recap_md, published=datetime.now(UTC) - timedelta(minutes=5))


async def get_json(h: Harness, path: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = await http_get(webhook_url(h) + path)
    return status, json.loads(body)


async def until_status(h: Harness, status: int) -> tuple[int, dict[str, Any]]:
    """/healthz once it answers `status` (a gateway event's listener runs as its own task)."""
    return await eventually(lambda: get_json(h, "/healthz"), lambda answer: answer[0] == status)


async def test_healthz_is_503_while_a_post_is_refused_and_200_once_fixed(tmp_path):
    clock = ManualClock(SUNDAY)

    def configure(h):
        return {"reminders": {"offsets": ["10m"]}}

    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        sb = h.sandbox
        check = h.bot.get_cog("SelfCheck").check
        check.debounce = 0.01
        await check.wait_runs(1)
        assert await get_json(h, "/healthz") == (200, await h.posting.health())
        status, ready = await get_json(h, "/readyz")
        assert (status, ready) == (200, {"ready": True, "reasons": []})

        # discord.py tells of a dropped gateway: unhealthy until it is back.
        h.bot.dispatch("disconnect")
        status, health = await until_status(h, 503)
        assert health["reasons"] == ["gateway: disconnected since 2025-07-13T16:00:00+00:00"]
        h.bot.dispatch("resumed")
        await until_status(h, 200)

        # The bot may no longer post in the reminders channel; its reminder is refused.
        runs = check.runs
        await sb.deny_channel(h.reminders)
        await check.wait_runs(runs + 1)
        clock.set(LS_START - 10 * M)
        await h.posting.deliver_due()
        key = rk("reminder:s9-e01:livestream:10m", LS_START)
        assert (await h.bot.db.outbox.get(key)).status is PostStatus.FAILED
        status, health = await get_json(h, "/healthz")
        assert status == 503 and health["ok"] is False
        assert any(r.startswith("set-up:") and "Send Messages" in r for r in health["reasons"])
        assert any("delivery problem" in r for r in health["reasons"]), health["reasons"]

        # Given back: the refused reminder goes out (still in its grace), all is well again.
        runs = check.runs
        await sb.deny_channel(h.reminders, allow=True)
        await check.wait_runs(runs + 1)
        await eventually(lambda: h.bot.db.outbox.get(key), lambda p: p.status is PostStatus.SENT)
        status, health = await get_json(h, "/healthz")
        assert (status, health["ok"], health["reasons"]) == (200, True, [])
        assert health["problems"][0]["key"] == key  # the run's history is still shown


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, parsed by prometheus-client: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def metrics(h: Harness) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, body, headers = await http_get(webhook_url(h) + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return scrape(body.decode())


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


async def test_metrics_count_the_posts_as_they_go_out(harness):
    h = harness
    await h.start_bot()
    await h.posting.sync.wait_for_attempts(1)
    await h.posting.sync.wait_idle()
    series = h.settings.series.id
    recap = labels(kind="recap", series=series)

    before = await metrics(h)
    assert before.get(("amabot_posts_sent_total", recap), 0) == 0
    # The sample content's recaps are the first start's backlog: skipped, and counted so.
    assert before[("amabot_posts_skipped_total", recap)] == 3
    assert before[("amabot_outbox_posts", labels(status="skipped"))] == 3
    assert before[("amabot_lease_held", labels())] == 1
    # NaN until the first heartbeat is acknowledged, then the round trip in seconds.
    latency = before[("amabot_gateway_latency_seconds", labels())]
    assert math.isnan(latency) or 0 <= latency < 5

    await h.merge({"recaps/s2-e05-recap.md": recap_md("s2-e05-recap", "S2:E5 Fine")}, "Recap")
    assert await h.send_webhook() == 202
    await h.posting.sync.wait_idle()
    await h.sandbox.wait_for_message(h.announcements, lambda m: bool(m.get("embeds")))

    after = await metrics(h)
    assert after[("amabot_posts_sent_total", recap)] == 1
    assert after[("amabot_post_lateness_seconds_count", recap)] == 1
    assert after[("amabot_outbox_posts", labels(status="sent"))] >= 1
    assert after[("amabot_posts_skipped_total", recap)] == 3

    # A member's slash command: the bot's own time for it lands in the histogram.
    answered = before.get(("amabot_interaction_handling_seconds_count", labels()), 0)
    await h.sandbox.slash(h.member, h.general, "episode", query="s2e5")
    after = await metrics(h)
    assert after[("amabot_interaction_handling_seconds_count", labels())] == answered + 1


async def test_two_bots_in_one_process_count_apart():
    one, two = BotMetrics("one"), BotMetrics("two")
    one.post_outcome("recap", "sent", 1.5)
    one.question_asked()
    one.vote_taken(True)
    one.vote_taken(False)
    first, second = scrape((await one.scrape()).decode()), scrape((await two.scrape()).decode())
    assert first[("amabot_posts_sent_total", labels(kind="recap", series="one"))] == 1
    assert first[("amabot_ama_questions_total", labels(series="one"))] == 1
    assert first[("amabot_ama_votes_total", labels(series="one", action="added"))] == 1
    assert first[("amabot_ama_votes_total", labels(series="one", action="removed"))] == 1
    assert not any(name == "amabot_posts_sent_total" for name, _ in second)


async def test_the_gateway_watch_reports_until_connected_and_after_a_drop():
    clock = ManualClock(SUNDAY)
    watch = GatewayWatch(clock)
    assert watch.problem() == "not connected yet"
    await watch.up()
    assert watch.problem() is None
    clock.advance(M)
    await watch.down()
    assert watch.problem() == "disconnected since 2025-07-13T16:01:00+00:00"
    await watch.up()
    assert watch.problem() is None
