"""Scheduled events as strict as Discord: per-channel permissions and the transitions
Discord makes on its own as time passes (guild-scheduled-event.mdx)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.clock import ManualClock
from testkit.sandbox import Sandbox, SandboxClient
from testkit.sandbox.state import (
    CONNECT,
    MANAGE_CHANNELS,
    MOVE_MEMBERS,
    MUTE_MEMBERS,
    VIEW_CHANNEL,
)
from tests.sandbox.test_strict import T0, call

STAGE_NEEDS = MANAGE_CHANNELS | MUTE_MEMBERS | MOVE_MEMBERS


@pytest.fixture
async def world():
    clock = ManualClock(T0)
    async with Sandbox(clock=clock, tick_interval=None) as sb:
        guild = sb.add_guild("Model Mondays")
        stage = sb.add_channel(guild, "ama-stage", "stage")
        voice = sb.add_channel(guild, "hangout", "voice")
        alice = sb.add_member(guild, "alice")
        yield SimpleNamespace(
            sb=sb, clock=clock, guild=guild, stage=stage, voice=voice, alice=alice
        )


def event_body(etype: int, channel: Any = None, *, start: timedelta = timedelta(hours=1)) -> dict:
    body: dict[str, Any] = {
        "name": "AMA",
        "entity_type": etype,
        "privacy_level": 2,
        "scheduled_start_time": (T0 + start).isoformat(),
    }
    if etype == 3:
        body["entity_metadata"] = {"location": "YouTube"}
        body["scheduled_end_time"] = (T0 + start + timedelta(minutes=30)).isoformat()
    else:
        body["channel_id"] = str(channel.id)
    return body


async def create(sb: Sandbox, guild: Any, body: dict) -> tuple[int, Any]:
    return await call(sb, "POST", f"/guilds/{guild.id}/scheduled-events", body)


async def test_a_stage_event_needs_manage_channels_mute_and_move_on_the_stage(world):
    sb = world.sb
    status, err = await create(sb, world.guild, event_body(1, world.stage))
    assert (status, err["code"]) == (403, 50013)  # Manage Events alone is not enough
    await sb.set_overwrite(world.stage, sb.bot_role(world.guild), allow=MANAGE_CHANNELS)
    assert (await create(sb, world.guild, event_body(1, world.stage)))[0] == 403
    await sb.set_overwrite(world.stage, sb.bot_role(world.guild), allow=STAGE_NEEDS)
    status, ev = await create(sb, world.guild, event_body(1, world.stage))
    assert status == 200 and ev["entity_type"] == 1


async def test_a_voice_event_needs_view_and_connect_on_the_channel(world):
    sb = world.sb
    assert (await create(sb, world.guild, event_body(2, world.voice)))[0] == 200
    await sb.set_overwrite(world.voice, sb.bot_role(world.guild), deny=CONNECT)
    assert (await create(sb, world.guild, event_body(2, world.voice)))[0] == 403
    await sb.set_overwrite(world.voice, world.guild.id, deny=VIEW_CHANNEL)
    await sb.set_overwrite(world.voice, sb.bot_role(world.guild))
    assert (await create(sb, world.guild, event_body(2, world.voice)))[0] == 403


async def test_an_external_event_needs_a_location_and_an_end(world):
    sb = world.sb
    body = event_body(3)
    del body["scheduled_end_time"]
    status, err = await create(sb, world.guild, body)
    assert status == 400 and "scheduled_end_time" in err["errors"]
    body = event_body(3)
    body["entity_metadata"] = {}
    assert (await create(sb, world.guild, body))[0] == 400


async def test_external_events_start_and_end_on_their_own(world):
    sb, clock = world.sb, world.clock
    _, ev = await create(sb, world.guild, event_body(3))
    assert await sb.tick() == []
    clock.advance(timedelta(hours=1))
    [started] = await sb.tick()
    assert (started["id"], started["status"]) == (ev["id"], 2)
    clock.advance(timedelta(minutes=30))
    [ended] = await sb.tick()
    assert ended["status"] == 3
    # An API request ticks too: no stale status is ever served.
    _, ev2 = await create(sb, world.guild, event_body(3, start=timedelta(hours=3)))
    clock.advance(timedelta(days=1))
    status, got = await call(sb, "GET", f"/guilds/{world.guild.id}/scheduled-events/{ev2['id']}")
    assert status == 200 and got["status"] == 3


async def test_an_empty_active_stage_event_is_completed_after_the_timeout(world):
    sb, clock = world.sb, world.clock
    assert sb.empty_event_timeout == 180.0
    await sb.set_overwrite(world.stage, sb.bot_role(world.guild), allow=STAGE_NEEDS)
    _, ev = await create(sb, world.guild, event_body(1, world.stage))
    clock.advance(timedelta(hours=1))
    await sb.join_voice(world.alice, world.stage)
    path = f"/guilds/{world.guild.id}/scheduled-events/{ev['id']}"
    assert (await call(sb, "PATCH", path, {"status": 2}))[1]["status"] == 2
    clock.advance(timedelta(minutes=30))
    assert await sb.tick() == []  # someone is on the stage: it stays ACTIVE
    await sb.leave_voice(world.alice)
    clock.advance(timedelta(seconds=179))
    assert await sb.tick() == []
    clock.advance(timedelta(seconds=2))
    [done] = await sb.tick()
    assert done["status"] == 3
    status, _ = await call(sb, "PATCH", path, {"status": 3})
    assert status == 400  # completed: the bot's own "end" comes too late


async def test_an_event_never_started_is_cancelled_hours_after_its_start(world):
    sb, clock = world.sb, world.clock
    _, ev = await create(sb, world.guild, event_body(2, world.voice))
    clock.advance(timedelta(hours=1 + 3) - timedelta(seconds=1))
    assert await sb.tick() == []
    clock.advance(timedelta(seconds=1))
    [cancelled] = await sb.tick()
    assert (cancelled["id"], cancelled["status"]) == (ev["id"], 4)


async def test_transitions_are_dispatched_and_voice_is_driven_from_another_process(world):
    sb, clock = world.sb, world.clock
    _, ev = await create(sb, world.guild, event_body(2, world.voice))
    async with SandboxClient(sb.base_url) as client:
        await client.join_voice(world.alice, world.voice)
        assert sb.world.guild(world.guild).voice_members(world.voice.id) == [world.alice.id]
        await client.leave_voice(world.alice)
        assert sb.world.guild(world.guild).voice_members(world.voice.id) == []
        clock.advance(timedelta(hours=5))
        [changed] = await client.tick()
        assert changed["id"] == ev["id"] and changed["status"] == 4


async def test_at_most_100_open_events_per_guild(world):
    sb = world.sb
    for i in range(100):
        assert (await create(sb, world.guild, event_body(3, start=timedelta(hours=1 + i))))[
            0
        ] == 200
    status, err = await create(sb, world.guild, event_body(3, start=timedelta(days=9)))
    assert (status, err["code"]) == (400, 30038)
