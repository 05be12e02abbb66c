"""The sandbox, exercised by the REAL discord.py client running a tiny bot defined here."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from testkit.sandbox import Sandbox, SandboxClient, SandboxError, SandboxTimeout
from testkit.sandbox.state import utcnow
from testkit.sandbox.validation import get_validator

REPO = Path(__file__).resolve().parents[2]
EPISODES = ["s1e1 Intro", "s2e5 Fine Tuning", "s2e6 Agents", "s2e7 Evaluation"]


class RemindView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Remind me", custom_id="remind", style=discord.ButtonStyle.primary)
    async def remind(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message("I will remind you.", ephemeral=True)


class TinyBot(commands.Bot):
    def __init__(self, guild_id: int, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix="!",
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.1,
        )
        self.guild_id = guild_id
        self.sent: list[discord.Message] = []
        self.errors: list[BaseException] = []
        self.resumed = asyncio.Event()
        self.bot_ready = asyncio.Event()

        @app_commands.command(name="episode", description="Show an episode")
        @app_commands.describe(query="Season and episode, e.g. s2e5")
        async def episode(interaction: discord.Interaction, query: str) -> None:
            embed = discord.Embed(title=f"Episode {query}", description="A fine episode.")
            embed.add_field(name="When", value="<t:1752514200:F>")
            await interaction.response.send_message(embed=embed, view=RemindView())

        @episode.autocomplete("query")
        async def episode_ac(interaction: discord.Interaction, current: str):
            return [
                app_commands.Choice(name=e, value=e.split()[0])
                for e in EPISODES
                if e.startswith(current)
            ][:25]

        @app_commands.command(name="slow", description="Thinks first")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done thinking")

        announce = app_commands.Group(name="announce", description="Announcements")

        @announce.command(name="create", description="Post an announcement")
        async def create(interaction: discord.Interaction, message: str) -> None:
            sent = await interaction.channel.send(
                message, allowed_mentions=discord.AllowedMentions.none()
            )
            self.sent.append(sent)
            await interaction.response.send_message(f"posted {sent.id}", ephemeral=True)

        self.tree.add_command(episode)
        self.tree.add_command(slow)
        self.tree.add_command(announce)

        @self.tree.error
        async def on_tree_error(interaction: discord.Interaction, error: Exception) -> None:
            self.errors.append(error)

    async def setup_hook(self) -> None:
        self.add_view(RemindView())
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)
        await self.tree.sync()  # global too: guild commands do not exist in DMs

    async def on_ready(self) -> None:
        self.bot_ready.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # skip discord.py's 5 s pause before a re-IDENTIFY


def point_discord_at(sandbox: Sandbox | SandboxClient) -> None:
    discord.http.Route.BASE = sandbox.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sandbox.gateway_url)


@pytest.fixture
async def world():
    async with Sandbox() as sb:
        guild = sb.add_guild("Model Mondays")
        general = sb.add_channel(guild, "general")
        news = sb.add_channel(guild, "announcements", "announcement")
        sb.add_channel(guild, "ama-stage", "stage")
        organisers = sb.add_role(guild, "Organisers", mentionable=True)
        alice = sb.add_member(guild, "alice", roles=[organisers])
        yield SimpleNamespace(sb=sb, guild=guild, general=general, news=news, alice=alice)


@contextlib.asynccontextmanager
async def bot_running(sb: Sandbox, guild_id: int, intents: discord.Intents | None = None):
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    point_discord_at(sb)
    bot = TinyBot(guild_id, intents)
    task = asyncio.create_task(bot.start(sb.token))
    try:
        await sb.wait_ready()
        await asyncio.wait_for(bot.bot_ready.wait(), 5)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await asyncio.wait_for(task, 5)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def running(world):
    async with bot_running(world.sb, world.guild.id) as bot:
        world.bot = bot
        yield world


async def test_connect_sync_slash_autocomplete_and_click(running):
    sb = running.sb
    bot = running.bot
    guild = running.guild
    general = running.general
    alice = running.alice
    ident = sb.gateway.log.identifies[0]
    assert "token" not in ident and ident["intents"] == discord.Intents.default().value
    synced = {c["name"] for c in sb.world.guild_commands[guild.id]}
    assert synced == {"episode", "slow", "announce"}
    assert bot.get_guild(guild.id).me is not None

    res = await sb.slash(alice, general, "episode", query="s2e5")
    assert res.response_type == 4
    assert res.embeds[0]["title"] == "Episode s2e5"
    assert res.embeds[0]["fields"][0]["inline"] is True  # add_field default
    button = res.components[0]["components"][0]
    assert button["custom_id"] == "remind" and isinstance(button["id"], int)
    assert sb.messages(general)[-1]["id"] == res.message["id"]
    assert sb.pings(res.message).nobody

    choices = await sb.autocomplete(alice, general, "episode", "query", "s2")
    assert [c["value"] for c in choices] == ["s2e5", "s2e6", "s2e7"]

    click = await sb.click(alice, general, res.message, "remind")
    assert click.content == "I will remind you." and click.ephemeral
    assert click.message not in sb.messages(general)  # ephemeral: not shown in the channel

    sub = await sb.slash(
        alice,
        general,
        "announce",
        subcommand="create",
        message=f"Hello <@&{alice.roles[0]}> and @everyone",
    )
    assert sub.ephemeral and sub.content.startswith("posted ")
    posted = sb.messages(general)[-1]
    assert posted["content"].startswith("Hello")
    assert sb.pings(posted).nobody  # AllowedMentions.none(): no role, no @everyone

    thinking = await sb.slash(alice, general, "slow")
    assert thinking.response_type == 5
    final = await sb.wait_final(thinking)
    assert final.content == "done thinking"
    assert not bot.errors
    sb.assert_valid()


async def test_dm_slash(running):
    sb = running.sb
    alice = running.alice
    res = await sb.slash(alice, None, "episode", query="s1e1")
    assert res.embeds[0]["title"] == "Episode s1e1"
    sb.assert_valid()


async def test_resume_after_gateway_close_answers_interaction_sent_during_outage(running):
    sb = running.sb
    bot = running.bot
    general = running.general
    alice = running.alice
    bot.resumed.clear()
    await sb.close_gateway(4000)
    pending = asyncio.create_task(sb.slash(alice, general, "episode", query="s2e6"))
    res = await pending
    await sb.wait_resumed()
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert res.embeds[0]["title"] == "Episode s2e6"
    assert "INTERACTION_CREATE" in sb.gateway.log.replayed  # sent while the bot was away
    assert len(sb.gateway.log.identifies) == 1
    assert sb.gateway.log.resumes[0]["session_id"] == sb.gateway.session.id

    await sb.send_reconnect()
    await sb.wait_resumed(2)
    res = await sb.slash(alice, general, "episode", query="s2e7")
    assert res.embeds[0]["title"] == "Episode s2e7"
    sb.assert_valid()


async def test_invalid_session_reidentifies(running):
    sb = running.sb
    general = running.general
    alice = running.alice
    await sb.send_invalid_session(resumable=False)
    await sb.wait_for_identify(2)
    await sb.wait_ready()
    res = await sb.slash(alice, general, "episode", query="s1e1")
    assert res.embeds


async def test_429_on_message_send_and_503_on_callback_are_retried(running):
    sb = running.sb
    bot = running.bot
    general = running.general
    alice = running.alice
    sb.fail_next(1, 429, "POST /channels/{channel_id}/messages", retry_after=0.2)
    t0 = time.monotonic()
    res = await sb.slash(alice, general, "announce", subcommand="create", message="retry me")
    assert res.content.startswith("posted")
    sends = sb.requests_to("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in sends] == [429, 200]
    assert sends[0].json == sends[1].json
    assert sends[1].monotonic - sends[0].monotonic >= 0.19
    assert [m["content"] for m in sb.messages(general)].count("retry me") == 1

    sb.fail_next(1, 503, "POST /interactions/{interaction_id}/{interaction_token}/callback")
    res = await sb.slash(alice, general, "episode", query="s2e5", timeout=5)
    calls = sb.requests_to("POST", "/interactions/*/callback")
    assert [r.status for r in calls[-2:]] == [503, 200]
    assert res.embeds and time.monotonic() - t0 < 5
    assert not bot.errors
    sb.assert_valid()


async def test_nonce_resend_creates_no_second_message(running):
    sb = running.sb
    bot = running.bot
    general = running.general
    channel = bot.get_channel(general.id)
    first = await channel.send("reminder", nonce="reminder:s2-e05:ama:1h")
    again = await channel.send("reminder", nonce="reminder:s2-e05:ama:1h")
    assert first.id == again.id
    assert [m["content"] for m in sb.messages(general)] == ["reminder"]
    assert sb.nonce_hits == 1
    assert sb.requests_to("POST", "/channels/*/messages")[0].json["enforce_nonce"] is True


async def test_denied_and_unknown_channel(running):
    sb = running.sb
    bot = running.bot
    news = running.news
    await sb.deny_channel(news)
    channel = bot.get_channel(news.id)
    with pytest.raises(discord.Forbidden) as denied:
        await channel.send("nope")
    assert denied.value.code == 50013
    with pytest.raises(discord.NotFound) as missing:
        await bot.http.send_message(
            123456789012345678,
            params=discord.http.MultipartParameters(
                payload={"content": "x"}, multipart=None, files=None
            ),
        )
    assert missing.value.code == 10003
    await sb.deny_channel(news, allow=True)
    msg = await channel.send("now allowed")
    await msg.publish()
    assert sb.stored(msg.id).data["flags"] & 1  # CROSSPOSTED
    sb.assert_valid()


async def test_attachments_and_invalid_request_is_a_violation(running):
    sb = running.sb
    bot = running.bot
    general = running.general
    channel = bot.get_channel(general.id)
    msg = await channel.send("with file", file=discord.File(io.BytesIO(b"x" * 1234), "a.ics"))
    assert msg.attachments[0].filename == "a.ics" and msg.attachments[0].size == 1234
    rec = sb.requests_to("POST", "/channels/*/messages")[-1]
    assert rec.files == [
        {
            "field": "files[0]",
            "filename": "a.ics",
            "size": 1234,
            "content_type": "application/octet-stream",
        }
    ]
    assert rec.file_data == {"a.ics": b"x" * 1234}  # the bytes, for tests that parse them
    assert "file_data" not in rec.to_dict()
    sb.assert_valid()
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2500)
    assert too_long.value.code == 50035
    assert any(v.kind == "limit" and v.where == "content" for v in sb.violations)
    with pytest.raises(AssertionError):
        sb.assert_valid()


async def test_scheduled_events_and_interested_users(world):
    # discord.py drops SCHEDULED_EVENT_USER_ADD for users it has not cached, so a bot that
    # wants these events needs the members intent (which also exercises member chunking).
    sb = world.sb
    guild = world.guild
    alice = world.alice
    async with bot_running(
        sb, guild.id, discord.Intents.default() | discord.Intents(members=True)
    ) as bot:
        await _scheduled_events(sb, bot, guild, alice)


async def _scheduled_events(sb, bot, guild, alice):
    g = bot.get_guild(guild.id)
    assert g.get_member(alice.id) is not None
    start = utcnow() + timedelta(days=1)
    added = asyncio.Event()
    seen: list[int] = []

    @bot.event
    async def on_scheduled_event_user_add(event, user):
        seen.append(user.id)
        added.set()

    ev = await g.create_scheduled_event(
        name="AMA",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        entity_type=discord.EntityType.external,
        privacy_level=discord.PrivacyLevel.guild_only,
        location="https://example.org/live",
    )
    await sb.wait_for(lambda: g.get_scheduled_event(ev.id) is not None, what="event cached")
    edited = await ev.edit(name="AMA (moved)")
    assert edited.name == "AMA (moved)"
    assert sb.scheduled_events(guild)[0]["name"] == "AMA (moved)"
    await sb.mark_interested(alice, ev.id)
    await asyncio.wait_for(added.wait(), 5)
    assert seen == [alice.id]
    await ev.cancel()
    assert sb.scheduled_events(guild)[0]["status"] == 4
    with pytest.raises(discord.HTTPException):
        await g.create_scheduled_event(
            name="past",
            start_time=utcnow() - timedelta(hours=1),
            end_time=utcnow() + timedelta(hours=1),
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location="x",
        )
    sb.set_bot_permissions(guild, discord.Permissions(send_messages=True).value)
    with pytest.raises(discord.Forbidden):
        await g.create_scheduled_event(
            name="no perms",
            start_time=start,
            end_time=start + timedelta(hours=1),
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location="x",
        )
    sb.assert_valid()


async def test_wrong_token_is_rejected(world):
    sb = world.sb
    guild = world.guild
    point_discord_at(sb)
    bot = TinyBot(guild.id)
    with pytest.raises(discord.LoginFailure):
        await bot.login("not-the-token")
    await bot.close()


async def test_waits_time_out_instead_of_hanging(world):
    sb = world.sb
    general = world.general
    alice = world.alice
    with pytest.raises(SandboxError):
        await sb.slash(alice, general, "episode", query="x")
    with pytest.raises(SandboxTimeout, match="IDENTIFY"):
        await sb.wait_for_identify(timeout=0.05)


async def test_sandbox_responses_validate_against_the_spec(world):
    sb = world.sb
    guild = world.guild
    general = world.general
    alice = world.alice
    v = get_validator()
    import aiohttp

    headers = {"Authorization": f"Bot {sb.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for method, path, body in [
            ("GET", "/users/@me", None),
            ("GET", "/oauth2/applications/@me", None),
            (
                "POST",
                f"/channels/{general.id}/messages",
                {
                    "content": "hi",
                    "embeds": [{"title": "t", "fields": [{"name": "a", "value": "b"}]}],
                },
            ),
            ("GET", f"/channels/{general.id}/messages", None),
            ("GET", f"/guilds/{guild.id}/roles", None),
            ("GET", f"/guilds/{guild.id}/channels", None),
            ("GET", f"/guilds/{guild.id}/members/{alice.id}", None),
            ("POST", "/users/@me/channels", {"recipient_id": str(alice.id)}),
            (
                "PUT",
                f"/applications/{sb.application_id}/guilds/{guild.id}/commands",
                [{"name": "x", "description": "y", "type": 1}],
            ),
            ("GET", f"/channels/{general.id}", None),
            ("POST", f"/channels/{general.id}/messages", {}),
        ]:
            async with http.request(method, sb.api_base + path, json=body, headers=headers) as resp:
                assert resp.headers["Content-Type"] == "application/json"
                data = await resp.json()
                assert v.check_response(method, path, resp.status, data) == []
    assert sb.response_violations == []
    assert [r.status for r in sb.requests][-1] == 400  # empty message


async def test_control_api_against_a_subprocess_sandbox():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a pipe we read from a thread below
        [sys.executable, "-m", "testkit.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        base = line.split()[-1]
        async with SandboxClient(base) as sbc:
            guild = await sbc.add_guild("Remote")
            general = await sbc.add_channel(guild, "general")
            alice = await sbc.add_member(guild, "alice")
            point_discord_at(sbc)
            bot = TinyBot(guild.id)
            task = asyncio.create_task(bot.start(sbc.token))
            try:
                await sbc.wait_ready()
                res = await sbc.slash(alice, general, "episode", query="s2e5")
                assert res.embeds[0]["title"] == "Episode s2e5"
                assert await sbc.autocomplete(alice, general, "episode", "query", "s1") == [
                    {"name": "s1e1 Intro", "value": "s1e1"}
                ]
                clicked = await sbc.click(alice, general, res.message["id"], "remind")
                assert clicked.ephemeral
                await sbc.close_gateway(4000)
                await sbc.wait_resumed()
                await sbc.fail_next(1, 429, "POST /channels/*/messages", retry_after=0.1)
                await bot.get_channel(general.id).send("remote hello")
                msg = await sbc.wait_for_message(general, contains="remote")
                assert msg["content"] == "remote hello"
                statuses = [
                    r["status"]
                    for r in await sbc.requests()
                    if r["method"] == "POST" and r["path"].endswith("/messages")
                ]
                assert statuses == [429, 200]
                await sbc.assert_valid()
                with pytest.raises(SandboxTimeout):
                    await sbc.wait_for_message(general, contains="never", timeout=0.2)
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
                    await asyncio.wait_for(task, 5)
    finally:
        proc.terminate()
        proc.wait(5)


def test_unicode_emoji_on_a_button_is_stored_without_a_null_id():
    from testkit.sandbox.state import components_response

    rows = components_response(
        [
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 2,
                        "custom_id": "x",
                        "label": "Add",
                        "emoji": {"name": "📅", "id": None, "animated": False},
                    }
                ],
            }
        ]
    )
    assert rows[0]["components"][0]["emoji"] == {"name": "📅", "animated": False}
