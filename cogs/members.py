"""What members ask: /episode, /recap, /schedule, with autocomplete.

Thin: parse the options, resolve them with bot/content/across.py over every series' in-memory
content index (bot/content/lookup.py within one), render with bot/render/, reply. Every
command has an optional `series` option; with several series, every answer and every choice
names its series.
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

from bot.config import Settings
from bot.content.across import Across, Found, Show
from bot.content.images import IMAGE_SUFFIXES
from bot.content.images import MAX_ATTACHMENT_BYTES as MAX_IMAGE_BYTES
from bot.content.lookup import MAX_QUERY
from bot.content.models import EVENT_KINDS, Episode, Recap
from bot.discord.app import AmaBot, in_time
from bot.discord.replies import reply, reply_ephemeral
from bot.discord.sender import uploads_of
from bot.plan.calendar import episode_ics, ics_filename
from bot.plan.kinds import scoped_id
from bot.plan.scheduled_events import FINISHED, event_key, event_link
from bot.render.components import ics_episode_id, ics_target
from bot.render.limits import CHOICE_NAME_MAX, one_line
from bot.render.messages import (
    autocomplete_name,
    episode_reply,
    not_found_reply,
    nothing_yet_reply,
    recap_autocomplete_name,
    recap_reply,
    recap_url_for,
    schedule_by_series_reply,
    schedule_reply,
)

log = logging.getLogger("amabot.cogs.members")

MAX_CHOICES = 25
MAX_SCHEDULE = 10

everywhere = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)


SERIES_OPTION = "Only this series (default: every series)."


class Members(commands.Cog):
    """Members' look-ups across every series: /episode, /recap, /schedule."""

    def __init__(self, bot: AmaBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.register_button("ics", self.on_add_to_calendar)

    async def cog_unload(self) -> None:
        self.bot.unregister_button("ics")

    @property
    def across(self) -> Across:
        """Every series' content as members search it. The first series' index is
        `bot.index` (what one-series code holds); without a lineup, that one series."""
        return Across.serving(self.bot.settings, self.bot.lineup, self.bot.index)

    async def _pick_series(
        self, interaction: discord.Interaction, across: Across, series: str | None
    ) -> tuple[bool, Show | None]:
        """(ok, the series asked for or None for all); a name no series has is answered
        here, privately, with the series there are."""
        if not series or not series.strip():
            return True, None
        show = across.pick_series(series)
        if show is None:
            known = ", ".join(s.name for s in across.shows)
            shown = one_line(series)[:100].replace("`", "'")
            await reply_ephemeral(
                interaction, f"I don't know a series called “{shown}”. The series: {known}."
            )
            return False, None
        return True, show

    # -- /episode --------------------------------------------------------------------------

    @app_commands.command(name="episode")
    @app_commands.describe(
        query="Episode code (s2e5, S2:E5), title words, a guest or a tag. Empty: the next one.",
        series=SERIES_OPTION,
        private="Only you see the answer.",
    )
    @everywhere
    async def episode(
        self,
        interaction: discord.Interaction,
        query: str | None = None,
        series: str | None = None,
        private: bool = False,
    ) -> None:
        """Show an episode: livestream and AMA times in your time zone, guests, links."""
        now = self.bot.clock()
        across = self.across
        ok, show = await self._pick_series(interaction, across, series)
        if not ok:
            return
        if query and query.strip():
            found = across.resolve_episode(query, now, series=show)
            if found is None:
                await self._not_found(interaction, across, "episode", query, show)
                return
        else:
            found = across.next_or_latest_episode(now, series=show)
            if found is None:
                await reply(interaction, nothing_yet_reply("episode"), ephemeral=True)
                return
        episode, view, index = found.item, found.show.settings, found.show.index
        recap = index.recap_for_episode(episode.id)
        if recap is not None and not recap.is_published(now):
            recap = None
        recap_url = recap_url_for(recap, view) if recap else None
        # The image (a file read) and the event links (the store) may be slow under load.
        (image_file, image_url), event_urls = await in_time(
            interaction,
            asyncio.gather(self._image(episode, view), self._event_urls(episode, view)),
            ephemeral=private,
        )
        payload = episode_reply(
            episode,
            now=now,
            recap=recap,
            recap_url=recap_url,
            image_url=image_url,
            settings=view,
            ama_record=index.ama_record(episode.id),
            event_urls=event_urls,
            actions=True,
            series=found.series if across.several else None,
        )
        await reply(interaction, payload, ephemeral=private, file=image_file)

    async def _event_urls(self, episode: Episode, view: Settings) -> dict[str, str]:
        """The Discord events the bot made for this episode that members can still join."""
        guild_id = self.bot.settings.discord.guild_id
        if not guild_id or not view.events.enabled or self.bot.store is None:
            return {}
        urls: dict[str, str] = {}
        for kind in EVENT_KINDS:
            stored = await self.bot.db.events.get(event_key(scoped_id(view, episode.id), kind))
            if stored is None or stored.discord_id is None or stored.status in FINISHED:
                continue
            urls[kind] = event_link(guild_id, stored.discord_id)
        return urls

    async def on_add_to_calendar(self, interaction: discord.Interaction, arg: str) -> None:
        """ "Add to calendar": the episode's livestream and AMA as an .ics file, just for them."""
        found = self._calendar_episode(self.across, arg)
        if found is None:
            await reply_ephemeral(interaction, "That episode is no longer in the schedule.")
            return
        episode, view = found.item, found.show.settings
        data = episode_ics(episode, view, self.bot.clock())
        file = discord.File(io.BytesIO(data), filename=ics_filename(episode))
        named = f"{found.show.name} · " if self.across.several else ""
        text = (
            f"{named}{episode.code} · {one_line(episode.title)}: open the file to add the "
            "livestream and the AMA to your calendar (times in UTC; your calendar shows them "
            "in your zone)."
        )
        await reply(interaction, {"content": text}, file=file)

    @staticmethod
    def _calendar_episode(across: Across, arg: str) -> Found[Episode] | None:
        """The episode an "Add to calendar" button names: ``<series>:<id>`` with several
        series, a bare id (buttons from before: the first series), or a hash of either."""
        targets: dict[str, tuple[Show, str]] = {}
        if arg.startswith("#"):
            for n, show in enumerate(across.shows):
                for e in show.index.episodes():
                    if across.several:
                        targets[ics_target(e.id, show.id)] = (show, e.id)
                    if n == 0:
                        targets.setdefault(e.id, (show, e.id))
        target = ics_episode_id(arg, targets)
        if target is None:
            return None
        if target in targets:
            show, episode_id = targets[target]
        else:
            named, episode_id = across.split_value(target)
            show = named or across.first
        episode = show.index.episode(episode_id)
        return Found(show, episode) if episode is not None else None

    @episode.autocomplete("query")
    async def episode_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            across = self.across
            found = across.search_episodes(
                current[:MAX_QUERY],
                self.bot.clock(),
                limit=MAX_CHOICES,
                series=across.pick_series(_typed_series(interaction)),
            )
            return [
                app_commands.Choice(
                    name=autocomplete_name(f.item, _series_name(across, f)),
                    value=across.choice_value(f),
                )
                for f in found[:MAX_CHOICES]
            ]
        except Exception:
            # discord.py only logs a failing autocomplete and leaves it unanswered; an empty
            # list answers it, and the member can still type a code.
            _log_failure(interaction, "episode autocomplete")
            return []

    async def _image(
        self, episode: Episode, view: Settings
    ) -> tuple[discord.File | None, str | None]:
        """A URL is used as is; a file in the series' content folder is attached."""
        image = episode.image
        if not image:
            return None, None
        if image.startswith(("https://", "http://")):
            return None, image
        # Resolving, checking and reading the file all touch the disk: off the event loop.
        found = await asyncio.to_thread(self._read_local_image, episode, image, view)
        if found is None:
            return None, None
        path, data = found
        name = "episode" + path.suffix.lower()
        file = discord.File(io.BytesIO(data), filename=name)
        return file, f"attachment://{name}"

    def _read_local_image(
        self, episode: Episode, image: str, view: Settings
    ) -> tuple[Path, bytes] | None:
        """The image file inside the content folder, or None (outside it, too big, unreadable)."""
        try:
            root = view.content.path.resolve()
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
        series=SERIES_OPTION,
        private="Only you see the answer.",
    )
    @everywhere
    async def recap(
        self,
        interaction: discord.Interaction,
        query: str | None = None,
        series: str | None = None,
        private: bool = False,
    ) -> None:
        """Show a written recap of an episode: summary, key takeaway, authors, link."""
        now = self.bot.clock()
        across = self.across
        ok, show = await self._pick_series(interaction, across, series)
        if not ok:
            return
        if query and query.strip():
            found = across.resolve_recap(query, now, series=show)
            if found is None:
                await self._not_found(interaction, across, "recap", query, show)
                return
        else:
            found = across.latest_recap(now, series=show)
            if found is None:
                await reply(interaction, nothing_yet_reply("recap"), ephemeral=True)
                return
        recap, view, index = found.item, found.show.settings, found.show.index
        episode = index.episode_for_recap(recap)
        payload = recap_reply(
            recap,
            episode=episode,
            authors=index.authors,
            recap_url=recap_url_for(recap, view),
            settings=view,
            ama_record=index.ama_record(episode.id) if episode is not None else None,
        )
        # The recap's card given as a repository path goes with the answer as a file (read
        # off the event loop, as /episode's image).
        payload, uploads = await asyncio.to_thread(uploads_of, payload, view.content.path)
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
            across = self.across
            found = across.search_recaps(
                current[:MAX_QUERY],
                self.bot.clock(),
                limit=MAX_CHOICES,
                series=across.pick_series(_typed_series(interaction)),
            )
            return [
                app_commands.Choice(
                    name=recap_autocomplete_name(
                        f.item, f.show.index.episode_for_recap(f.item), _series_name(across, f)
                    ),
                    value=across.choice_value(f),
                )
                for f in found[:MAX_CHOICES]
            ]
        except Exception:
            _log_failure(interaction, "recap autocomplete")
            return []

    # -- /schedule -------------------------------------------------------------------------

    @app_commands.command(name="schedule")
    @app_commands.describe(
        season="Only this season.",
        count="How many livestreams and AMAs to list per series (1-10, default 5).",
        series=SERIES_OPTION,
        private="Only you see the answer.",
    )
    @everywhere
    async def schedule(
        self,
        interaction: discord.Interaction,
        season: app_commands.Range[int, 1, 999] | None = None,
        count: app_commands.Range[int, 1, MAX_SCHEDULE] = 5,
        series: str | None = None,
        private: bool = False,
    ) -> None:
        """List the next livestreams and AMAs of every series, in your time zone."""
        now = self.bot.clock()
        across = self.across
        ok, show = await self._pick_series(interaction, across, series)
        if not ok:
            return
        count = min(max(count, 1), MAX_SCHEDULE)  # Discord enforces the range; be sure anyway
        groups = across.upcoming_events(now, season=season, limit=count, series=show)
        if len(groups) == 1:
            [(one, items)] = groups
            payload = schedule_reply(items, now=now, settings=one.settings, season=season)
        else:
            payload = schedule_by_series_reply(
                [(s.name, items) for s, items in groups], now=now, season=season
            )
        await reply(interaction, payload, ephemeral=private)

    # -- the series option -----------------------------------------------------------------

    @episode.autocomplete("series")
    @recap.autocomplete("series")
    @schedule.autocomplete("series")
    async def series_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            return [
                app_commands.Choice(name=name[:CHOICE_NAME_MAX], value=series_id)
                for name, series_id in self.across.series_choices(current[:100], MAX_CHOICES)
            ]
        except Exception:
            _log_failure(interaction, "series autocomplete")
            return []

    # -- shared ----------------------------------------------------------------------------

    async def _not_found(
        self,
        interaction: discord.Interaction,
        across: Across,
        kind: Literal["episode", "recap"],
        query: str,
        show: Show | None,
    ) -> None:
        suggestions = across.did_you_mean(
            query[:MAX_QUERY], self.bot.clock(), kind=kind, limit=3, series=show
        )
        names = [
            autocomplete_name(s.item, _series_name(across, s))
            if isinstance(s.item, Episode)
            else recap_autocomplete_name(
                s.item, s.show.index.episode_for_recap(s.item), _series_name(across, s)
            )
            for s in suggestions[:3]
        ]
        await reply(interaction, not_found_reply(kind, query[:100], names), ephemeral=True)


def _series_name(across: Across, found: Found[Episode] | Found[Recap]) -> str | None:
    """The series' name to show in a choice: with several series only (one series' choices
    keep their 100 characters for the episode)."""
    return found.show.name if across.several else None


def _typed_series(interaction: discord.Interaction) -> str | None:
    """The `series` option as filled in so far, while another option is autocompleted."""
    value = getattr(interaction.namespace, "series", None)
    return value if isinstance(value, str) else None


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
