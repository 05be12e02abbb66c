"""The sandbox is as strict as Discord: nonce window, ambiguous 5xx, interaction deadline.

Driven by the real discord.py client where the client's own behaviour matters (retries,
exceptions), by raw HTTP where the exact answer is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from bot.clock import ManualClock
from testkit.sandbox import Sandbox, SandboxClient, SandboxTimeout
from testkit.sandbox.server import DROPPED

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def call(
    sb: Sandbox,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: bool = True,
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {token or sb.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sb.api_base + path, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None)) if text else None


def send(sb: Sandbox, channel: Any, content: str, nonce: str | None = None):
    body: dict[str, Any] = {"content": content, "allowed_mentions": {"parse": []}}
    if nonce is not None:
        body |= {"nonce": nonce, "enforce_nonce": True}
    return call(sb, "POST", f"/channels/{channel.id}/messages", body)


@pytest.fixture
async def world():
    clock = ManualClock(T0)
    async with Sandbox(clock=clock) as sb:
        guild = sb.add_guild("Model Mondays")
        general = sb.add_channel(guild, "general")
        news = sb.add_channel(guild, "announcements", "announcement")
        alice = sb.add_member(guild, "alice")
        yield SimpleNamespace(
            sb=sb, clock=clock, guild=guild, general=general, news=news, alice=alice
        )


# -- nonce window -----------------------------------------------------------------------------


async def test_nonce_dedupes_only_within_the_window_on_the_sandbox_clock(world):
    sb, clock = world.sb, world.clock
    assert sb.nonce_window == 180.0  # "the past few minutes", not 5
    s1, first = await send(sb, world.general, "hello", nonce="k1")
    clock.advance(timedelta(seconds=179))
    s2, again = await send(sb, world.general, "hello", nonce="k1")
    assert (s1, s2) == (200, 200)
    assert again["id"] == first["id"] and sb.nonce_hits == 1
    clock.advance(timedelta(seconds=2))  # 181 s after the first: the nonce is forgotten
    s3, late = await send(sb, world.general, "hello", nonce="k1")
    assert s3 == 200 and late["id"] != first["id"]
    assert [m["content"] for m in sb.messages(world.general)] == ["hello", "hello"]
    assert sb.nonce_hits == 1


async def test_a_short_nonce_window_is_a_knob():
    clock = ManualClock(T0)
    async with Sandbox(clock=clock, nonce_window=2.0) as sb:
        channel = sb.add_channel(sb.add_guild("g"), "general")
        _, first = await send(sb, channel, "x", nonce="n")
        clock.advance(timedelta(seconds=3))
        _, second = await send(sb, channel, "x", nonce="n")
        assert first["id"] != second["id"] and sb.nonce_hits == 0


# -- the ambiguous failure --------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_message_is_stored_then_answered_5xx(world, status):
    sb = world.sb
    sb.fail_after_store("POST /channels/{channel_id}/messages", status)
    got, body = await send(sb, world.general, "ambiguous")
    assert got == status and body["code"] == 0
    assert [m["content"] for m in sb.messages(world.general)] == ["ambiguous"]
    # The fault was used up: the next send is answered normally.
    got, body = await send(sb, world.general, "clean")
    assert got == 200 and body["content"] == "clean"


async def test_dropped_connection_after_the_write(world):
    sb = world.sb
    sb.fail_after_store("POST /channels/*/messages", "drop")
    with pytest.raises(aiohttp.ClientError):
        await send(sb, world.general, "dropped")
    assert [m["content"] for m in sb.messages(world.general)] == ["dropped"]
    assert sb.requests[-1].status == DROPPED


async def test_refused_requests_do_not_use_up_the_fault(world):
    sb = world.sb
    sb.fail_after_store("POST /channels/*/messages", 502, count=1)
    got, _ = await call(sb, "POST", f"/channels/{world.general.id}/messages", {"content": ""})
    assert got == 400  # empty message: refused, nothing stored, fault still armed
    got, _ = await send(sb, world.general, "now")
    assert got == 502 and len(sb.messages(world.general)) == 1


async def test_edit_crosspost_and_event_create_take_effect_before_the_5xx(world):
    sb = world.sb
    _, msg = await send(sb, world.news, "news")
    sb.fail_after_store("PATCH /channels/{channel_id}/messages/{message_id}", 504)
    got, _ = await call(
        sb, "PATCH", f"/channels/{world.news.id}/messages/{msg['id']}", {"content": "edited"}
    )
    assert got == 504 and sb.stored(msg["id"]).data["content"] == "edited"

    sb.fail_after_store("POST /channels/*/messages/*/crosspost", "drop")
    with pytest.raises(aiohttp.ClientError):
        await call(sb, "POST", f"/channels/{world.news.id}/messages/{msg['id']}/crosspost")
    assert sb.stored(msg["id"]).data["flags"] & 1  # CROSSPOSTED

    sb.fail_after_store("POST /guilds/{guild_id}/scheduled-events", 503)
    event = {
        "name": "AMA",
        "entity_type": 3,
        "privacy_level": 2,
        "scheduled_start_time": (T0 + timedelta(days=1)).isoformat(),
        "scheduled_end_time": (T0 + timedelta(days=1, hours=1)).isoformat(),
        "entity_metadata": {"location": "YouTube"},
    }
    got, _ = await call(sb, "POST", f"/guilds/{world.guild.id}/scheduled-events", event)
    assert got == 503 and [e["name"] for e in sb.scheduled_events(world.guild)] == ["AMA"]


async def test_fail_after_store_rejects_a_non_5xx_status(world):
    with pytest.raises(Exception, match="5xx"):
        world.sb.fail_after_store(None, 429)


async def test_discord_py_retry_of_a_502_is_caught_by_its_own_nonce(world):
    """discord.py retries a 502 itself with the same random nonce (enforce_nonce): within the
    window the retry returns the stored message; a 503 it raises, though the message exists."""
    sb = world.sb
    async with running(sb, world.guild.id) as bot:
        sb.fail_after_store("POST /channels/*/messages", 502)
        channel = bot.get_channel(world.general.id)
        sent = await channel.send("once", allowed_mentions=discord.AllowedMentions.none())
        contents = [m["content"] for m in sb.messages(world.general)]
        assert contents == ["once"] and sent.content == "once" and sb.nonce_hits == 1
        sb.fail_after_store("POST /channels/*/messages", 503)
        with pytest.raises(discord.DiscordServerError):
            await channel.send("told it failed", allowed_mentions=discord.AllowedMentions.none())
        assert [m["content"] for m in sb.messages(world.general)][-1] == "told it failed"
        # The stored copy went out on the gateway like any other message.
        dispatched = [p["d"]["id"] for p in sb.gateway.session.sent if p["t"] == "MESSAGE_CREATE"]
        assert [m["id"] for m in sb.messages(world.general)] == dispatched


async def test_control_api_arms_fail_after_store(world):
    sb = world.sb
    async with SandboxClient(sb.base_url) as client:
        await client.fail_after_store("POST /channels/*/messages", 503, count=2)
        assert (await send(sb, world.general, "a"))[0] == 503
        assert (await send(sb, world.general, "b"))[0] == 503
        assert (await send(sb, world.general, "c"))[0] == 200
        assert len(sb.messages(world.general)) == 3
        assert (await client.stats())["failed_interactions"] == 0


# -- interaction deadline ---------------------------------------------------------------------


class SlowBot(commands.Bot):
    """Answers /quick at once, /late after `delay`, /never not at all, /later deferred."""

    def __init__(self, guild_id: int, delay: float) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default())
        self.guild_id = guild_id
        self.late_errors: list[BaseException] = []
        self.deferred: list[discord.Interaction] = []

        @app_commands.command(name="quick", description="quick")
        async def quick(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("fast")

        @app_commands.command(name="late", description="late")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(delay)
            try:
                await interaction.response.send_message("too late")
            except discord.HTTPException as exc:
                self.late_errors.append(exc)

        @app_commands.command(name="never", description="never")
        async def never(interaction: discord.Interaction) -> None:
            return None

        @app_commands.command(name="later", description="deferred")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            self.deferred.append(interaction)

        for cmd in (quick, late, never, later):
            self.tree.add_command(cmd, guild=discord.Object(guild_id))

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=discord.Object(self.guild_id))


@contextlib.asynccontextmanager
async def running(sb: Sandbox, guild_id: int, delay: float = 0.0):
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = sb.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sb.gateway_url)
    bot = SlowBot(guild_id, delay)
    task = asyncio.create_task(bot.start(sb.token))
    try:
        await sb.wait_ready()
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await asyncio.wait_for(task, 5)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def test_defaults_are_discords():
    sb = Sandbox()
    assert (sb.interaction_deadline, sb.followup_window) == (3.0, 900.0)
    assert sb.failed_interactions == []
    assert (sb.nonce_window, sb.publishes.limit, sb.old_edits.limit, sb.dm_opens.limit) == (
        180.0,
        10,
        5,
        10,
    )
    assert (sb.empty_event_timeout, sb.unstarted_event_cancel_after) == (180.0, 3 * 3600.0)


async def test_a_late_first_response_fails_with_10062_and_is_recorded():
    async with Sandbox(interaction_deadline=0.3) as sb:
        guild = sb.add_guild("g")
        general = sb.add_channel(guild, "general")
        alice = sb.add_member(guild, "alice")
        async with running(sb, guild.id, delay=0.6) as bot:
            ok = await sb.slash(alice, general, "quick")
            assert ok.content == "fast" and sb.failed_interactions == []
            with pytest.raises(SandboxTimeout, match="This interaction failed"):
                await sb.slash(alice, general, "late")
            await sb.wait_for(lambda: bot.late_errors, timeout=3, what="the late callback")
            assert isinstance(bot.late_errors[0], discord.NotFound)
            assert bot.late_errors[0].code == 10062
            [failed] = sb.failed_interactions
            assert failed.name == "/late" and failed.user_id == alice.id
            # The late callback made no reply appear.
            assert [m["content"] for m in sb.messages(general)] == ["fast"]


async def test_no_response_at_all_is_recorded_at_the_deadline():
    async with Sandbox(interaction_deadline=0.3) as sb:
        guild = sb.add_guild("g")
        general = sb.add_channel(guild, "general")
        alice = sb.add_member(guild, "alice")
        async with running(sb, guild.id):
            iid = await sb.send_interaction(
                alice, general, 2, await _command_data(sb, guild, "never")
            )
            await sb.wait_for(lambda: sb.failed_interactions, timeout=3, what="the failure")
            assert [f.id for f in sb.failed_interactions] == [iid]
            async with SandboxClient(sb.base_url) as client:
                [seen] = await client.failed_interactions()
                assert seen["id"] == str(iid) and "no response" in seen["reason"]


async def _command_data(sb: Sandbox, guild: Any, name: str) -> dict[str, Any]:
    await sb.wait_for(lambda: sb.world.find_command(guild.id, name), what=f"/{name} synced")
    cmd = sb.world.find_command(guild.id, name)
    return {"id": cmd["id"], "name": name, "type": 1, "guild_id": str(guild.id)}


async def test_double_acknowledgement_is_40060(world):
    sb = world.sb
    async with running(sb, world.guild.id):
        res = await sb.slash(world.alice, world.general, "quick")
        got, body = await call(
            sb,
            "POST",
            f"/interactions/{res.id}/{res.token}/callback",
            {"type": 4, "data": {"content": "again"}},
            auth=False,
        )
        assert (got, body["code"]) == (400, 40060)
        assert sb.failed_interactions == []


async def test_followups_stop_working_after_the_followup_window():
    async with Sandbox(followup_window=0.5) as sb:
        guild = sb.add_guild("g")
        general = sb.add_channel(guild, "general")
        alice = sb.add_member(guild, "alice")
        async with running(sb, guild.id) as bot:
            res = await sb.slash(alice, general, "later")
            assert res.deferred and sb.failed_interactions == []
            await bot.deferred[0].followup.send("in time")
            await asyncio.sleep(0.6)  # real time: the token's 15 minutes (here 0.5 s) pass
            with pytest.raises(discord.HTTPException) as exc:
                await bot.deferred[0].edit_original_response(content="too late")
            assert (exc.value.status, exc.value.code) == (401, 50027)
            got, _ = await call(
                sb,
                "POST",
                f"/webhooks/{sb.application_id}/{res.token}",
                {"content": "x"},
                auth=False,
            )
            assert got == 401
