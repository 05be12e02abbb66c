"""Discord's limits in the sandbox: publishes, old-message edits, permissions and history,
seeded channels, DM opens, a reset token, and the invalid-request count."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest
import yarl

from bot.clock import ManualClock
from testkit.sandbox import Sandbox, SandboxClient
from testkit.sandbox.state import (
    ADMINISTRATOR,
    EMBED_LINKS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)
from tests.sandbox.test_strict import T0, call, send


@pytest.fixture
async def world():
    clock = ManualClock(T0)
    async with Sandbox(clock=clock) as sb:
        guild = sb.add_guild("Model Mondays")
        general = sb.add_channel(guild, "general")
        news = sb.add_channel(guild, "announcements", "announcement")
        hosts = sb.add_role(guild, "Hosts")
        alice = sb.add_member(guild, "alice", roles=[hosts])
        yield SimpleNamespace(
            sb=sb, clock=clock, guild=guild, general=general, news=news, hosts=hosts, alice=alice
        )


def bot_role(sb: Sandbox, guild: Any) -> int:
    g = sb.world.guild(guild)
    return next(r.id for r in g.roles.values() if r.managed)


async def crosspost(sb: Sandbox, channel: Any, mid: str):
    return await call(sb, "POST", f"/channels/{channel.id}/messages/{mid}/crosspost")


async def edit(sb: Sandbox, channel: Any, mid: str, content: str):
    return await call(sb, "PATCH", f"/channels/{channel.id}/messages/{mid}", {"content": content})


# -- publishing ---------------------------------------------------------------------------------


async def test_eleventh_publish_in_an_hour_waits_for_the_oldest_to_expire(world):
    sb, clock = world.sb, world.clock
    ids = []
    for i in range(11):
        _, m = await send(sb, world.news, f"news {i}")
        ids.append(m["id"])
    for i in range(10):
        status, _ = await crosspost(sb, world.news, ids[i])
        assert status == 200
        clock.advance(timedelta(minutes=1))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sb.api_base}/channels/{world.news.id}/messages/{ids[10]}/crosspost",
            headers={"Authorization": f"Bot {sb.token}"},
        ) as resp,
    ):
        body = await resp.json()
        assert resp.status == 429 and body["global"] is False
        # The first publish was 10 minutes ago: 50 minutes to wait.
        assert body["retry_after"] == pytest.approx(50 * 60, abs=1)
        assert resp.headers["Via"] and resp.headers["X-RateLimit-Remaining"] == "0"
        assert float(resp.headers["X-RateLimit-Reset-After"]) == pytest.approx(3000, abs=1)
    # While limited, a published message cannot be edited: 20022.
    status, body = await edit(sb, world.news, ids[0], "correction")
    assert (status, body["code"]) == (403, 20022)
    # An unpublished one can.
    assert (await edit(sb, world.news, ids[10], "fine"))[0] == 200
    clock.advance(timedelta(minutes=51))
    assert (await crosspost(sb, world.news, ids[10]))[0] == 200
    assert (await edit(sb, world.news, ids[1], "correction"))[0] == 200


async def test_publish_limit_is_per_channel_and_a_knob():
    async with Sandbox(clock=ManualClock(T0), publish_per_hour=1) as sb:
        guild = sb.add_guild("g")
        a = sb.add_channel(guild, "a", "announcement")
        b = sb.add_channel(guild, "b", "announcement")
        ma1, ma2, mb = [(await send(sb, ch, "x"))[1]["id"] for ch in (a, a, b)]
        assert (await crosspost(sb, a, ma1))[0] == 200
        assert (await crosspost(sb, a, ma2))[0] == 429
        assert (await crosspost(sb, b, mb))[0] == 200


# -- old-message edits --------------------------------------------------------------------------


async def test_edits_of_old_messages_run_out_with_30046_without_via(world):
    sb, clock = world.sb, world.clock
    assert sb.old_edits.limit == 5
    _, old = await send(sb, world.general, "old")
    clock.advance(timedelta(hours=2))
    _, fresh = await send(sb, world.general, "fresh")
    for i in range(5):
        assert (await edit(sb, world.general, old["id"], f"v{i}"))[0] == 200
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{sb.api_base}/channels/{world.general.id}/messages/{old['id']}",
            json={"content": "v5"},
            headers={"Authorization": f"Bot {sb.token}"},
        ) as resp,
    ):
        body = await resp.json()
        assert (resp.status, body["code"]) == (429, 30046)
        assert "Via" not in resp.headers
    # Messages younger than an hour are not limited.
    for i in range(7):
        assert (await edit(sb, world.general, fresh["id"], f"f{i}"))[0] == 200
    clock.advance(timedelta(hours=1))
    assert (await edit(sb, world.general, old["id"], "later"))[0] == 200


async def test_discord_py_raises_on_30046_instead_of_retrying(world):
    sb, clock = world.sb, world.clock
    async with running(sb) as bot:
        channel = bot.get_channel(world.general.id)
        msg = await channel.send("old", allowed_mentions=discord.AllowedMentions.none())
        clock.advance(timedelta(hours=2))
        for i in range(5):
            await msg.edit(content=f"v{i}")
        with pytest.raises(discord.HTTPException) as exc:
            await asyncio.wait_for(msg.edit(content="one too many"), 5)
        assert (exc.value.status, exc.value.code) == (429, 30046)


# -- permissions --------------------------------------------------------------------------------


async def test_overwrites_follow_discords_order(world):
    sb, g = world.sb, world.guild
    ch = world.general
    role = world.hosts
    # @everyone deny, role allow: the role wins.
    await sb.set_overwrite(ch, g.id, deny=SEND_MESSAGES)
    await sb.set_overwrite(ch, role, allow=SEND_MESSAGES)
    assert sb.permissions(ch, world.alice) & SEND_MESSAGES
    # Member deny beats the role allow.
    await sb.set_overwrite(ch, world.alice, deny=SEND_MESSAGES)
    assert not sb.permissions(ch, world.alice) & SEND_MESSAGES
    # No View Channel: nothing at all.
    await sb.set_overwrite(ch, world.alice, deny=VIEW_CHANNEL)
    assert sb.permissions(ch, world.alice) == 0
    # Administrator bypasses every overwrite.
    admin = sb.add_role(g, "Admin", ADMINISTRATOR)
    boss = sb.add_member(g, "boss", roles=[admin])
    await sb.set_overwrite(ch, boss, deny=VIEW_CHANNEL)
    assert sb.permissions(ch, boss) & SEND_MESSAGES


async def test_send_needs_view_and_send_and_embeds_need_embed_links(world):
    sb, ch = world.sb, world.general
    await sb.set_overwrite(ch, bot_role(sb, world.guild), deny=VIEW_CHANNEL)
    status, body = await send(sb, ch, "hidden")
    assert (status, body["code"]) == (403, 50001)
    await sb.set_overwrite(ch, bot_role(sb, world.guild), deny=SEND_MESSAGES)
    status, body = await send(sb, ch, "muted")
    assert (status, body["code"]) == (403, 50013)
    await sb.set_overwrite(ch, bot_role(sb, world.guild), deny=EMBED_LINKS)
    embed = {"title": "Episode", "description": "x"}
    status, msg = await call(
        sb, "POST", f"/channels/{ch.id}/messages", {"content": "see", "embeds": [embed]}
    )
    assert status == 200 and msg["embeds"] == [] and msg["content"] == "see"
    status, body = await call(sb, "POST", f"/channels/{ch.id}/messages", {"embeds": [embed]})
    assert (status, body["code"]) == (400, 50006)  # nothing left to send
    assert sb.embeds_dropped == 2


async def test_deny_channel_is_an_overwrite_and_can_be_lifted(world):
    sb, ch = world.sb, world.general
    await sb.deny_channel(ch)
    assert [o.payload()["deny"] for o in sb.world.channel(ch).overwrites] == [str(SEND_MESSAGES)]
    assert (await send(sb, ch, "no"))[0] == 403
    await sb.deny_channel(ch, allow=True)
    assert (await send(sb, ch, "yes"))[0] == 200


async def test_history_without_read_message_history_is_empty_not_an_error(world):
    sb, ch = world.sb, world.general
    sb.seed_messages(ch, 5, author=world.alice)
    await sb.set_overwrite(ch, bot_role(sb, world.guild), deny=READ_MESSAGE_HISTORY)
    status, msgs = await call(sb, "GET", f"/channels/{ch.id}/messages")
    assert (status, msgs) == (200, [])
    await sb.set_overwrite(ch, bot_role(sb, world.guild), deny=VIEW_CHANNEL)
    status, body = await call(sb, "GET", f"/channels/{ch.id}/messages")
    assert (status, body["code"]) == (403, 50001)


async def test_overwrites_from_another_process(world):
    sb, ch = world.sb, world.general
    async with SandboxClient(sb.base_url) as client:
        await client.set_overwrite(ch, bot_role(sb, world.guild), deny=SEND_MESSAGES)
        assert (await send(sb, ch, "no"))[0] == 403
        await client.set_overwrite(ch, bot_role(sb, world.guild))
        assert (await send(sb, ch, "yes"))[0] == 200
        ids = await client.seed_messages(ch, 3, author=world.alice)
        assert len(ids) == 3


# -- seeded channels and paging ---------------------------------------------------------------


async def test_seeded_history_pages_like_discord(world):
    sb, ch = world.sb, world.general
    seeded = sb.seed_messages(ch, 250, author=world.alice)
    ids = [int(m["id"]) for m in seeded]
    assert ids == sorted(ids) and len(set(ids)) == 250
    stamps = [m["timestamp"] for m in seeded]
    assert stamps == sorted(stamps) and stamps[-1] < T0.isoformat()
    _, mine = await send(sb, ch, "now")
    assert int(mine["id"]) > ids[-1]

    async def page(**q: Any) -> list[int]:
        query = "&".join(f"{k}={v}" for k, v in q.items())
        status, msgs = await call(sb, "GET", f"/channels/{ch.id}/messages?{query}")
        assert status == 200
        return [int(m["id"]) for m in msgs]

    everything = [*ids, int(mine["id"])]
    assert await page() == everything[::-1][:50]  # newest first, 50 by default
    assert await page(limit=100, before=ids[200]) == ids[100:200][::-1]
    # `after`: the messages right after it, still newest first.
    assert await page(limit=10, after=ids[0]) == ids[1:11][::-1]
    assert await page(limit=5, around=ids[100]) == ids[98:103][::-1]
    status, _ = await call(sb, "GET", f"/channels/{ch.id}/messages?limit=101")
    assert status == 400
    status, _ = await call(sb, "GET", f"/channels/{ch.id}/messages?before={ids[5]}&after={ids[1]}")
    assert status == 400


async def test_discord_py_reads_a_seeded_channel_back(world):
    sb, ch = world.sb, world.general
    seeded = sb.seed_messages(ch, 230, author=world.alice)
    async with running(sb) as bot:
        channel = bot.get_channel(ch.id)
        got = [m async for m in channel.history(limit=None)]
        assert [m.id for m in got] == [int(m["id"]) for m in reversed(seeded)]
        oldest = [m async for m in channel.history(limit=150, oldest_first=True)]
        assert [m.id for m in oldest] == [int(m["id"]) for m in seeded[:150]]
        assert got[0].author.id == world.alice.id


# -- DMs and the token --------------------------------------------------------------------------


async def test_opening_dms_too_fast_is_40003(world):
    sb, clock = world.sb, world.clock
    users = [sb.add_member(world.guild, f"m{i}") for i in range(11)]
    for u in users[:10]:
        assert (await call(sb, "POST", "/users/@me/channels", {"recipient_id": str(u.id)}))[
            0
        ] == 200
    status, body = await call(
        sb, "POST", "/users/@me/channels", {"recipient_id": str(users[10].id)}
    )
    assert (status, body["code"]) == (403, 40003)
    clock.advance(timedelta(seconds=61))
    status, _ = await call(sb, "POST", "/users/@me/channels", {"recipient_id": str(users[10].id)})
    assert status == 200


async def test_a_reset_token_answers_401_and_closes_the_gateway_4004(world):
    sb = world.sb
    async with running(sb) as bot:
        old = sb.token
        await sb.reset_token()
        assert sb.gateway.log.sent_closes == [4004] and not sb.gateway.connected
        status, body = await call(sb, "GET", f"/channels/{world.general.id}", token=old)
        assert status == 401 and body == {"message": "401: Unauthorized", "code": 0}
        # discord.py gives up on 4004 (no reconnect): nothing connects with the old token.
        await asyncio.sleep(0.3)
        assert not sb.gateway.connected and bot.is_closed()
        sb.set_token(old)
        assert (await call(sb, "GET", f"/channels/{world.general.id}"))[0] == 200


async def test_invalid_requests_are_counted(world):
    sb = world.sb
    assert sb.invalid_requests == 0
    await call(sb, "GET", "/users/@me", auth=False)  # 401
    await sb.deny_channel(world.general)
    await send(sb, world.general, "no")  # 403
    sb.fail_next(1, 429, "GET /channels/*")
    await call(sb, "GET", f"/channels/{world.general.id}")  # 429
    await call(sb, "GET", "/channels/1")  # 404: not counted
    assert sb.invalid_requests == 3
    async with SandboxClient(sb.base_url) as client:
        assert (await client.stats())["invalid_requests"] == 3


@contextlib.asynccontextmanager
async def running(sb: Sandbox):
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = sb.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sb.gateway_url)
    intents = discord.Intents.default()
    client = discord.Client(intents=intents)
    ready = asyncio.Event()
    client.event(_on_ready(ready))
    task = asyncio.create_task(client.start(sb.token))
    try:
        await sb.wait_ready()
        await asyncio.wait_for(ready.wait(), 5)
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await asyncio.wait_for(task, 5)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def _on_ready(ready: asyncio.Event):
    async def on_ready() -> None:
        ready.set()

    return on_ready
