"""Reminders end to end: the real bot, the Discord stand-in, a real SQLite file and git repo.

Most tests drive a ManualClock: advance it, then `deliver_due()` (the wake-ups run on the wall
clock and would wait days). One test uses the real clock and a few seconds' offset, so the
APScheduler wake-up itself has to send the reminder on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli.plan import collect_plan
from bot.clock import ManualClock, system_clock
from bot.config import load_settings
from bot.plan.posts import PostStatus, nonce_for
from testkit.harness import Harness
from tests.builders import REGISTER, TBD, episode_md
from tests.e2e.episodes import AMA_START, LS_START, SUNDAY, rk

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@contextlib.asynccontextmanager
async def running(
    base: Path,
    *,
    clock: Any,
    episodes: Mapping[str, str],
    offsets: list[str],
    configure: Callable[[Harness], Mapping[str, Any]] | None = None,
    sweep_interval: float = 30.0,
) -> AsyncIterator[Harness]:
    content = base / "content-src"
    (content / "episodes").mkdir(parents=True)
    for name, text in episodes.items():
        (content / "episodes" / f"{name}.md").write_text(text, encoding="utf-8")
    h = Harness(
        base / "world",
        clock=clock,
        content_source=content,
        overrides={"reminders": {"offsets": offsets}},
        sweep_interval=sweep_interval,
    )
    await h.start()
    try:
        if configure is not None:  # settings that name the sandbox's channels and roles
            h.overrides = {"reminders": {"offsets": offsets, **configure(h)}}
            h.settings = load_settings(h.write_config(), environ=h.environ)
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


def posts_to(h: Harness, channel: Any) -> list[Any]:
    return [r for r in h.sandbox.requests_to("POST", f"/channels/{channel.id}/messages")]


def sends_of(h: Harness, key: str) -> list[Any]:
    nonce = nonce_for(key)
    return [
        r
        for r in h.sandbox.requests_to("POST", "/channels/*/messages")
        if isinstance(r.json, dict) and r.json.get("nonce") == nonce
    ]


async def row(h: Harness, key: str):
    post = await h.bot.db.outbox.get(key)
    assert post is not None, f"no outbox row {key}"
    return post


def ts(dt: datetime, style: str = "F") -> str:
    return f"<t:{int(dt.timestamp())}:{style}>"


# -- each reminder once, at its time ------------------------------------------------------


async def test_each_reminder_is_sent_exactly_once_at_its_time(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, offsets=["24h", "1h", "0m"]
    ) as h:
        sb = h.sandbox
        keys = {
            rk(f"reminder:s9-e01:{kind}:{off}", start): start - delta
            for kind, start in (("livestream", LS_START), ("ama", AMA_START))
            for off, delta in (("24h", 24 * H), ("1h", H), ("0m", timedelta(0)))
        }
        pending = {p.key: p.due_at for p in await h.bot.db.outbox.pending()}
        assert pending == keys
        assert sb.messages(h.reminders) == []

        by_key: dict[str, dict[str, Any]] = {}
        for n, (key, due) in enumerate(sorted(keys.items(), key=lambda kv: kv[1]), start=1):
            clock.set(due - S)
            await h.posting.deliver_due()
            assert len(sb.messages(h.reminders)) == n - 1, f"{key} went out before its time"
            clock.set(due)
            await h.posting.deliver_due()
            await h.posting.deliver_due()  # a second look (another wake-up) sends nothing
            assert len(sends_of(h, key)) == 1, key
            assert len(sb.messages(h.reminders)) == n
            assert (await row(h, key)).status is PostStatus.SENT
            by_key[key.partition("@")[0]] = sb.messages(h.reminders)[-1]

        role = f"<@&{h.members_role.id}>"

        day_before = by_key["reminder:s9-e01:livestream:24h"]["content"]
        assert day_before.startswith(role)
        assert "Monday livestream in 24 hours:** Fine Tuning & Distillation with Dave Voutila" in (
            day_before
        )
        assert f"{ts(LS_START)} ({ts(LS_START, 'R')})" in day_before
        assert "S9:E1" in day_before
        assert "(delayed)" not in day_before
        button = by_key["reminder:s9-e01:livestream:24h"]["components"][0]["components"][0]
        assert (button["label"], button["url"]) == ("Register for the livestream", REGISTER)

        ama_hour = by_key["reminder:s9-e01:ama:1h"]
        assert (
            "Friday AMA in 1 hour:** Fine Tuning & Distillation with Dave Voutila"
            in (ama_hour["content"])
        )
        assert ama_hour["components"][0]["components"][0]["label"] == "Join the AMA"
        assert "Friday AMA starting now" in by_key["reminder:s9-e01:ama:0m"]["content"]
        live = by_key["reminder:s9-e01:livestream:0m"]
        assert "Monday livestream starting now" in live["content"]
        assert live["components"][0]["components"][0]["label"] == "Join the livestream"

        # Only the configured role is pinged, in every reminder.
        for message in sb.messages(h.reminders):
            pings = sb.pings(message)
            assert pings.roles == [h.members_role.id], pings
            assert not pings.users and not pings.everyone
        assert len(posts_to(h, h.reminders)) == 6


async def test_per_kind_channels_and_roles(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": episode_md()},
        offsets=["1h"],
        configure=lambda h: {
            "ama_channel_id": h.general.id,
            "ama_role_id": h.sandbox.add_role(h.guild, "AMA fans", mentionable=True).id,
        },
    ) as h:
        ama_role = h.settings.reminders.ama_role_id
        ama = await row(h, rk("reminder:s9-e01:ama:1h", AMA_START))
        live = await row(h, rk("reminder:s9-e01:livestream:1h", LS_START))
        assert (ama.channel_id, live.channel_id) == (h.general.id, h.reminders.id)
        for due in (LS_START - H, AMA_START - H):
            clock.set(due)
            await h.posting.deliver_due()
        [in_general] = h.sandbox.messages(h.general)
        [in_reminders] = h.sandbox.messages(h.reminders)
        assert h.sandbox.pings(in_general).roles == [ama_role]
        assert "AMA in 1 hour" in in_general["content"]
        assert h.sandbox.pings(in_reminders).roles == [h.members_role.id]
        assert "livestream in 1 hour" in in_reminders["content"]


# -- restarts ---------------------------------------------------------------------------------


async def test_restart_before_the_due_time_sends_once(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md(ama=TBD)}, offsets=["1h"]
    ) as h:
        key = rk("reminder:s9-e01:livestream:1h", LS_START)
        await h.restart_bot()
        clock.set(LS_START - H - 10 * M)
        await h.restart_bot()
        assert (await row(h, key)).status is PostStatus.PENDING
        assert key in h.posting.wakeups.job_ids()  # the wake-up was rebuilt from the store
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        await h.restart_bot()
        await h.posting.deliver_due()
        assert len(sends_of(h, key)) == 1
        [message] = h.sandbox.messages(h.reminders)
        assert "(delayed)" not in message["content"]
        assert (await row(h, key)).status is PostStatus.SENT


async def test_restart_after_the_due_time_within_grace_sends_once_delayed(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md(ama=TBD)}, offsets=["1h"]
    ) as h:
        key = rk("reminder:s9-e01:livestream:1h", LS_START)  # grace: a quarter of 1h = 15m
        await h.stop_bot()
        clock.set(LS_START - H + 10 * M)
        await h.start_bot()  # start-up delivers what is due
        message = await h.sandbox.wait_for_message(h.reminders, timeout=10)
        first_line = message["content"].split("\n")[0]
        assert first_line.endswith("(delayed)")
        assert "Monday livestream in 1 hour" in first_line
        await h.restart_bot()
        await h.posting.deliver_due()
        assert len(sends_of(h, key)) == 1
        assert len(h.sandbox.messages(h.reminders)) == 1
        assert (await row(h, key)).status is PostStatus.SENT


async def test_restart_beyond_grace_skips_and_records_why(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md(ama=TBD)}, offsets=["1h", "10m"]
    ) as h:
        await h.stop_bot()
        clock.set(LS_START - H + 20 * M)  # 20m late for "1h" (grace 15m); "10m" not due yet
        await h.start_bot()
        late = await row(h, rk("reminder:s9-e01:livestream:1h", LS_START))
        assert late.status is PostStatus.SKIPPED
        assert late.reason == "late by 20m: past its 15m grace"
        assert sends_of(h, late.key) == []
        # `amabot plan` shows it with its reason, and the 10m reminder still pending.
        plan = await collect_plan(h.settings, days=7, clock=clock)
        assert [(p["key"], p["reason"]) for p in plan["recent"]["skipped"]] == [
            (late.key, "late by 20m: past its 15m grace")
        ]
        assert [p["key"] for p in plan["pending"]] == [
            rk("reminder:s9-e01:livestream:10m", LS_START)
        ]
        # The event starts: "in 10 minutes" is not sent after the start either.
        await h.stop_bot()
        clock.set(LS_START + M)
        await h.start_bot()
        after = await row(h, rk("reminder:s9-e01:livestream:10m", LS_START))
        assert after.status is PostStatus.SKIPPED
        assert "event already started 1m ago" in after.reason
        assert h.sandbox.messages(h.reminders) == []


# -- content changes --------------------------------------------------------------------------


async def test_moving_the_episode_moves_its_pending_reminders(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md(ama=TBD)}, offsets=["1h", "10m"]
    ) as h:
        old_due = LS_START - H
        # A holiday: the livestream moves to Tuesday 11:00 local (18:00 UTC).
        new_start = datetime(2025, 7, 15, 18, 0, tzinfo=UTC)
        await h.merge(
            {"episodes/s9-e01.md": episode_md(livestream="2025-07-15T11:00", ama=TBD)}, "move"
        )
        await h.posting.sync.pull_now("test")
        moved = await row(h, rk("reminder:s9-e01:livestream:1h", new_start))
        assert (moved.status, moved.due_at) == (PostStatus.PENDING, new_start - H)
        assert ts(new_start) in moved.payload["content"]
        assert "Tuesday livestream" in moved.payload["content"]
        assert h.posting.wakeups.next_run(moved.key) is not None

        clock.set(old_due)
        await h.posting.deliver_due()
        clock.set(LS_START)
        await h.posting.deliver_due()
        assert h.sandbox.messages(h.reminders) == [], "nothing at the old times"

        clock.set(new_start - H)
        await h.posting.deliver_due()
        clock.set(new_start - 10 * M)
        await h.posting.deliver_due()
        contents = [m["content"] for m in h.sandbox.messages(h.reminders)]
        assert len(contents) == 2
        assert all(ts(new_start) in c and ts(LS_START) not in c for c in contents)
        assert "Tuesday livestream in 1 hour" in contents[0]
        assert "Tuesday livestream in 10 minutes" in contents[1]


async def test_cancelled_episode_sends_none_and_cancels_pending(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, offsets=["1h", "10m"]
    ) as h:
        assert len(await h.bot.db.outbox.pending()) == 4
        await h.merge({"episodes/s9-e01.md": episode_md(status="cancelled")}, "cancel")
        await h.posting.sync.pull_now("test")
        assert await h.bot.db.outbox.pending() == []
        assert h.posting.wakeups.job_ids() == set()
        for post in await h.bot.db.outbox.all():
            assert post.status is PostStatus.CANCELLED
            assert post.reason == "episode cancelled, moved or made TBD"
        for moment in (LS_START - H, LS_START - 10 * M, AMA_START - H, AMA_START):
            clock.set(moment)
            await h.posting.deliver_due()
        await h.restart_bot()
        assert h.sandbox.requests_to("POST", "/channels/*/messages") == []


async def test_tbd_episode_gets_no_reminders_until_it_has_a_time(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": episode_md(livestream=TBD, ama=TBD, status="tbd")},
        offsets=["1h"],
    ) as h:
        assert await h.bot.db.outbox.all() == []
        await h.merge({"episodes/s9-e01.md": episode_md(ama=TBD)}, "scheduled")
        await h.posting.sync.pull_now("test")
        assert [p.key for p in await h.bot.db.outbox.pending()] == [
            rk("reminder:s9-e01:livestream:1h", LS_START)
        ]


# -- daylight saving --------------------------------------------------------------------------


async def test_1030_los_angeles_across_the_us_dst_change(tmp_path):
    # US clocks spring forward on Sunday 2026-03-08: 10:30 PST is 18:30 UTC the week before,
    # 10:30 PDT is 17:30 UTC the Monday after.
    clock = ManualClock(datetime(2026, 2, 28, 12, 0, tzinfo=UTC))
    before = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)
    after = datetime(2026, 3, 9, 17, 30, tzinfo=UTC)
    async with running(
        tmp_path,
        clock=clock,
        episodes={
            "s9-e01": episode_md(livestream="2026-03-02T10:30", ama=TBD),
            "s9-e02": episode_md(id="s9-e02", number=2, livestream="2026-03-09T10:30", ama=TBD),
        },
        offsets=["1h"],
    ) as h:
        due = {p.key: p.due_at for p in await h.bot.db.outbox.pending()}
        assert due == {
            rk("reminder:s9-e01:livestream:1h", before): before - H,
            rk("reminder:s9-e02:livestream:1h", after): after - H,
        }
        for start in (before, after):
            clock.set(start - H)
            await h.posting.deliver_due()
        first, second = (m["content"] for m in h.sandbox.messages(h.reminders))
        assert ts(before) in first and "Monday livestream in 1 hour" in first
        assert ts(after) in second and "Monday livestream in 1 hour" in second


# -- the real clock: the APScheduler wake-up sends it ---------------------------------------


async def test_the_wakeup_sends_on_time_with_the_real_clock(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(seconds=8)
    due = start - timedelta(seconds=4)
    text = episode_md(livestream=start.isoformat(), ama=TBD)
    # The sweep is an hour away and nothing is due at start-up: only the wake-up can send it.
    async with running(
        tmp_path, clock=system_clock, episodes={"s9-e01": text}, offsets=["4s"], sweep_interval=3600
    ) as h:
        key = rk("reminder:s9-e01:livestream:4s", start)
        assert key in h.posting.wakeups.job_ids()
        assert sends_of(h, key) == []
        message = await h.sandbox.wait_for_message(h.reminders, timeout=15)
        [request] = sends_of(h, key)
        lateness = (request.time - due).total_seconds()
        assert 0 <= lateness < 1.0, lateness
        assert "livestream in 4 seconds" in message["content"]
        assert "(delayed)" not in message["content"]
        await asyncio.sleep(0)  # let the send's bookkeeping finish
        row_ = await h.bot.db.outbox.get(key)
        assert row_ is not None and row_.status in (PostStatus.SENT, PostStatus.SENDING)


@pytest.mark.parametrize("offsets", [["1h"]])
async def test_plan_report_lists_reminders_and_announcements(tmp_path, offsets):
    clock = ManualClock(SUNDAY)
    async with running(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, offsets=offsets
    ) as h:
        plan = await collect_plan(h.settings, days=7, clock=clock)
        assert [p["key"] for p in plan["pending"]] == [
            rk("reminder:s9-e01:livestream:1h", LS_START),
            rk("reminder:s9-e01:ama:1h", AMA_START),
        ]
        assert plan["pending"][0]["due_local"] == "Mon 2025-07-14 09:30 PDT"


async def test_reminders_of_an_event_that_ended_while_the_bot_was_down_are_skipped_with_the_reason(
    tmp_path,
):
    from datetime import UTC, datetime, timedelta

    from bot.clock import ManualClock
    from bot.plan.posts import PostStatus
    from testkit.harness import Harness

    start = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
    clock = ManualClock(start - timedelta(hours=2))
    content = tmp_path / "content"
    (content / "episodes").mkdir(parents=True)
    (content / "episodes" / "s9-e01.md").write_text(
        "---\nid: s9-e01\nseason: 9\nepisode: 1\ntitle: Outage week\nstatus: scheduled\n"
        "timezone: UTC\nlivestream:\n  start: 2025-07-14T17:30Z\n  duration: 30m\n---\n"
    )
    async with Harness(
        tmp_path / "world",
        clock=clock,
        content_source=content,
        overrides={"reminders": {"offsets": ["1h"]}},
    ) as h:
        await h.start_bot()
        await h.stop_bot()  # the bot goes down before the reminder is due ...
        clock.set(start + timedelta(days=1))  # ... and comes back after the event ended
        await h.start_bot()
        post = await h.bot.db.outbox.get(rk("reminder:s9-e01:livestream:1h", start))
        assert post.status is PostStatus.SKIPPED
        assert post.reason.startswith("late by")
        assert h.sandbox.messages(h.reminders) == []
