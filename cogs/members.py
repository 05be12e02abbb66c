"""What members ask: /episode, /recap, /schedule, with autocomplete.

Thin: parse the options, resolve them with bot/content/lookup.py over the in-memory content
index, render with bot/render/, reply.
No blocking I/O in a handler: lookups come from the index; a local image is read off the
event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from pathlib import Path
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.content.images import IMAGE_SUFFIXES
from bot.content.images import MAX_ATTACHMENT_BYTES as MAX_IMAGE_BYTES
from bot.content.index import ContentIndex
from bot.content.lookup import MAX_QUERY, resolve_episode, resolve_recap
from bot.content.models import EVENT_KINDS, Episode, Recap
from bot.discord.app import AmaBot, in_time
from bot.discord.replies import reply, reply_ephemeral
from bot.discord.sender import uploads_of
from bot.plan.calendar import episode_ics, ics_filename
from bot.plan.scheduled_events import FINISHED, event_key, event_link
from bot.render.components import ics_episode_id
from bot.render.limits import CHOICE_NAME_MAX, one_line
from bot.render.messages import (
    autocomplete_name,
    episode_reply,
    not_found_reply,
    nothing_yet_reply,
    recap_autocomplete_name,
    recap_reply,
    recap_url_for,
    schedule_reply,
)

log = logging.getLogger("amabot.cogs.members")

MAX_CHOICES = 25
MAX_SCHEDULE = 10

everywhere = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)


class Members(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.register_button("ics", self.on_add_to_calendar)

    async def cog_unload(self) -> None:
        self.bot.unregister_button("ics")

    @property
    def index(self) -> ContentIndex:
        return self.bot.index

    # -- /episode --------------------------------------------------------------------------

    @app_commands.command(name="episode")
    @app_commands.describe(
        query="Episode code (s2e5, S2:E5), title words, a guest or a tag. Empty: the next one.",
        private="Only you see the answer.",
    )
    @everywhere
    async def episode(
        self, interaction: discord.Interaction, query: str | None = None, private: bool = False
    ) -> None:
        """Show an episode: livestream and AMA times in your time zone, guests, links."""
        now = self.bot.clock()
        if query and query.strip():
            episode = resolve_episode(self.index, query, now)
            if episode is None:
                await self._not_found(interaction, "episode", query)
                return
        else:
            episode = self.index.next_upcoming(now) or self.index.latest_episode(now)
            if episode is None:
                await reply(interaction, nothing_yet_reply("episode"), ephemeral=True)
                return
        recap = self.index.recap_for_episode(episode.id)
        if recap is not None and not recap.is_published(now):
            recap = None
        recap_url = recap_url_for(recap, self.bot.settings) if recap else None
        # The image (a file read) and the event links (the store) may be slow under load.
        (image_file, image_url), event_urls = await in_time(
            interaction,
            asyncio.gather(self._image(episode), self._event_urls(episode)),
            ephemeral=private,
        )
        payload = episode_reply(
            episode,
            now=now,
            recap=recap,
            recap_url=recap_url,
            image_url=image_url,
            settings=self.bot.settings,
            ama_record=self.index.ama_record(episode.id),
            event_urls=event_urls,
            actions=True,
        )
        await reply(interaction, payload, ephemeral=private, file=image_file)

    async def _event_urls(self, episode: Episode) -> dict[str, str]:
        """The Discord events the bot made for this episode that members can still join."""
        guild_id = self.bot.settings.discord.guild_id
        if not guild_id or not self.bot.settings.events.enabled or self.bot.store is None:
            return {}
        urls: dict[str, str] = {}
        for kind in EVENT_KINDS:
            stored = await self.bot.db.events.get(event_key(episode.id, kind))
            if stored is None or stored.discord_id is None or stored.status in FINISHED:
                continue
            urls[kind] = event_link(guild_id, stored.discord_id)
        return urls

    async def on_add_to_calendar(self, interaction: discord.Interaction, arg: str) -> None:
        """ "Add to calendar": the episode's livestream and AMA as an .ics file, just for them."""
        episode_id = ics_episode_id(arg, (e.id for e in self.index.episodes()))
        episode = self.index.episode(episode_id) if episode_id else None
        if episode is None:
            await reply_ephemeral(interaction, "That episode is no longer in the schedule.")
            return
        data = episode_ics(episode, self.bot.settings, self.bot.clock())
        file = discord.File(io.BytesIO(data), filename=ics_filename(episode))
        text = (
            f"{episode.code} · {one_line(episode.title)}: open the file to add the "
            "livestream and the AMA to your calendar (times in UTC; your calendar shows them "
            "in your zone)."
        )
        await reply(interaction, {"content": text}, file=file)

    @episode.autocomplete("query")
    async def episode_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            episodes = self.index.search_episodes(
                current[:MAX_QUERY], self.bot.clock(), limit=MAX_CHOICES
            )
            return [
                app_commands.Choice(name=autocomplete_name(e), value=_choice_value(e))
                for e in episodes[:MAX_CHOICES]
            ]
        except Exception:
            # discord.py only logs a failing autocomplete and leaves it unanswered; an empty
            # list answers it, and the member can still type a code.
            _log_failure(interaction, "episode autocomplete")
            return []

    async def _image(self, episode: Episode) -> tuple[discord.File | None, str | None]:
        """A URL is used as is; a file in the content folder is attached."""
        image = episode.image
        if not image:
            return None, None
        if image.startswith(("https://", "http://")):
            return None, image
        # Resolving, checking and reading the file all touch the disk: off the event loop.
        found = await asyncio.to_thread(self._read_local_image, episode, image)
        if found is None:
            return None, None
        path, data = found
        name = "episode" + path.suffix.lower()
        file = discord.File(io.BytesIO(data), filename=name)
        return file, f"attachment://{name}"

    def _read_local_image(self, episode: Episode, image: str) -> tuple[Path, bytes] | None:
        """The image file inside the content folder, or None (outside it, too big, unreadable)."""
        try:
            root = self.bot.settings.content.path.resolve()
            candidate = (root / Path(episode.path).parent / image).resolve()
            if not candidate.is_relative_to(root) or candidate.suffix.lower() not in IMAGE_SUFFIXES:
                return None
            if not candidate.is_file() or candidate.stat().st_size > MAX_IMAGE_BYTES:
                return None
            return candidate, candidate.read_bytes()
        except (OSError, ValueError):
            log.warning("could not read image %r of %s", image, episode.id)
            return None

    # -- /recap ----------------------------------------------------------------------------

    @app_commands.command(name="recap")
    @app_commands.describe(
        query="Episode code, words of the title or a tag. Empty: the latest recap.",
        private="Only you see the answer.",
    )
    @everywhere
    async def recap(
        self, interaction: discord.Interaction, query: str | None = None, private: bool = False
    ) -> None:
        """Show a written recap of an episode: summary, key takeaway, authors, link."""
        now = self.bot.clock()
        if query and query.strip():
            recap = resolve_recap(self.index, query, now)
            if recap is None:
                await self._not_found(interaction, "recap", query)
                return
        else:
            recap = self.index.latest_recap(now)
            if recap is None:
                await reply(interaction, nothing_yet_reply("recap"), ephemeral=True)
                return
        episode = self.index.episode_for_recap(recap)
        payload = recap_reply(
            recap,
            episode=episode,
            authors=self.index.authors,
            recap_url=recap_url_for(recap, self.bot.settings),
            settings=self.bot.settings,
            ama_record=self.index.ama_record(episode.id) if episode is not None else None,
        )
        # The recap's card given as a repository path goes with the answer as a file (read
        # off the event loop, as /episode's image).
        payload, uploads = await asyncio.to_thread(
            uploads_of, payload, self.bot.settings.content.path
        )
        file = (
            discord.File(io.BytesIO(uploads[0].data), filename=uploads[0].filename)
            if uploads
            else None
        )
        await reply(interaction, payload, ephemeral=private, file=file)

    @recap.autocomplete("query")
    async def recap_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            recaps = self.index.search_recaps(
                current[:MAX_QUERY], self.bot.clock(), limit=MAX_CHOICES
            )
            return [
                app_commands.Choice(
                    name=recap_autocomplete_name(r, self.index.episode_for_recap(r)),
                    value=_choice_value(r),
                )
                for r in recaps[:MAX_CHOICES]
            ]
        except Exception:
            _log_failure(interaction, "recap autocomplete")
            return []

    # -- /schedule -------------------------------------------------------------------------

    @app_commands.command(name="schedule")
    @app_commands.describe(
        season="Only this season.",
        count="How many livestreams and AMAs to list (1-10, default 5).",
        private="Only you see the answer.",
    )
    @everywhere
    async def schedule(
        self,
        interaction: discord.Interaction,
        season: app_commands.Range[int, 1, 999] | None = None,
        count: app_commands.Range[int, 1, MAX_SCHEDULE] = 5,
        private: bool = False,
    ) -> None:
        """List the next livestreams and AMAs, in your time zone."""
        now = self.bot.clock()
        count = min(max(count, 1), MAX_SCHEDULE)  # Discord enforces the range; be sure anyway
        items = self.index.upcoming_events(now, season=season, limit=count)
        payload = schedule_reply(items, now=now, settings=self.bot.settings, season=season)
        await reply(interaction, payload, ephemeral=private)

    # -- shared ----------------------------------------------------------------------------

    async def _not_found(
        self, interaction: discord.Interaction, kind: Literal["episode", "recap"], query: str
    ) -> None:
        suggestions = self.index.did_you_mean(
            query[:MAX_QUERY], self.bot.clock(), kind=kind, limit=3
        )
        names = [
            autocomplete_name(s)
            if isinstance(s, Episode)
            else recap_autocomplete_name(s, self.index.episode_for_recap(s))
            for s in suggestions[:3]
        ]
        await reply(interaction, not_found_reply(kind, query[:100], names), ephemeral=True)


def _choice_value(item: Episode | Recap) -> str:
    """What the choice sends back: the id, which resolves exactly; a code if the id is too long."""
    if len(item.id) <= CHOICE_NAME_MAX:
        return item.id
    if isinstance(item, Episode) and item.season is not None and item.number is not None:
        return item.code
    return item.id[:CHOICE_NAME_MAX]


def _log_failure(interaction: discord.Interaction, what: str) -> str:
    reference = secrets.token_hex(4)
    log.exception(
        "error %s in %s (guild %s, channel %s, user %s)",
        reference,
        what,
        interaction.guild_id,
        interaction.channel_id,
        interaction.user.id if interaction.user else "?",
    )
    return reference


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Members(bot))
