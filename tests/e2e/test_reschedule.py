"""Reschedules and cancellations end to end (issue 15, items 2 and 3): the real bot against the
stand-in, a real git content repository and SQLite file, a ManualClock.

A reschedule is a new event for reminders: the reminders already sent are edited to say the
event moved (with the new time), and the new instant gets its own reminders, each sent once,
across restarts and moves back and forth. A cancellation strikes the sent ones through and
cancels the rest.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from bot.clock import ManualClock
from testkit import storeview
from tests.builders import TBD, episode_md
from tests.e2e.episodes import LS_START, SUNDAY, world
from tests.e2e.test_optin import dm_channel, notify

H = timedelta(hours=1)


def reminders_config(h):
    return {"reminders": {"offsets": ["24h", "1h"]}}


def edits(h) -> list:
    return h.sandbox.requests_to("PATCH", f"/channels/{h.reminders.id}/messages/*")


def sends(h) -> list:
    return h.sandbox.requests_to("POST", f"/channels/{h.reminders.id}/messages")


def ts(dt) -> str:
    return f"<t:{int(dt.timestamp())}:F>"


async def pull(h) -> None:
    await h.posting.sync.pull_now("test")


async def at(h, clock: ManualClock, when) -> None:
    clock.set(when)
    await h.posting.deliver_due()


def livestream_only(**kw) -> str:
    return episode_md(ama=TBD, **kw)


async def test_a_move_after_a_reminder_went_out_edits_it_and_reminds_again(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": livestream_only()},
        configure=reminders_config,
    ) as h:
        await at(h, clock, LS_START - 24 * H)
        [first] = h.sandbox.messages(h.reminders)
        assert "in 24 hours" in first["content"] and ts(LS_START) in first["content"]

        new_start = LS_START + 7 * 24 * H  # a week later, same wall time
        await h.merge({"episodes/s9-e01.md": livestream_only(livestream="2025-07-21T10:30")}, "mv")
        await pull(h)

        [moved] = h.sandbox.messages(h.reminders)
        assert moved["id"] == first["id"]
        assert "~~" in moved["content"] and "Moved to" in moved["content"]
        assert ts(new_start) in moved["content"]
        assert len(edits(h)) == 1

        # Nothing at the old time; the new instant gets both reminders, once each.
        await at(h, clock, LS_START - H)
        assert len(sends(h)) == 1
        await h.restart_bot()
        await at(h, clock, new_start - 24 * H)
        await h.restart_bot()
        await at(h, clock, new_start - H)
        await h.posting.deliver_due()
        contents = [m["content"] for m in h.sandbox.messages(h.reminders)]
        assert len(sends(h)) == 3, contents
        assert ts(new_start) in contents[1] and "in 24 hours" in contents[1]
        assert ts(new_start) in contents[2] and "in 1 hour" in contents[2]
        assert len(edits(h)) == 1  # the restarts edited nothing again


async def test_moving_there_and_back_sends_each_reminder_once(tmp_path):
    clock = ManualClock(SUNDAY)
    b_start = LS_START + 2 * H
    a_md = livestream_only()
    b_md = livestream_only(livestream="2025-07-14T12:30")
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": a_md}, configure=reminders_config
    ) as h:
        await at(h, clock, LS_START - 24 * H)  # A's 24h reminder
        await h.merge({"episodes/s9-e01.md": b_md}, "A -> B")
        await pull(h)
        await at(h, clock, b_start - 24 * H)  # B's 24h reminder
        assert len(sends(h)) == 2
        a_msg, b_msg = h.sandbox.messages(h.reminders)
        assert "Moved to" in a_msg["content"] and ts(b_start) in a_msg["content"]
        assert "Moved to" not in b_msg["content"]

        await h.merge({"episodes/s9-e01.md": a_md}, "B -> A")
        await pull(h)
        await h.restart_bot()
        await pull(h)
        a_msg, b_msg = h.sandbox.messages(h.reminders)
        # A's reminder is true again: back to what it said; B's says where the event went.
        assert "Moved to" not in a_msg["content"] and "~~" not in a_msg["content"]
        assert ts(LS_START) in a_msg["content"]
        assert "Moved to" in b_msg["content"] and ts(LS_START) in b_msg["content"]
        assert len(sends(h)) == 2  # A's 24h reminder was not sent a second time

        await at(h, clock, LS_START - H)
        await h.restart_bot()
        await h.posting.deliver_due()
        assert len(sends(h)) == 3
        assert "in 1 hour" in h.sandbox.messages(h.reminders)[-1]["content"]


async def test_a_time_zone_change_is_a_move(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": livestream_only()},
        configure=reminders_config,
    ) as h:
        await at(h, clock, LS_START - 24 * H)
        # Same wall time, New York instead of Los Angeles: three hours earlier.
        ny_start = LS_START - 3 * H
        await h.merge({"episodes/s9-e01.md": livestream_only(timezone="America/New_York")}, "tz")
        await pull(h)
        [moved] = h.sandbox.messages(h.reminders)
        assert "Moved to" in moved["content"] and ts(ny_start) in moved["content"]
        await at(h, clock, ny_start - H)
        await at(h, clock, LS_START - H)
        assert len(sends(h)) == 2
        last = h.sandbox.messages(h.reminders)[-1]["content"]
        assert "in 1 hour" in last and ts(ny_start) in last


async def test_a_cancellation_strikes_the_sent_reminders_and_cancels_the_rest(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": livestream_only()},
        configure=reminders_config,
    ) as h:
        await at(h, clock, LS_START - 24 * H)
        [sent] = h.sandbox.messages(h.reminders)
        assert sent["components"]  # the register button
        await h.merge({"episodes/s9-e01.md": livestream_only(status="cancelled")}, "cancel")
        await pull(h)
        [struck] = h.sandbox.messages(h.reminders)
        assert struck["content"].startswith("~~") and "Cancelled" in struck["content"]
        assert not struck["components"]
        await h.restart_bot()
        await pull(h)
        await at(h, clock, LS_START - H)
        assert len(sends(h)) == 1  # the 1-hour reminder was cancelled
        assert len(edits(h)) == 1  # edited once, not at every pass


async def test_a_database_of_the_previous_version_keeps_its_sent_reminders(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": livestream_only()},
        configure=reminders_config,
    ) as h:
        await at(h, clock, LS_START - 24 * H)
        await h.stop_bot()
        # What the previous version wrote: reminder keys without the event's instant.
        storeview.strip_reminder_instants(h.settings.storage.database)
        assert set(await storeview.outbox_rows(h.settings.storage.database)) == {
            "reminder:s9-e01:livestream:24h",
            "reminder:s9-e01:livestream:1h",
        }
        await h.start_bot()
        await at(h, clock, LS_START - H)
        await h.posting.deliver_due()
        assert len(sends(h)) == 2  # the 24-hour reminder was not sent again
        assert all("@" in p.key for p in await h.bot.db.outbox.all())


def dm_edits(h) -> list:
    return h.sandbox.requests_to("PATCH", f"/channels/{dm_channel(h).id}/messages/*")


@contextlib.asynccontextmanager
async def dm_sent(tmp_path, clock: ManualClock):
    """A member who asked for a DM 1 hour before each livestream, and that DM sent."""
    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": livestream_only()},
        configure=reminders_config,
    ) as h:
        await h.sandbox.wait_final(await notify(h, "livestream", "dm:1h"))
        await at(h, clock, LS_START - H)
        yield h


async def test_a_members_dm_reminder_follows_a_move_too(tmp_path):
    clock = ManualClock(SUNDAY)
    async with dm_sent(tmp_path, clock) as h:
        [sent] = h.sandbox.messages(dm_channel(h))
        assert ts(LS_START) in sent["content"]
        # Bad weather: the livestream moves a day on, after the member's DM went out.
        new_start = LS_START + 24 * H
        await h.merge({"episodes/s9-e01.md": livestream_only(livestream="2025-07-15T10:30")}, "mv")
        await pull(h)
        [moved] = h.sandbox.messages(dm_channel(h))
        assert moved["id"] == sent["id"]
        assert (
            moved["content"].startswith("~~") and f"Moved to {ts(new_start)}" in (moved["content"])
        )
        assert len(dm_edits(h)) == 1
        await h.restart_bot()
        await pull(h)
        await at(h, clock, new_start - H)
        await h.posting.deliver_due()
        dms = h.sandbox.messages(dm_channel(h))
        assert len(dms) == 2, [m["content"] for m in dms]
        assert ts(new_start) in dms[1]["content"] and "~~" not in dms[1]["content"]
        assert len(dm_edits(h)) == 1  # edited once, not at every pass or restart


async def test_a_cancellation_strikes_the_members_sent_dm(tmp_path):
    clock = ManualClock(SUNDAY)
    async with dm_sent(tmp_path, clock) as h:
        await h.merge({"episodes/s9-e01.md": livestream_only(status="cancelled")}, "cancel")
        await pull(h)
        await h.restart_bot()
        await pull(h)
        [struck] = h.sandbox.messages(dm_channel(h))
        assert struck["content"].startswith("~~") and "Cancelled" in struck["content"]
        assert not struck["components"]
        assert len(dm_edits(h)) == 1
