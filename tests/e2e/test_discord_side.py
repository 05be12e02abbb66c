"""At every READY the bot re-reads Discord's side of its scheduled events (issue 15, item 5).

What a gateway event would have said while the bot was down is read back: "Interested" marks
made (and withdrawn) meanwhile reach the DM reminders, paged like Discord pages them; an event
of ours a person deleted is recorded as such and not fought (no PATCH to a dead id, no
re-creation until the organisers change that episode); a status a person changed is taken.
Real bot, stand-in, real git repository and SQLite file, ManualClock.
"""

from __future__ import annotations

from bot.clock import ManualClock
from bot.plan.scheduled_events import EventStatus
from bot.store import open_store
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import AMA_START, SUNDAY, events_on, ours, rk, world


def configure(h):
    return {**events_on(h), "optin": {"interested_dm": True}}


def patches_of(h, event_id: str) -> list:
    return h.sandbox.requests_to("PATCH", f"/guilds/{h.guild.id}/scheduled-events/{event_id}")


def creates(h) -> list:
    return h.sandbox.requests_to("POST", f"/guilds/{h.guild.id}/scheduled-events")


async def test_interest_marked_while_down_reaches_the_dm_reminders(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        _, ama = ours(h)
        early = h.sandbox.add_member(h.guild, "early")
        await h.sandbox.mark_interested(early, ama["id"])
        await eventually(
            h.bot.db.optin.interested, lambda items: any(i.member_id == early.id for i in items)
        )
        await h.stop_bot()
        # While the bot is down: 150 members mark "Interested" (two pages), one withdraws.
        crowd = [h.sandbox.add_member(h.guild, f"fan{n}") for n in range(150)]
        for member in (h.member, *crowd):
            await h.sandbox.mark_interested(member, ama["id"])
        await h.sandbox.mark_interested(early, ama["id"], interested=False)

        await h.start_bot()
        wanted = {h.member.id, *(m.id for m in crowd)}
        items = await eventually(
            h.bot.db.optin.interested,
            lambda items: {i.member_id for i in items} == wanted,
        )
        assert {i.event_key for i in items} == {"event:s9-e01:ama"}
        key = rk(f"dm:{h.member.id}:s9-e01:ama:1h", AMA_START)
        await eventually(lambda: h.bot.db.outbox.get(key), lambda p: p is not None)
        pages = h.sandbox.requests_to(
            "GET", f"/guilds/{h.guild.id}/scheduled-events/{ama['id']}/users"
        )
        assert pages and all(int(r.query.get("limit", "0")) <= 100 for r in pages)
        assert any("after" in r.query for r in pages)


async def test_an_event_a_person_deleted_while_down_is_left_deleted(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        livestream, ama = ours(h)
        await h.stop_bot()
        # While the bot is down, a person deletes the livestream event and cancels the AMA's.
        events = h.sandbox.world.guild(h.guild).scheduled_events
        del events[int(livestream["id"])]
        events[int(ama["id"])].data["status"] = int(EventStatus.CANCELED)

        await h.start_bot()
        await eventually(
            h.bot.db.events.all,
            lambda st: (
                st["event:s9-e01:livestream"].status == EventStatus.CANCELED
                and st["event:s9-e01:ama"].status == EventStatus.CANCELED
            ),
        )
        # A content change that does not touch the episode: nothing is PATCHed or re-made.
        await h.merge({"notes.md": "unrelated\n"}, "unrelated")
        await h.posting.sync.pull_now("test")
        await h.posting.reconcile_events()
        assert patches_of(h, livestream["id"]) == []
        assert len(creates(h)) == 2
        assert not (await h.bot.db.events.errors())
        # The organisers change the episode: that is a new event, made again.
        await h.merge({"episodes/s9-e01.md": episode_md(title="Fine Tuning, again")}, "edit")
        await h.posting.sync.pull_now("test")
        await h.posting.reconcile_events()
        assert len(creates(h)) == 4
        assert patches_of(h, livestream["id"]) == []


async def test_an_event_of_ours_the_store_lost_is_adopted_not_made_twice(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        livestream, ama = ours(h)
        await h.stop_bot()
        # A crash between Discord's answer and the store's write: the store never heard of it.
        async with await open_store(h.settings.storage.database) as store:
            assert await store.events.delete("event:s9-e01:ama")
        await h.start_bot()
        stored = await eventually(
            h.bot.db.events.all, lambda st: "event:s9-e01:ama" in st and st["event:s9-e01:ama"]
        )
        assert stored["event:s9-e01:ama"].discord_id == int(ama["id"])
        await h.posting.reconcile_events()
        assert len(creates(h)) == 2
        assert [e["id"] for e in ours(h)] == [livestream["id"], ama["id"]]
