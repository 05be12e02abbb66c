"""Threads, modals and people starting/ending events in the sandbox, driven by the REAL
discord.py client (the AMA's public questions thread, the hosts' private board thread, the
Ask modal, the AMA's stage event going live and ending)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from testkit.sandbox import (
    MemberCannotSee,
    ModalRefused,
    Sandbox,
    SandboxClient,
    SandboxError,
    SandboxTimeout,
)
from testkit.sandbox.state import (
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    MANAGE_THREADS,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    Overwrite,
    World,
    utcnow,
)

from .test_sandbox import point_discord_at


class AskModal(discord.ui.Modal, title="Ask a question"):
    question = discord.ui.TextInput(
        label="Your question", custom_id="question", min_length=15, max_length=1000
    )
    note = discord.ui.TextInput(label="Note", custom_id="note", required=False, max_length=20)

    def __init__(self, bot: ThreadBot) -> None:
        super().__init__(custom_id="ask-modal")
        self.bot = bot

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.bot.asked.append((interaction.user.id, self.question.value, self.note.value))
        await asyncio.sleep(self.bot.submit_delay)
        await interaction.response.send_message(f"stored: {self.question.value}", ephemeral=True)


class LabelModal(discord.ui.Modal, title="Ask (labels)"):
    """discord.py 2.7's Label wrapping a Text Input and a String Select."""

    def __init__(self, bot: ThreadBot) -> None:
        super().__init__(custom_id="label-modal")
        self.bot = bot
        self.text = discord.ui.TextInput(custom_id="text", min_length=15, max_length=1000)
        self.anon = discord.ui.Select(
            custom_id="anonymous",
            options=[
                discord.SelectOption(label="Yes", value="yes"),
                discord.SelectOption(label="No", value="no"),
            ],
        )
        self.add_item(discord.ui.Label(text="Question", component=self.text))
        self.add_item(discord.ui.Label(text="Anonymous?", component=self.anon))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.bot.asked.append((interaction.user.id, self.text.value, self.anon.values))
        await interaction.response.send_message("stored", ephemeral=True)


class AskView(discord.ui.View):
    def __init__(self, bot: ThreadBot) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @discord.ui.button(label="Ask a question", custom_id="ask")
    async def ask(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.bot.clicks.append(interaction)
        await interaction.response.send_modal(AskModal(self.bot))


class ThreadBot(commands.Bot):
    def __init__(self, guild_id: int, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix="!",
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.1,
        )
        self.guild_id = guild_id
        self.asked: list[tuple] = []
        self.clicks: list[discord.Interaction] = []
        self.submit_delay = 0.0
        self.event_updates: list[discord.EventStatus] = []
        self.bot_ready = asyncio.Event()

        @app_commands.command(name="ask", description="Ask the guest")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(AskModal(self))

        @app_commands.command(name="asklabels", description="Ask, with labels")
        async def asklabels(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(LabelModal(self))

        self.tree.add_command(ask)
        self.tree.add_command(asklabels)

    async def setup_hook(self) -> None:
        self.add_view(AskView(self))
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def on_ready(self) -> None:
        self.bot_ready.set()

    async def on_scheduled_event_update(self, before, after) -> None:
        self.event_updates.append(after.status)


@contextlib.asynccontextmanager
async def running_bot(sb: Sandbox, guild_id: int, intents: discord.Intents | None = None):
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    point_discord_at(sb)
    bot = ThreadBot(guild_id, intents)
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


def build_world(sb: Sandbox) -> SimpleNamespace:
    guild = sb.add_guild("Model Mondays")
    mods = sb.add_role(guild, "Moderators", MANAGE_THREADS)
    return SimpleNamespace(
        sb=sb,
        guild=guild,
        general=sb.add_channel(guild, "general"),
        news=sb.add_channel(guild, "announcements", "announcement"),
        stage=sb.add_channel(guild, "ama-stage", "stage"),
        mods=mods,
        alice=sb.add_member(guild, "alice"),
        bob=sb.add_member(guild, "bob"),
        carol=sb.add_member(guild, "carol", roles=[mods]),
    )


@pytest.fixture
async def world():
    async with Sandbox() as sb:
        w = build_world(sb)
        async with running_bot(sb, w.guild.id) as bot:
            w.bot = bot
            yield w


async def _cached(w, thread_id: int) -> discord.Thread:
    guild = w.bot.get_guild(w.guild.id)
    return await w.sb.wait_for(lambda: guild.get_thread(thread_id), what=f"thread {thread_id}")


async def test_a_public_thread_from_a_message_shares_its_id_once(world):
    w = world
    sb, bot = w.sb, w.bot
    general = bot.get_channel(w.general.id)
    prompt = await general.send("Questions for the guest go in the thread")
    thread = await prompt.create_thread(name="Questions: S2:E5", auto_archive_duration=1440)
    assert thread.id == prompt.id and thread.type is discord.ChannelType.public_thread
    assert thread.parent_id == general.id
    # THREAD_CREATE reached the gateway: discord.py caches it.
    assert (await _cached(w, thread.id)).name == "Questions: S2:E5"
    assert sb.thread_members(thread.id) == [sb.bot_user.id]
    assert [t["id"] for t in sb.threads(general.id)] == [str(thread.id)]
    with pytest.raises(discord.HTTPException) as again:
        await prompt.create_thread(name="again")
    assert again.value.status == 400 and again.value.code == 160004

    news = bot.get_channel(w.news.id)
    post = await news.send("news")
    news_thread = await post.create_thread(name="Talk")
    assert news_thread.type is discord.ChannelType.news_thread  # type 10

    posted = await thread.send("first question")
    assert sb.messages(thread.id)[-1]["id"] == str(posted.id)
    fetched = await thread.fetch_message(posted.id)
    assert fetched.content == "first question"
    assert [m.id async for m in thread.history(limit=5)] == [posted.id]
    await posted.edit(content="edited question")
    assert sb.messages(thread.id)[-1]["content"] == "edited question"

    # permissions.mdx: Create Public Threads on the parent.
    await sb.set_overwrite(w.general, sb.bot_role(w.guild), deny=CREATE_PUBLIC_THREADS)
    other = await general.send("another")
    with pytest.raises(discord.Forbidden) as denied:
        await other.create_thread(name="nope")
    assert denied.value.code == 50013
    sb.assert_valid()


async def test_sending_in_a_thread_is_send_messages_in_threads_on_the_parent(world):
    w = world
    sb, bot = w.sb, w.bot
    general = bot.get_channel(w.general.id)
    thread = await (await general.send("prompt")).create_thread(name="Questions")
    role = sb.bot_role(w.guild)
    await sb.set_overwrite(w.general, role, deny=SEND_MESSAGES)
    await thread.send("still fine: Send Messages in Threads is enough")
    with pytest.raises(discord.Forbidden):
        await general.send("but not in the channel")
    await sb.set_overwrite(w.general, role, allow=SEND_MESSAGES, deny=SEND_MESSAGES_IN_THREADS)
    with pytest.raises(discord.Forbidden) as denied:
        await thread.send("no")
    assert denied.value.code == 50013
    await general.send("the channel works")
    sb.assert_valid()


async def test_archive_unarchive_on_send_and_lock_needs_manage_threads(world):
    w = world
    sb, bot = w.sb, w.bot
    general = bot.get_channel(w.general.id)
    thread = await (await general.send("prompt")).create_thread(name="Questions")
    msg = await thread.send("q1")
    thread = await thread.edit(archived=True)  # the creator may archive its own thread
    assert thread.archived and sb.threads(general.id)[0]["thread_metadata"]["archived"]
    with pytest.raises(discord.HTTPException) as archived:
        await msg.edit(content="no edits while archived")
    assert archived.value.code == 50083
    with pytest.raises(MemberCannotSee):  # threads.mdx: no commands in an archived thread
        await sb.slash(w.alice, thread.id, "ask")
    await thread.send("a send unarchives")  # threads.mdx
    assert not sb.threads(general.id)[0]["thread_metadata"]["archived"]
    assert (await _cached(w, thread.id)).archived is False  # THREAD_UPDATE reached the bot

    with pytest.raises(discord.Forbidden):
        await thread.edit(locked=True)  # Manage Threads
    sb.set_bot_permissions(w.guild, sb.permissions(w.general) | MANAGE_THREADS)
    thread = await thread.edit(locked=True, archived=True)
    sb.set_bot_permissions(w.guild, sb.permissions(w.general) & ~MANAGE_THREADS)
    with pytest.raises(discord.HTTPException) as locked:
        await thread.send("locked and archived")
    assert locked.value.code == 50083
    await sb.set_thread_state(thread.id, archived=False)  # a moderator reopens, still locked
    with pytest.raises(discord.Forbidden) as locked:
        await thread.send("locked")
    assert locked.value.code == 50013
    sb.assert_valid()


async def test_a_private_thread_is_seen_by_its_members_and_manage_threads_only(world):
    w = world
    sb, bot = w.sb, w.bot
    general = bot.get_channel(w.general.id)
    closed = await general.create_thread(
        name="closed", type=discord.ChannelType.private_thread, invitable=False
    )
    with pytest.raises(discord.Forbidden):  # not invitable: only Manage Threads adds members
        await closed.add_user(discord.Object(w.alice.id))
    board = await general.create_thread(name="Host board", type=discord.ChannelType.private_thread)
    assert board.type is discord.ChannelType.private_thread
    await board.add_user(discord.Object(w.alice.id))
    assert sb.thread_members(board.id) == [sb.bot_user.id, w.alice.id]
    updates = [
        p["d"]
        for p in sb.gateway.session.sent
        if p["t"] == "THREAD_MEMBERS_UPDATE" and p["d"]["id"] == str(board.id)
    ]
    added = [m["user_id"] for u in updates for m in u.get("added_members", [])]
    assert added == [str(sb.bot_user.id)]  # about alice only with GUILD_MEMBERS
    card = await board.send("Next question", view=AskView(bot))
    assert sb.can_see(w.alice, board.id) and sb.can_see(w.carol, board.id)
    assert not sb.can_see(w.bob, board.id)

    # A member's click from inside the thread: the interaction's channel is the thread.
    res = await sb.click(w.alice, board.id, card.id, "ask")
    assert res.response_type == 9
    assert isinstance(bot.clicks[-1].channel, discord.Thread)
    assert bot.clicks[-1].channel.parent_id == general.id
    with pytest.raises(MemberCannotSee):
        await sb.click(w.bob, board.id, card.id, "ask")
    with pytest.raises(SandboxError):  # the card is in the thread, not in its parent
        await sb.click(w.bob, w.general, card.id, "ask")
    assert sb.messages(board.id, as_member=w.alice)[-1]["id"] == str(card.id)
    with pytest.raises(MemberCannotSee):
        sb.messages(board.id, as_member=w.bob)
    await sb.click(w.carol, board.id, card.id, "ask")  # Manage Threads sees every thread

    # channel.mdx, List Thread Members: needs the GUILD_MEMBERS intent (default intents lack it).
    with pytest.raises(discord.Forbidden) as no_intent:
        await board.fetch_members()
    assert no_intent.value.code == 50001
    # channel.mdx, Start Thread without Message: `type` left out means a private thread.
    route = discord.http.Route("POST", "/channels/{channel_id}/threads", channel_id=general.id)
    raw = await bot.http.request(route, json={"name": "no type"})
    assert raw["type"] == 12 and raw["thread_metadata"]["invitable"] is True

    # Create Private Threads on the parent.
    await sb.set_overwrite(w.general, sb.bot_role(w.guild), deny=CREATE_PRIVATE_THREADS)
    with pytest.raises(discord.Forbidden):
        await general.create_thread(name="x", type=discord.ChannelType.private_thread)
    sb.assert_valid()


async def test_the_bot_hears_of_a_private_thread_only_when_added(world):
    w = world
    sb, bot = w.sb, w.bot
    guild = bot.get_guild(w.guild.id)
    mods = await sb.create_thread(w.carol, w.general, "mods only", private=True)
    sent = [p for p in sb.gateway.session.sent if p["t"] and p["t"].startswith("THREAD_")]
    assert sent == []  # no THREAD_CREATE for a thread the bot cannot see
    assert guild.get_thread(mods.id) is None
    with pytest.raises(discord.Forbidden) as hidden:
        await bot.fetch_channel(mods.id)
    assert hidden.value.code == 50001
    assert [t.id for t in await guild.active_threads()] == []
    await sb.add_to_thread(mods, sb.bot_user)  # carol adds the bot
    assert (await _cached(w, mods.id)).name == "mods only"
    assert [t.id for t in await guild.active_threads()] == [mods.id]
    sb.assert_valid()


async def test_modal_submissions_are_those_the_bot_showed_within_their_limits(world):
    w = world
    sb, bot = w.sb, w.bot
    with pytest.raises(ModalRefused):  # never shown
        await sb.submit_modal(w.alice, w.general, "ask-modal", {"question": "x" * 20})
    shown = await sb.slash(w.alice, w.general, "ask")
    assert shown.response_type == 9 and shown.modal["custom_id"] == "ask-modal"
    with pytest.raises(ModalRefused):  # shown to alice, not bob
        await sb.submit_modal(w.bob, w.general, "ask-modal", {"question": "x" * 20})
    with pytest.raises(ModalRefused):  # min_length 15
        await sb.submit_modal(w.alice, w.general, "ask-modal", {"question": "too short"})
    with pytest.raises(ModalRefused):  # required
        await sb.submit_modal(w.alice, w.general, "ask-modal", {"note": "hi"})
    with pytest.raises(ModalRefused):  # max_length 20
        await sb.submit_modal(
            w.alice, w.general, "ask-modal", {"question": "x" * 20, "note": "n" * 21}
        )
    with pytest.raises(ModalRefused):  # not an input of that modal
        await sb.submit_modal(w.alice, w.general, "ask-modal", {"question": "x" * 20, "z": "1"})
    text = "What is the best way to fine tune?"
    done = await sb.submit_modal(w.alice, None, "ask-modal", {"question": text})
    assert done.content == f"stored: {text}" and done.ephemeral
    assert bot.asked[-1] == (w.alice.id, text, "")
    with pytest.raises(ModalRefused):  # a modal is submitted once
        await sb.submit_modal(w.alice, w.general, "ask-modal", {"question": text})

    await sb.slash(w.alice, w.general, "asklabels")
    with pytest.raises(ModalRefused):  # not an option
        await sb.submit_modal(
            w.alice, w.general, "label-modal", {"text": text, "anonymous": ["maybe"]}
        )
    await sb.submit_modal(w.alice, w.general, "label-modal", {"text": text, "anonymous": ["yes"]})
    assert bot.asked[-1] == (w.alice.id, text, ["yes"])
    assert not sb.failed_interactions
    sb.assert_valid()


async def test_a_modal_from_a_button_in_a_thread_and_a_late_answer_fails(world):
    w = world
    sb, bot = w.sb, w.bot
    general = bot.get_channel(w.general.id)
    prompt = await general.send("prompt")
    thread = await prompt.create_thread(name="Questions")
    card = await thread.send("Ask here", view=AskView(bot))
    await sb.click(w.bob, thread.id, card.id, "ask")
    sb.interaction_deadline = 0.3
    bot.submit_delay = 0.6
    with pytest.raises(SandboxTimeout):
        await sb.submit_modal(w.bob, thread.id, "ask-modal", {"question": "x" * 20})
    assert [f.name for f in sb.failed_interactions] == ["modal:ask-modal"]


async def test_people_start_and_end_the_stage_event(world):
    w = world
    sb, bot = w.sb, w.bot
    start = sb.clock() + timedelta(hours=1)
    ev = await sb.add_scheduled_event(w.guild, "AMA", start=start, entity_type=1, channel=w.stage)
    await sb.join_voice(w.carol, w.stage)
    await sb.start_event(ev["id"])
    await sb.wait_for(lambda: bot.event_updates, what="GUILD_SCHEDULED_EVENT_UPDATE")
    assert bot.event_updates == [discord.EventStatus.active]
    with pytest.raises(SandboxError):
        await sb.start_event(ev["id"])  # ACTIVE cannot start again
    await sb.end_event(ev["id"])
    await sb.wait_for(lambda: len(bot.event_updates) == 2, what="the second update")
    assert bot.event_updates[-1] is discord.EventStatus.completed
    assert sb.scheduled_events(w.guild)[0]["status"] == 3


def test_view_channel_is_needed_for_a_thread_too():
    """Pure check of the permission rule: no View Channel on the parent, no thread."""
    world = World(utcnow)
    g = world.add_guild("g")
    parent = world.add_channel(g, "general")
    thread = world.add_thread(parent, "t", owner=world.bot, ttype=11)
    m = world.add_member(g, "m")
    assert g.permissions_in(m, thread) & VIEW_CHANNEL
    parent.overwrites.append(Overwrite(m.id, 1, deny=VIEW_CHANNEL))
    assert g.permissions_in(m, thread) == 0


async def test_threads_modals_and_events_from_another_process(world):
    """The same helpers through SandboxClient (the control API a subprocess bot's test uses)."""
    w = world
    sb, bot = w.sb, w.bot
    async with SandboxClient(sb.base_url) as client:
        board = await client.create_thread(w.carol, w.general, "Host board", private=True)
        assert await client.thread_members(board) == [w.carol.id]
        assert not await client.can_see(w.alice, board)
        await client.add_to_thread(board, w.alice)
        await client.add_to_thread(board, sb.bot_user)
        assert await client.can_see(w.alice, board)
        assert (await _cached(w, board.id)).name == "Host board"
        assert [t["id"] for t in await client.threads(w.general)] == [str(board.id)]
        card = await bot.get_guild(w.guild.id).get_thread(board.id).send("card", view=AskView(bot))
        await client.click(w.alice, board, card.id, "ask")
        with pytest.raises(MemberCannotSee):
            await client.click(w.bob, board, card.id, "ask")
        with pytest.raises(ModalRefused):
            await client.submit_modal(w.alice, board, "ask-modal", {"question": "short"})
        done = await client.submit_modal(w.alice, board, "ask-modal", {"question": "x" * 20})
        assert done.content == "stored: " + "x" * 20
        state = await client.set_thread_state(board, archived=True, locked=True)
        assert state["thread_metadata"]["locked"] is True

        start = sb.clock() + timedelta(hours=1)
        ev = await sb.add_scheduled_event(
            w.guild, "AMA", start=start, entity_type=1, channel=w.stage
        )
        await sb.join_voice(w.carol, w.stage)
        assert (await client.start_event(ev["id"]))["status"] == 2
        assert (await client.end_event(ev["id"]))["status"] == 3
    sb.assert_valid()


async def test_with_the_members_intent_the_bot_hears_of_other_thread_members():
    """threads.mdx, Syncing for other users: THREAD_MEMBERS_UPDATE about others and List
    Thread Members need GUILD_MEMBERS."""
    async with Sandbox() as sb:
        w = build_world(sb)
        intents = discord.Intents.default()
        intents.members = True
        async with running_bot(sb, w.guild.id, intents) as bot:
            general = bot.get_channel(w.general.id)
            board = await general.create_thread(
                name="Host board", type=discord.ChannelType.private_thread
            )
            await board.add_user(discord.Object(w.alice.id))
            guild = bot.get_guild(w.guild.id)

            def alice_seen() -> list[discord.ThreadMember] | None:
                thread = guild.get_thread(board.id)
                return thread.members if thread and thread.members else None

            cached = await sb.wait_for(alice_seen, what="alice in the bot's view of the thread")
            assert {m.id for m in cached} == {w.alice.id}  # discord.py keeps `me` apart
            fetched = await board.fetch_members()
            assert [m.id for m in fetched] == sorted([sb.bot_user.id, w.alice.id])
            sb.assert_valid()


async def test_a_thread_archives_itself_after_its_auto_archive_duration():
    """threads.mdx: inactivity (no message, unarchive or new duration) archives a thread;
    a send brings it back (unless locked)."""
    from bot.clock import ManualClock

    clock = ManualClock(utcnow())
    async with Sandbox(clock=clock, tick_interval=None) as sb:
        w = build_world(sb)
        async with running_bot(sb, w.guild.id) as bot:
            general = bot.get_channel(w.general.id)
            thread = await (await general.send("prompt")).create_thread(
                name="Questions", auto_archive_duration=60
            )
            clock.advance(timedelta(minutes=59))
            await sb.tick()
            assert not sb.threads(general.id)[0]["thread_metadata"]["archived"]
            await thread.send("activity")
            clock.advance(timedelta(minutes=59))
            await sb.tick()
            assert not sb.threads(general.id)[0]["thread_metadata"]["archived"]
            clock.advance(timedelta(minutes=2))
            await sb.tick()
            assert sb.threads(general.id)[0]["thread_metadata"]["archived"]
            guild = bot.get_guild(w.guild.id)
            await sb.wait_for(lambda: guild.get_thread(thread.id) is None, what="THREAD_UPDATE")
            await thread.send("back")
            assert not sb.threads(general.id)[0]["thread_metadata"]["archived"]
            sb.assert_valid()
