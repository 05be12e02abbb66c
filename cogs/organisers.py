"""Organisers schedule, preview, list, cancel and skip announcements: /announce ...

Who counts as an organiser is decided here, on the bot's side, on every invocation and every
button click (Discord's default permissions are only a hint in the client): a member holding
a role whose *id* is in `[organisers] role_ids`, or, when that list is empty, a member with
the Manage Events permission. Role names never count, so a look-alike role grants nothing.

Buttons carry `amabot:` custom ids routed by cogs/buttons.py (this cog registers confirm,
discard and list), so they keep working across restarts; a preview is stored in the bot
state until confirmed, cancelled or expired.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import AmaBot, UserFacingError, reply_ephemeral
from bot.discord.sender import payload_kwargs
from bot.plan.posts import PlannedPost, PostStatus
from bot.plan.reminders import skip_week
from bot.plan.when import WhenError, parse_when
from bot.render.limits import allowed_mentions, fit_message, role_mention
from bot.render.messages import (
    announcement_preview,
    autocomplete_name,
    discord_timestamp,
    organiser_announcement,
    when_line,
)
from bot.store import DuplicateKeyError

log = logging.getLogger("amabot.cogs.organisers")

BUTTON_ACTIONS = ("confirm", "discard", "list")
DRAFT_TTL = timedelta(minutes=30)
DRAFT_PREFIX = "announce.draft:"
LIST_PAGE = 10
MAX_MESSAGE = 2000


def is_organiser(user: discord.abc.User, settings) -> bool:
    if not isinstance(user, discord.Member):
        return False  # in a DM there is no guild role to hold
    if settings.organisers.role_ids:
        wanted = set(settings.organisers.role_ids)
        return any(role.id in wanted for role in user.roles)
    return user.guild_permissions.manage_events


class NotOrganiser(app_commands.CheckFailure):
    pass


def organiser_refusal(interaction: discord.Interaction) -> str | None:
    """Why this interaction may not use organiser features, or None when it may."""
    bot: AmaBot = interaction.client  # type: ignore[assignment]
    if interaction.guild is None:
        return "Organiser commands work in the server, not in direct messages."
    if bot.settings.discord.guild_id and interaction.guild_id != bot.settings.discord.guild_id:
        return "Organiser commands work only in the community's server."
    if not is_organiser(interaction.user, bot.settings):
        return "Only organisers can do that."
    return None


def _check_organiser(interaction: discord.Interaction) -> bool:
    refusal = organiser_refusal(interaction)
    if refusal is not None:
        raise NotOrganiser(refusal)
    return True


EVENT_CHOICES = [
    app_commands.Choice(name="Livestream", value="livestream"),
    app_commands.Choice(name="AMA", value="ama"),
    app_commands.Choice(name="Both", value="both"),
]


@app_commands.guild_only()
@app_commands.default_permissions(manage_events=True)
class Announce(
    app_commands.Group,
    name="announce",
    description="Schedule and manage the bot's posts (organisers).",
):
    def __init__(self, cog: Organisers):
        super().__init__()
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return _check_organiser(interaction)

    @app_commands.command(name="create")
    @app_commands.describe(
        message="The text to post (up to 2000 characters). Mentions in it never ping anyone.",
        when="Series time zone: `tomorrow 09:00`, `in 2h`, `friday 10:30`, `2026-12-01 09:00`.",
        channel="Where to post (default: the announcements channel).",
        role="A role to ping (default: nobody).",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        message: str,
        when: str,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
    ) -> None:
        """Schedule an announcement: shows you a preview to confirm before anything is saved."""
        await self.cog.create_preview(interaction, message, when, channel, role)

    @app_commands.command(name="list")
    @app_commands.describe(page="Page number (10 posts a page).")
    async def list_(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        """List the next pending posts: reminders, recap announcements, organiser announcements."""
        await self.cog.list_pending(interaction, page)

    @app_commands.command(name="cancel")
    @app_commands.describe(key="The post to cancel, e.g. announce:42 or reminder:s2-e05:ama:1h.")
    async def cancel(self, interaction: discord.Interaction, key: str) -> None:
        """Cancel one pending post. It is recorded with who cancelled it."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # then the store
        await self.cog.cancel_post(interaction, key)

    @cancel.autocomplete("key")
    async def cancel_key_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips the group's interaction_check: pending keys are organisers' business.
        if organiser_refusal(interaction) is not None:
            return []
        return await self.cog.pending_key_choices(current)

    @app_commands.command(name="skip")
    @app_commands.describe(
        episode="The episode (code or title).", event="Which event's reminders to skip."
    )
    @app_commands.choices(event=EVENT_CHOICES)
    async def skip(
        self, interaction: discord.Interaction, episode: str, event: app_commands.Choice[str]
    ) -> None:
        """Skip this week's reminders for one event (a holiday, a cancelled AMA)."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # then the store
        await self.cog.skip_event(interaction, episode, event.value)

    @skip.autocomplete("episode")
    async def skip_episode_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if organiser_refusal(interaction) is not None:
            return []
        episodes = self.cog.bot.index.search_episodes(current[:200], self.cog.bot.clock(), limit=25)
        return [app_commands.Choice(name=autocomplete_name(e), value=e.id[:100]) for e in episodes]


class Organisers(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot
        self.group = Announce(self)
        guild = (
            discord.Object(bot.settings.discord.guild_id) if bot.settings.discord.guild_id else None
        )
        bot.tree.add_command(self.group, guild=guild)
        self._guild = guild

    async def cog_load(self) -> None:
        for action in BUTTON_ACTIONS:
            self.bot.register_button(action, self._button_handler(action))

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name, guild=self._guild)
        for action in BUTTON_ACTIONS:
            self.bot.unregister_button(action)

    def _button_handler(self, action: str):
        async def handle(interaction: discord.Interaction, arg: str) -> None:
            await self.on_button(interaction, f"{action}:{arg}")

        return handle

    @property
    def store(self):
        return self.bot.db

    # -- create: preview, then confirm -----------------------------------------------------

    async def create_preview(
        self,
        interaction: discord.Interaction,
        message: str,
        when: str,
        channel: discord.TextChannel | None,
        role: discord.Role | None,
    ) -> None:
        settings = self.bot.settings
        now = self.bot.clock()
        role_id = role.id if role is not None else 0
        # The post is the text plus the role mention in front: that is what must fit.
        mention = role_mention(role_id)
        length = len(message) + (len(mention) + 1 if mention and mention not in message else 0)
        if length > MAX_MESSAGE:
            extra = " with the role mention" if length != len(message) else ""
            raise UserFacingError(
                f"That message is {length} characters{extra}; Discord allows {MAX_MESSAGE}. "
                "Shorten it and try again."
            )
        if not message.strip():
            raise UserFacingError("The message is empty.")
        try:
            due = parse_when(when, now=now, tz=settings.series.timezone)
        except WhenError as exc:
            raise UserFacingError(str(exc)) from exc
        if due <= now:
            raise UserFacingError(
                f"{discord_timestamp(due)} is in the past. Pick a time ahead, e.g. `in 2h`."
            )
        target = channel or (
            interaction.guild.get_channel(settings.announcements.channel_id)
            if interaction.guild
            else None
        )
        if target is None:
            raise UserFacingError("Pick a channel: no announcements channel is configured.")
        problem = _cannot_post(target)
        if problem:
            raise UserFacingError(problem)
        payload = organiser_announcement(message, role_id=role_id)
        draft_id = secrets.token_hex(8)
        await self.store.state.set_json(
            DRAFT_PREFIX + draft_id,
            {
                "author": interaction.user.id,
                "channel_id": target.id,
                "role_id": role_id,
                "due_at": due.isoformat(),
                "payload": payload,
                "expires_at": (now + DRAFT_TTL).isoformat(),
                # The key is fixed now, so Confirm is idempotent: a double click, or a click
                # again after a crash between writing the post and dropping the draft, finds
                # the post already there instead of scheduling it twice or losing it.
                "number": await self.store.outbox.next_announcement_id(),
            },
        )
        preview = announcement_preview(payload, due_at=due, channel_id=target.id, role_id=role_id)
        preview["components"] = [
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 3,
                        "label": "Confirm",
                        "custom_id": f"amabot:confirm:{draft_id}",
                    },
                    {
                        "type": 2,
                        "style": 2,
                        "label": "Cancel",
                        "custom_id": f"amabot:discard:{draft_id}",
                    },
                ],
            }
        ]
        await _reply(interaction, preview)

    async def on_button(self, interaction: discord.Interaction, rest: str) -> None:
        action, _, arg = rest.partition(":")
        if action not in ("confirm", "discard", "list"):
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        # Every click is checked again: a preview or a list may have been forwarded, or the
        # clicker may have lost the role since.
        refusal = organiser_refusal(interaction)
        if refusal is not None:
            await reply_ephemeral(interaction, refusal)
            return
        if action == "list":
            if not arg.isdigit() or not 1 <= int(arg) <= 1000:
                await reply_ephemeral(interaction, "This button is no longer active.")
                return
            kwargs = payload_kwargs(await self._list_payload(int(arg)))
            kwargs.setdefault("view", None)  # a list that shrank to one page loses its buttons
            await interaction.response.edit_message(**kwargs)
            return
        if not re.fullmatch(r"[0-9a-f]{16}", arg):
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        await (self._confirm if action == "confirm" else self._discard)(interaction, arg)

    async def _take_draft(
        self, interaction: discord.Interaction, draft_id: str
    ) -> dict[str, Any] | None:
        """The caller's unexpired draft, or None (answered). The draft is dropped only after
        its outcome is written, so a crash in between loses nothing."""
        draft = await self.store.state.get_json(DRAFT_PREFIX + draft_id)
        if draft is None or draft.get("author") != interaction.user.id:
            await reply_ephemeral(
                interaction,
                "This preview was already handled, has expired or is not yours; "
                "nothing was scheduled.",
            )
            return None
        if datetime.fromisoformat(draft["expires_at"]) < self.bot.clock():
            await self.store.state.delete(DRAFT_PREFIX + draft_id)
            await reply_ephemeral(
                interaction,
                "This preview has expired; nothing was scheduled. Run /announce create again.",
            )
            return None
        return draft

    async def _confirm(self, interaction: discord.Interaction, draft_id: str) -> None:
        draft = await self._take_draft(interaction, draft_id)
        if draft is None:
            return
        now = self.bot.clock()
        due = datetime.fromisoformat(draft["due_at"])
        if due <= now:
            await reply_ephemeral(
                interaction,
                "That time has passed while the preview was open; nothing was scheduled.",
            )
            return
        key = f"announce:{draft['number']}"
        try:
            await self.store.outbox.add(
                PlannedPost(
                    key=key,
                    kind="announce",
                    due_at=due,
                    channel_id=int(draft["channel_id"]),
                    payload=draft["payload"],
                    created_by=interaction.user.id,
                    subject=f"by {interaction.user.id}",
                ),
                now,
            )
        except DuplicateKeyError:
            await self.store.state.delete(DRAFT_PREFIX + draft_id)
            await reply_ephemeral(
                interaction, f"This preview was already handled: it is scheduled as `{key}`."
            )
            return
        await self.store.state.delete(DRAFT_PREFIX + draft_id)
        await self.store.audit.record(
            "announce.create", key, interaction.user.id, f"due {due.isoformat()}", now
        )
        posting = getattr(self.bot, "posting", None)
        if posting is not None:
            posting.wakeups.schedule(key, due)
        log.info("organiser %s scheduled %s for %s", interaction.user.id, key, due.isoformat())
        await interaction.response.edit_message(
            content=f"Scheduled `{key}` for {when_line(due)} in <#{draft['channel_id']}>.",
            embeds=[],
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _discard(self, interaction: discord.Interaction, draft_id: str) -> None:
        draft = await self._take_draft(interaction, draft_id)
        if draft is None:
            return
        key = f"announce:{draft['number']}"
        if await self.store.outbox.get(key) is not None:
            await reply_ephemeral(
                interaction, f"Already scheduled as `{key}`; use /announce cancel to stop it."
            )
            return
        await self.store.state.delete(DRAFT_PREFIX + draft_id)
        await interaction.response.edit_message(
            content="Cancelled; nothing was scheduled.",
            embeds=[],
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    # -- list, cancel, skip ----------------------------------------------------------------

    async def list_pending(self, interaction: discord.Interaction, page: int) -> None:
        await _reply(interaction, await self._list_payload(page))

    async def _list_payload(self, page: int) -> dict[str, Any]:
        """One page of pending posts, soonest first, with Previous/Next buttons."""
        counts = await self.store.outbox.counts()
        total = counts.get(PostStatus.PENDING, 0)
        pages = max((total + LIST_PAGE - 1) // LIST_PAGE, 1)
        page = min(max(page, 1), pages)
        posts = await self.store.outbox.pending(limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE)
        lines = [
            f"`{p.key}` → <#{p.channel_id}> {discord_timestamp(p.wake_at, 'R')}" for p in posts
        ]
        text = "\n".join(lines) if lines else "Nothing is pending."
        payload: dict[str, Any] = {
            "embeds": [
                {
                    "title": f"Pending posts: page {page} of {pages} ({total} in all)",
                    "description": text,
                }
            ],
            "allowed_mentions": allowed_mentions(0),
        }
        if pages > 1:
            payload["components"] = [
                {
                    "type": 1,
                    "components": [
                        _button("Previous", f"amabot:list:{page - 1}", disabled=page <= 1),
                        _button("Next", f"amabot:list:{page + 1}", disabled=page >= pages),
                    ],
                }
            ]
        return fit_message(payload)

    async def pending_key_choices(self, current: str) -> list[app_commands.Choice[str]]:
        needle = current.strip().lower()[:100]
        posts = await self.store.outbox.pending(limit=500)
        keys = [p.key for p in posts if needle in p.key.lower()][:25]
        return [app_commands.Choice(name=k[:100], value=k[:100]) for k in keys]

    async def cancel_post(self, interaction: discord.Interaction, key: str) -> None:
        key = key.strip()[:200]
        now = self.bot.clock()
        who = interaction.user.id
        if not await self.store.outbox.cancel(key, f"cancelled by organiser {who}", now, by=who):
            post = await self.store.outbox.get(key)
            state = f"it is {post.status}" if post else "there is no such post"
            raise UserFacingError(f"Nothing to cancel: {state}. See /announce list.")
        await self.store.audit.record("post.cancel", key, who, "", now)
        posting = getattr(self.bot, "posting", None)
        if posting is not None:
            posting.wakeups.unschedule(key)
        log.info("organiser %s cancelled %s", who, key)
        await reply_ephemeral(interaction, f"Cancelled `{key}`.")

    async def skip_event(self, interaction: discord.Interaction, query: str, event: str) -> None:
        now = self.bot.clock()
        episode = self.bot.index.episode(query.strip()[:200]) or self.bot.index.find_episode(
            query[:200]
        )
        if episode is None:
            raise UserFacingError(
                f"I don't know an episode {query[:100]!r}. Pick one from the list."
            )
        kind = None if event == "both" else event
        who = interaction.user.id
        cancelled = []
        for key in skip_week(episode, kind, now, offsets=self.bot.settings.reminders.offsets):
            if await self.store.outbox.cancel(
                key, f"skipped this week by organiser {who}", now, by=who
            ):
                cancelled.append(key)
                posting = getattr(self.bot, "posting", None)
                if posting is not None:
                    posting.wakeups.unschedule(key)
        if not cancelled:
            raise UserFacingError(f"No pending reminders for {episode.code} ({event}) to skip.")
        await self.store.audit.record(
            "reminders.skip", f"{episode.id}:{event}", who, ",".join(cancelled), now
        )
        log.info("organiser %s skipped %s", who, ", ".join(cancelled))
        await reply_ephemeral(
            interaction,
            f"Skipped {len(cancelled)} reminder(s) for {episode.code} {episode.title}:\n"
            + "\n".join(f"`{k}`" for k in cancelled),
        )


def _cannot_post(channel: discord.abc.GuildChannel) -> str | None:
    if not isinstance(channel, discord.TextChannel):
        return f"I can only post in text or announcement channels, and <#{channel.id}> is not one."
    me = channel.guild.me
    if me is None:
        return None
    perms = channel.permissions_for(me)
    if not (perms.view_channel and perms.send_messages):
        return f"I can't post in <#{channel.id}>: I need View Channel and Send Messages there."
    return None


def _button(label: str, custom_id: str, *, disabled: bool = False) -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": label, "custom_id": custom_id, "disabled": disabled}


async def _reply(interaction: discord.Interaction, payload: dict[str, Any]) -> None:
    await interaction.response.send_message(ephemeral=True, **payload_kwargs(payload))


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Organisers(bot))
