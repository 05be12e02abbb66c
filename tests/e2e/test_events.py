"""Discord scheduled events from the content, end to end: the real bot against the sandbox.

Created once (across restarts), one PATCH per content change, cancelled with the episode,
`create_ahead` respected, people's events never touched, a missing Manage Events permission
reported (store, /healthz, `amabot plan`) without stopping anything else, and with
auto_start the AMA stage event started at its start time by the wake-up itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.cli.plan import collect_plan, render_text
from bot.clock import ManualClock
from bot.plan.scheduled_events import event_link
from testkit.sandbox.state import BOT_DEFAULT, CREATE_EVENTS, MANAGE_EVENTS
from tests.builders import JOIN, REGISTER, episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import (
    AMA_START,
    LS_START,
    SUNDAY,
    events_on,
    http_get,
    ours,
    webhook_url,
    weekly_episodes,
    world,
)

H = timedelta(hours=1)


def event_posts(h):
    return h.sandbox.requests_to("POST", "/guilds/*/scheduled-events")


def event_patches(h):
    return h.sandbox.requests_to("PATCH", "/guilds/*/scheduled-events/*")


async def test_events_are_made_once_follow_the_content_and_are_cancelled_with_it(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=events_on
    ) as h:
        await h.posting.reconcile_events()  # after the start-up pass
        livestream, ama = ours(h)
        assert livestream["name"] == "S9:E1 Livestream: Fine Tuning & Distillation"
        assert livestream["entity_type"] == 3
        assert livestream["entity_metadata"] == {"location": REGISTER}
        assert livestream["scheduled_start_time"].startswith("2025-07-14T17:30:00")
        assert livestream["scheduled_end_time"].startswith("2025-07-14T18:00:00")
        assert ama["entity_type"] == 1 and ama["channel_id"] == str(h.stage.id)
        assert ama["scheduled_start_time"].startswith("2025-07-18T17:30:00")
        assert "Customising a model" in ama["description"]
        assert "With Dave Voutila" in ama["description"]
        assert len(event_posts(h)) == 2
        stored = await h.bot.db.events.all()
        assert {k: v.discord_id for k, v in stored.items()} == {
            "event:s9-e01:ama": int(ama["id"]),
            "event:s9-e01:livestream": int(livestream["id"]),
        }

        # /episode: "Interested?" links to the Discord event, not the hand-pasted ama.url.
        reply = await h.sandbox.slash(h.member, h.general, "episode", query="s9e1")
        links = {b["label"]: b.get("url") for r in reply.components for b in r["components"]}
        assert links["Interested?"] == event_link(h.guild.id, int(ama["id"]))
        assert JOIN not in links.values()

        # A restart never makes a second event.
        await h.restart_bot()
        await h.posting.reconcile_events()
        assert len(event_posts(h)) == 2 and len(ours(h)) == 2

        # The AMA moves by an hour: one PATCH, for the AMA only, with the new times.
        await h.merge({"episodes/s9-e01.md": episode_md(ama="2025-07-18T11:30")}, "move AMA")
        await h.posting.sync.pull_now("test")
        patches = event_patches(h)
        assert len(patches) == 1
        assert patches[0].path.endswith(f"/scheduled-events/{ama['id']}")
        assert patches[0].json["scheduled_start_time"].startswith("2025-07-18T18:30:00")
        assert ours(h)[1]["scheduled_start_time"].startswith("2025-07-18T18:30:00")
        await h.posting.reconcile()  # nothing changed since: nothing sent
        assert len(event_patches(h)) == 1 and len(event_posts(h)) == 2

        # Cancelled: both events cancelled (status 4), never deleted, and no longer offered.
        await h.merge({"episodes/s9-e01.md": episode_md(status="cancelled")}, "cancel")
        await h.posting.sync.pull_now("test")
        assert [e["status"] for e in ours(h)] == [4, 4]
        assert not h.sandbox.requests_to("DELETE", "/guilds/*/scheduled-events/*")
        reply = await h.sandbox.slash(h.member, h.general, "episode", query="s9e1")
        labels = [b["label"] for r in reply.components for b in r["components"]]
        assert "Interested?" not in labels
        await h.posting.reconcile()
        assert len(event_patches(h)) == 3  # the two cancellations, then nothing


async def test_create_ahead_caps_our_events_and_peoples_events_are_left_alone(tmp_path):
    clock = ManualClock(SUNDAY)

    def configure(h):
        return events_on(h, create_ahead=3)

    async with world(tmp_path, clock=clock, episodes=weekly_episodes(3), configure=configure) as h:
        theirs = await h.sandbox.add_scheduled_event(
            h.guild, "Community game night", start=SUNDAY + 3 * H, end=SUNDAY + 5 * H
        )
        await h.posting.reconcile_events()
        made = ours(h)
        # Six events are planned; only the next three are made.
        assert [e["name"].split(":")[1][:2] for e in made] == ["E1", "E1", "E2"]
        assert len(event_posts(h)) == 3
        # The first livestream ends: the next event is made, keeping three open.
        clock.set(LS_START + timedelta(minutes=31))
        await h.posting.reconcile()
        assert len(event_posts(h)) == 4
        open_ = [e for e in ours(h) if e["status"] in (1, 2)]
        # Discord itself starts and ends an EXTERNAL event at its times (guild-scheduled-
        # event.mdx): the ended livestream is COMPLETED without the bot touching it (no
        # auto_start), and three stay open.
        [ended] = [e for e in ours(h) if "E1 Livestream" in e["name"]]
        assert ended["status"] == 3
        assert not [p for p in event_patches(h) if p.path.endswith(ended["id"])]
        assert len(open_) == 3
        assert not [p for p in event_patches(h) if p.path.endswith(theirs["id"])]
        events = {e["id"]: e for e in h.sandbox.scheduled_events(h.guild)}
        # Past its end, Discord completed the people's external event itself; the bot did not.
        assert events[theirs["id"]]["status"] == 3


async def test_without_manage_events_the_error_is_reported_and_reminders_still_go_out(tmp_path):
    clock = ManualClock(SUNDAY)

    def no_events(h):
        h.sandbox.set_bot_permissions(h.guild, BOT_DEFAULT & ~(MANAGE_EVENTS | CREATE_EVENTS))

    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": episode_md()},
        configure=events_on,
        before_start=no_events,
    ) as h:
        await h.posting.reconcile_events()
        assert ours(h) == []
        error = await h.bot.db.events.permission_error()
        assert error and "Manage Events" in error
        _, body, _ = await http_get(webhook_url(h) + "/healthz")
        health = json.loads(body)
        assert health["ok"] is False
        assert "Manage Events" in health["events"]["permission_error"]
        plan = await collect_plan(h.settings, days=14, clock=clock)
        assert "Manage Events" in plan["events"]["permission_error"]
        assert [a["op"] for a in plan["events"]["actions"]] == ["create", "create"]
        text = render_text(plan)
        assert "ERROR: cannot create the Discord event" in text
        assert "next pass: create event:s9-e01:livestream" in text

        # Everything else keeps working: the livestream reminder goes out on time.
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        message = await h.sandbox.wait_for_message(h.reminders)
        assert "livestream in 1 hour" in message["content"]

        # The permission is granted: the next pass makes the events and clears the error.
        h.sandbox.set_bot_permissions(h.guild, BOT_DEFAULT)
        await h.posting.reconcile()
        assert [e["name"].split(" ")[1] for e in ours(h)] == ["Livestream:", "AMA:"]
        assert await h.bot.db.events.permission_error() is None


class ShiftedClock:
    """The wall clock moved to just before the AMA: the APScheduler wake-up must fire."""

    def __init__(self, at: datetime):
        self.at = at
        self.restart()

    def restart(self) -> None:
        self.shift = self.at - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


async def test_auto_start_starts_the_stage_event_at_its_time_and_ends_it_after(tmp_path):
    clock = ShiftedClock(AMA_START - timedelta(seconds=4))

    def configure(h):
        return events_on(h, auto_start=True)

    async with world(
        tmp_path,
        clock=clock,
        episodes={"s9-e01": episode_md()},
        configure=configure,
        before_start=lambda h: clock.restart(),  # the 4 seconds start with the bot
    ) as h:
        await h.posting.reconcile_events()
        (ama,) = ours(h)  # the livestream is over by Friday
        assert f"events:{AMA_START.isoformat()}" in h.posting.wakeups.job_ids()
        await h.sandbox.join_voice(h.organiser, h.stage)  # the host is early

        def status_patch(value):
            return lambda r: (
                r.method == "PATCH"
                and r.path.endswith(ama["id"])
                and (r.json or {}).get("status") == value
            )

        started = await h.sandbox.wait_for_request(status_patch(2), timeout=10)
        assert clock() >= AMA_START  # not before its time
        assert started.time >= AMA_START
        await eventually(lambda: h.bot.db.events.get("event:s9-e01:ama"), lambda st: st.status == 2)
        end = AMA_START + timedelta(minutes=30)
        assert f"events:{end.isoformat()}" in h.posting.wakeups.job_ids()

        clock.shift += timedelta(minutes=31)  # the AMA's 30 minutes are over
        await h.posting.rebuild_wakeups()  # the end wake-up is now overdue: it runs at once
        await h.sandbox.wait_for_request(status_patch(3), timeout=10)
        assert ours(h)[0]["status"] == 3
