"""`[events] auto_start` that does not end the event early (issue 15, item 6), end to end.

Discord completes an active stage event a few minutes after its channel is left empty, so an
AMA started at its exact time before anyone came would be over when the hosts walk in. The
bot starts it when a host (an organiser) is in the stage, or `auto_start_after` past its time
if anyone is, and never into an empty stage. Real bot, stand-in (voice states), ManualClock.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import AMA_START, events_on, ours, world

M = timedelta(minutes=1)


def configure(h):
    return events_on(h, auto_start=True, auto_start_after="5m")


def start_patches(h, event_id: str) -> list:
    return [
        r
        for r in h.sandbox.requests_to("PATCH", f"/guilds/{h.guild.id}/scheduled-events/*")
        if r.path.endswith(event_id) and (r.json or {}).get("status") == 2
    ]


async def test_the_ama_starts_when_a_host_joins_the_stage_not_before(tmp_path):
    clock = ManualClock(AMA_START - 10 * M)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        (ama,) = ours(h)
        clock.set(AMA_START)  # its time: the wake-up runs the events pass, the stage is empty
        await h.posting.reconcile_events()
        assert start_patches(h, ama["id"]) == []
        assert ours(h)[0]["status"] == 1
        await h.sandbox.join_voice(h.member, h.stage)  # a member, not a host, 1 minute in
        clock.set(AMA_START + M)
        await h.posting.reconcile_events()
        assert start_patches(h, ama["id"]) == []

        await h.sandbox.join_voice(h.organiser, h.stage)  # the host walks in: started at once
        await h.sandbox.wait_for(lambda: ours(h)[0]["status"] == 2)
        await eventually(lambda: h.bot.db.events.get("event:s9-e01:ama"), lambda s: s.status == 2)
        assert len(start_patches(h, ama["id"])) == 1


async def test_a_few_minutes_in_anyone_in_the_stage_is_enough_and_nobody_is_not(tmp_path):
    clock = ManualClock(AMA_START - 10 * M)
    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        (ama,) = ours(h)
        check = AMA_START + 5 * M
        assert f"events:{check.isoformat()}" in h.posting.wakeups.job_ids()
        clock.set(check)
        await h.posting.reconcile_events()
        assert start_patches(h, ama["id"]) == []  # nobody there: not started into the void
        await h.sandbox.join_voice(h.member, h.stage)  # a guest host without the role
        await h.sandbox.wait_for(lambda: ours(h)[0]["status"] == 2)
        assert len(start_patches(h, ama["id"])) == 1
