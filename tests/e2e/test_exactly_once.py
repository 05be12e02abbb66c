"""Issue 14's table, case by case: the real bot (discord.py) against the strict stand-in,
whose nonce only dedupes for `nonce_window` (180 s) on the shared ManualClock.

A "crash" is the bot stopped while it sits in the gap between Discord's answer to a send and
the record of it (testkit/gap.py installed, with a `pause` file): the outbox row is left in
`sending`, Discord has the message. The restart comes later than the
nonce window, so only the history lookup can keep the post single.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import ManualClock, system_clock
from bot.config import load_settings
from bot.plan.optin import dm_key
from bot.plan.posts import PostStatus
from bot.plan.reminders import reminder_key
from bot.store import StoreError, open_store
from testkit import gap
from testkit.harness import Harness
from tests.builders import episode_md, recap_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import LS_START, events_on, ours

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
DUE_1H = LS_START - H  # the 1h livestream reminder; its grace is 15 minutes
KEY = reminder_key("s9-e01", "livestream", H, LS_START)
AUTHORS = "authors:\n  nitya:\n    name: Nitya Narasimhan\n"


# This suite's recaps: one author, no tags, no episode, no image.
bare_recap = partial(recap_md, authors=("nitya",), tags=(), episode=None, image=None)


@contextlib.asynccontextmanager
async def world(
    base: Path,
    clock: Any,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    configure: Callable[[Harness], Mapping[str, Mapping[str, Any]]] | None = None,
    start: bool = True,
) -> AsyncIterator[Harness]:
    src = base / "content-src"
    (src / "episodes").mkdir(parents=True)
    (src / "recaps").mkdir()
    (src / "authors.yml").write_text(AUTHORS)
    (src / "episodes" / "s9-e01.md").write_text(episode_md())
    sections: dict[str, dict[str, Any]] = {"reminders": {"offsets": ["1h"]}}
    for name, values in (overrides or {}).items():
        sections.setdefault(name, {}).update(values)
    h = Harness(base / "world", clock=clock, content_source=src, overrides=sections)
    await h.start()
    h.gap = base / "gap"  # type: ignore[attr-defined]
    h.gap.mkdir()
    if configure is not None:  # settings that name the sandbox's channels and roles
        for name, values in configure(h).items():
            sections.setdefault(name, {}).update(values)
        h.overrides = sections
        h.settings = load_settings(h.write_config(), environ=h.environ)
    try:
        with gap.installed(h.gap):  # type: ignore[attr-defined]
            if start:
                await h.start_bot()
            yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


def bot_messages(h: Harness, channel: Any) -> list[dict[str, Any]]:
    me = str(h.sandbox.bot_user.id)
    return [m for m in h.sandbox.messages(channel) if m["author"]["id"] == me]


async def crash_in_the_gap(h: Harness, channel: Any) -> dict[str, Any]:
    """Deliver what is due; once Discord has taken the message, the bot dies before it
    records it. Returns the message Discord kept."""
    pause = h.gap / "pause"  # type: ignore[attr-defined]
    pause.write_text("3600")
    before = len(bot_messages(h, channel))
    task = asyncio.create_task(h.posting.deliver_due())
    await h.sandbox.wait_for(lambda: len(bot_messages(h, channel)) > before, what="the send")
    message = bot_messages(h, channel)[-1]
    # The sender may be this task or one of the bot's own wake-ups, and its answer from
    # Discord may still be on its way: the bot stops while the pause still holds every
    # sender, so none of them can record the send (lifting the pause first let a wake-up
    # record it, and the restart then had nothing to look up).
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await h.stop_bot()
    pause.unlink()
    store = await open_store(h.settings.storage.database, clock=system_clock)
    try:  # the crash this helper promises: Discord has the message, the outbox does not
        assert await store.outbox.owner_of_message(int(message["id"])) is None
    finally:
        await store.close()
    return message


async def settled(h: Harness, key: str) -> Any:
    """The row once it has left pending/sending (a start-up wake-up may be delivering it)."""
    await h.posting.deliver_due()
    return await eventually(
        lambda: h.bot.db.outbox.get(key),
        lambda p: p.status not in (PostStatus.PENDING, PostStatus.SENDING),
    )


async def drive(h: Harness, clock: ManualClock, key: str, until: datetime) -> None:
    """Follow a post's retry times (what its wake-ups do) until it settles or `until`."""
    while clock() < until:
        # A send in flight (a wake-up's, or discord.py retrying a 502 a second later) runs
        # on real time: let it finish before the calendar moves on.
        post = await eventually(
            lambda: h.bot.db.outbox.get(key), lambda p: p.status is not PostStatus.SENDING
        )
        if post.status is not PostStatus.PENDING:
            return
        clock.set(max(clock() + S, post.wake_at))
        await h.posting.deliver_due()


async def merge_recap(h: Harness, clock: ManualClock) -> None:
    """A recap merged and pulled, planned into the outbox, not yet delivered."""
    await h.merge({"recaps/s9-e01.md": bare_recap("s9-e01-recap", "Agents", clock())}, "Recap")
    await h.posting.sync.pull_now("poll", notify=False)
    await asyncio.to_thread(h.bot.index.reload)
    await h.posting.reconcile(events=False)
    row = await h.bot.db.outbox.get("recap:s9-e01-recap")
    assert row is not None and row.status is PostStatus.PENDING


def seed_chat(h: Harness, channel: Any, n: int, clock: ManualClock) -> None:
    """`n` member messages in a channel, a few seconds apart on the sandbox clock."""
    world = h.sandbox.world
    for i in range(n):
        clock.advance(S / 2)
        sm = world.build_message(channel, {"content": f"chat {i}"}, author=world.users[h.member.id])
        world.store_message(sm)


# -- the table ----------------------------------------------------------------------------


async def test_delayed_reminder_crash_restart_6m_later_is_one_message(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        clock.set(DUE_1H + 2 * M)  # late: it goes out "(delayed)"
        sent = await crash_in_the_gap(h, h.reminders)
        assert "(delayed)" in sent["content"]
        clock.advance(6 * M)  # past the nonce window
        await h.start_bot()
        row = await settled(h, KEY)
        assert len(bot_messages(h, h.reminders)) == 1
        assert row.status is PostStatus.SENT
        assert row.message_id == int(sent["id"])


async def test_delayed_reminder_crash_restart_20m_later_is_sent_not_skipped(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        clock.set(DUE_1H + 2 * M)
        sent = await crash_in_the_gap(h, h.reminders)
        clock.advance(20 * M)  # past its 15 minutes of grace too
        await h.start_bot()
        row = await settled(h, KEY)
        assert (row.status, row.reason) == (PostStatus.SENT, None)
        assert row.sent_at == DUE_1H + 2 * M  # Discord's time, from the message id
        assert len(bot_messages(h, h.reminders)) == 1
        assert int(sent["id"]) == row.message_id


async def test_on_time_reminder_crash_in_a_busy_channel_is_found_past_600_messages(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        clock.set(DUE_1H)
        sent = await crash_in_the_gap(h, h.reminders)
        seed_chat(h, h.reminders, 600, clock)  # 5 minutes of chat, more than 6 pages
        clock.set(DUE_1H + 6 * M)
        await h.start_bot()
        assert (await settled(h, KEY)).message_id == int(sent["id"])
        assert len(bot_messages(h, h.reminders)) == 1
        pages = h.sandbox.requests_to("GET", f"/channels/{h.reminders.id}/messages")
        assert len(pages) >= 7 and all("after" in r.query for r in pages)


async def test_recap_crash_restart_into_a_503_outage_is_one_message(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        await merge_recap(h, clock)
        sent = await crash_in_the_gap(h, h.announcements)
        clock.advance(10 * S)
        # Discord is down for 10 minutes: sends and history reads alike answer 503.
        h.sandbox.fail_every(1, 503, "/channels/*/messages")
        await h.start_bot()
        await drive(h, clock, "recap:s9-e01-recap", clock() + 10 * M)
        assert bot_messages(h, h.announcements) == [sent]  # nothing was sent blind
        # A wake-up of the bot's own may be looking it up right now: read the row at rest.
        row = await eventually(
            lambda: h.bot.db.outbox.get("recap:s9-e01-recap"),
            lambda p: p.status is not PostStatus.SENDING,
        )
        assert row.status is PostStatus.PENDING
        h.sandbox.clear_faults()
        await drive(h, clock, "recap:s9-e01-recap", clock() + H)
        row = await settled(h, "recap:s9-e01-recap")
        assert len(bot_messages(h, h.announcements)) == 1
        assert (row.status, row.message_id) == (PostStatus.SENT, int(sent["id"]))


async def test_recap_stored_then_502_then_a_503_outage_is_one_message(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        await merge_recap(h, clock)
        h.sandbox.fail_after_store("POST /channels/*/messages", 502)
        start = len(h.sandbox.requests)
        deliver = asyncio.create_task(h.posting.deliver_due())
        await h.sandbox.wait_for_request(
            lambda r: r.method == "POST" and r.status == 502, start=start, what="the 502"
        )
        # discord.py retries a 502 a second later: by then Discord is down (503) for 10 min.
        h.sandbox.fail_every(1, 503, "/channels/*/messages")
        await deliver
        await drive(h, clock, "recap:s9-e01-recap", clock() + 10 * M)
        h.sandbox.clear_faults()
        await drive(h, clock, "recap:s9-e01-recap", clock() + H)
        assert (await settled(h, "recap:s9-e01-recap")).status is PostStatus.SENT
        assert len(bot_messages(h, h.announcements)) == 1


async def test_dm_reminder_crash_restart_after_the_nonce_window_is_one_dm(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        await h.bot.db.optin.set_pref(h.member.id, "livestream", "dm", H, clock())
        await h.posting.reconcile_dms()
        key = dm_key(h.member.id, "s9-e01", "livestream", H, LS_START)
        assert (await h.bot.db.outbox.get(key)).status is PostStatus.PENDING
        dm = h.sandbox.world.dm_channel(h.member.id)
        clock.set(DUE_1H)
        await crash_in_the_gap(h, dm)
        clock.advance(6 * M)
        await h.start_bot()
        assert (await settled(h, key)).status is PostStatus.SENT
        assert len(bot_messages(h, dm)) == 1


async def healthz(h: Harness) -> dict[str, Any]:
    url = h.bot.webhook.url + "/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


async def test_a_record_step_that_fails_once_is_retried_at_once(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        outbox = h.bot.db.outbox
        real = outbox.retry_later
        calls = 0

        async def locked_once(*args: Any, **kwargs: Any) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreError("database is locked")
            return await real(*args, **kwargs)

        outbox.retry_later = locked_once  # the store refuses once, as a busy disk would
        h.sandbox.fail_next(1, 503, "POST /channels/*/messages")
        clock.set(DUE_1H)
        await h.posting.deliver_due()
        row = await outbox.get(KEY)
        assert row.status is PostStatus.PENDING and calls == 2  # not left in `sending`
        await drive(h, clock, KEY, DUE_1H + 10 * M)
        assert (await settled(h, KEY)).status is PostStatus.SENT
        assert len(bot_messages(h, h.reminders)) == 1


async def test_a_row_stuck_in_sending_is_reported_and_recovered_by_the_sweep(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        outbox = h.bot.db.outbox
        real = outbox.mark_sent
        broken = True

        async def disk_full(*args: Any, **kwargs: Any) -> bool:
            if broken:
                raise StoreError("database or disk is full")
            return await real(*args, **kwargs)

        outbox.mark_sent = disk_full
        clock.set(DUE_1H)
        await h.posting.deliver_due()  # sent; every try to record it fails
        assert (await outbox.get(KEY)).status is PostStatus.SENDING
        clock.advance(6 * M)
        health = await healthz(h)
        assert health["ok"] is False
        assert any(KEY in r and "stuck" in r for r in health["reasons"]), health["reasons"]
        broken = False  # the disk has room again: the sweep settles the row
        await h.posting.deliver_due()
        row = await settled(h, KEY)
        assert row.status is PostStatus.SENT
        assert len(bot_messages(h, h.reminders)) == 1
        assert (await healthz(h))["ok"] is True


async def test_a_second_amabot_run_exits_2_and_changes_nothing(tmp_path):
    async with world(tmp_path, system_clock) as h:
        before = await h.bot.db.leases.get()
        rows = [(p.key, p.status, p.updated_at) for p in await h.bot.db.outbox.all()]
        env = {**os.environ, **h.environ}
        env.pop("AMABOT_CONFIG", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(h.config_path),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 2, out.decode()
        assert "another amabot" in out.decode()
        assert await h.bot.db.leases.get() == before
        assert [(p.key, p.status, p.updated_at) for p in await h.bot.db.outbox.all()] == rows
        # and the first one still delivers
        assert await h.bot.db.leases.renew(before.holder, system_clock(), timedelta(seconds=30))


async def test_a_crashed_holder_is_replaced_at_once_on_the_same_host(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        leases = h.bot.db.leases
        # A process that died without releasing (no such pid on this host).
        await leases.release(h.bot.lease_holder)
        dead = f"{socket.gethostname()}:{2**22 + 12345}:dead"
        assert await leases.take(dead, clock(), timedelta(minutes=5))
        await h.stop_bot()
        await h.start_bot()
        assert (await h.bot.db.leases.get()).holder == h.bot.lease_holder


async def test_organiser_alert_goes_through_the_outbox_and_survives_a_503(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(
        tmp_path, clock, configure=lambda h: {"organisers": {"alerts_channel_id": h.general.id}}
    ) as h:
        await h.sandbox.deny_channel(h.reminders)
        h.sandbox.fail_next(1, 503, f"POST /channels/{h.general.id}/messages")
        clock.set(DUE_1H)
        await h.posting.deliver_due()
        assert (await h.bot.db.outbox.get(KEY)).status is PostStatus.FAILED
        alert = f"alert:{KEY}"
        assert (await h.bot.db.outbox.get(alert)).status is not PostStatus.SENT  # 503: kept
        await drive(h, clock, alert, clock() + 10 * M)
        assert (await settled(h, alert)).status is PostStatus.SENT
        alerts = bot_messages(h, h.general)
        assert len(alerts) == 1 and KEY in alerts[0]["content"]


async def test_a_crosspost_answered_5xx_is_retried_until_done(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        await merge_recap(h, clock)
        h.sandbox.fail_after_store("POST /channels/*/messages/*/crosspost", 503)
        await h.posting.deliver_due()
        row = await h.bot.db.outbox.get("recap:s9-e01-recap")
        assert (row.status, row.publish_status) == (PostStatus.SENT, "pending")
        clock.advance(5 * M)

        async def published() -> Any:
            await h.posting.deliver_due()  # a wake-up may be publishing it meanwhile
            return await h.bot.db.outbox.get("recap:s9-e01-recap")

        row = await eventually(published, lambda p: p.publish_status != "pending")
        assert row.publish_status == "done"  # the retry met 40033 "already crossposted"
        (message,) = bot_messages(h, h.announcements)
        assert message["flags"] & 1  # CROSSPOSTED


async def test_crossposts_are_paced_outside_the_send_lock(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        files = {
            f"recaps/r{i:02d}.md": bare_recap(f"r{i:02d}", f"Recap {i:02d}", clock() - i * S)
            for i in range(12)
        }
        await h.merge(files, "A backlog of recaps")
        # The 5th crosspost meets Discord's hour-long publish limit.
        h.sandbox.fail_every(
            5, 429, "POST /channels/*/messages/*/crosspost", retry_after=3000, count=1
        )
        await h.posting.sync.pull_now("poll", notify=False)
        await asyncio.to_thread(h.bot.index.reload)
        await h.posting.reconcile(events=False)
        await asyncio.wait_for(h.posting.deliver_due(), timeout=20)  # nobody sleeps an hour
        rows = [p for p in await h.bot.db.outbox.all() if p.kind == "recap"]
        assert len(rows) == 12 and all(p.status is PostStatus.SENT for p in rows)
        assert len(bot_messages(h, h.announcements)) == 12
        done = [p for p in rows if p.publish_status == "done"]
        assert len(done) <= 10  # the channel's budget for the hour
        waiting = [p for p in rows if p.publish_status == "pending"]
        assert len(done) + len(waiting) == 12
        crossposts = h.sandbox.requests_to("POST", "/channels/*/messages/*/crosspost")
        assert len(crossposts) <= 11  # ten published, one refused: no retry storm
        clock.advance(2 * H)  # the hour has passed: the rest go out

        async def publishes() -> list[str | None]:
            await h.posting.deliver_due()
            return [p.publish_status for p in await h.bot.db.outbox.all() if p.kind == "recap"]

        await eventually(publishes, lambda st: st == ["done"] * 12)


async def test_a_scheduled_event_created_then_answered_503_is_adopted_not_made_twice(tmp_path):
    clock = ManualClock(DUE_1H - 24 * H)
    async with world(tmp_path, clock, start=False, configure=lambda h: events_on(h)) as h:
        h.sandbox.fail_after_store("POST /guilds/*/scheduled-events", 503, count=2)
        await h.start_bot()
        await h.posting.reconcile_events()
        await h.posting.reconcile_events()
        await h.posting.reconcile_events()
        made = ours(h)
        assert len(made) == 2, made  # one livestream, one AMA: none twice
        stored = await h.bot.db.events.all()
        assert {int(e["id"]) for e in made} == {s.discord_id for s in stored.values()}


async def test_a_refused_token_stops_delivery_loses_nothing_and_resumes(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock) as h:
        h.sandbox.fail_next(1, 401, "POST /channels/*/messages")
        clock.set(DUE_1H)
        bot = h.bot
        await h.posting.deliver_due()
        assert bot.fatal and "token" in bot.fatal
        await asyncio.wait_for(h._bot_task, timeout=10)  # the bot stopped itself
        await h.stop_bot()
        reopened = await open_store(h.settings.storage.database, clock=clock)
        try:
            row = await reopened.outbox.get(KEY)
            assert (row.status, row.attempts) == (PostStatus.PENDING, 0)  # untouched
        finally:
            await reopened.close()
        clock.advance(M)
        await h.start_bot()  # with a new token
        assert (await settled(h, KEY)).status is PostStatus.SENT
        assert len(bot_messages(h, h.reminders)) == 1


async def test_a_lost_lease_stops_the_bot(tmp_path):
    clock = ManualClock(DUE_1H - 2 * H)
    async with world(tmp_path, clock, overrides={"storage": {"lease_ttl": "3s"}}) as h:
        bot = h.bot
        # The bot stalled past its lease and another process took the database over.
        assert await bot.db.leases.take("elsewhere:1:x", clock() + 10 * S, 30 * S)
        await asyncio.wait_for(h._bot_task, timeout=10)  # the next renewal stops it
        assert bot.fatal is not None and "lease" in bot.fatal
        assert bot.posting.dispatcher.stopped
