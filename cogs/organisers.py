"""Organisers schedule, preview, list, cancel and skip announcements: /announce ...

Every command and every button click is checked by bot/discord/organisers.py (who counts as
an organiser, decided on the bot's side each time).

Buttons carry `amabot:` custom ids routed by cogs/buttons.py (this cog registers confirm,
discard and list), so they keep working across restarts. The workflow itself (drafts kept
until confirmed, cancelled or expired; cancel; skip) is bot/services/announcements.py over
bot/plan/announcements.py: this cog checks the organiser and the channel, calls, renders
and replies.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.content.across import Across, find_series, series_choices
from bot.content.lookup import MAX_QUERY, named_episode
from bot.discord.app import AmaBot, ButtonHandler, UserFacingError, in_time
from bot.discord.organisers import organiser_refusal, require_organiser
from bot.discord.replies import edit_clicked, reply, reply_ephemeral
from bot.discord.sender import payload_kwargs
from bot.plan.announcements import (
    MAX_PAGE,
    AnnouncementError,
    check_message,
    due_time,
    is_draft_id,
)
from bot.plan.kinds import scoped_id
from bot.plan.permissions import POST_BITS, names
from bot.render.components import draft_buttons
from bot.render.messages import (
    announcement_preview,
    autocomplete_name,
    organiser_announcement,
    pending_list,
    when_line,
)
from bot.services.announcements import Announcements

BUTTON_ACTIONS = ("confirm", "discard", "list")


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
        return require_organiser(interaction)

    @app_commands.command(name="create")
    @app_commands.describe(
        message="The text to post (up to 2000 characters). Mentions in it never ping anyone.",
        when="Series time zone: `tomorrow 09:00`, `in 2h`, `friday 10:30`, `2026-12-01 09:00`.",
        channel="Where to post (default: the series' announcements channel).",
        role="A role to ping (default: nobody).",
        series="Whose announcement: its channel and time zone (default: the first series).",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        message: str,
        when: str,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
        series: str | None = None,
    ) -> None:
        """Schedule an announcement: shows you a preview to confirm before anything is saved."""
        await self.cog.create_preview(interaction, message, when, channel, role, series)

    @create.autocomplete("series")
    async def create_series_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if organiser_refusal(interaction) is not None:
            return []
        named = [(v.series.id, v.series.name) for v in self.cog.bot.settings.shows()]
        return [
            app_commands.Choice(name=name[:100], value=series_id)
            for name, series_id in series_choices(named, current[:100])
        ]

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
        episode="The episode (code or title; with several series, pick it from the list).",
        event="Which event's reminders to skip.",
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
        across = self.cog.across
        found = across.search_episodes(current[:MAX_QUERY], self.cog.bot.clock(), limit=25)
        return [
            app_commands.Choice(
                name=autocomplete_name(f.item, f.show.name if across.several else None),
                value=across.choice_value(f),
            )
            for f in found
        ]


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
        self.announcements = Announcements(self.bot.db, self.bot.clock, self.bot.posting.wakeups)
        for action in BUTTON_ACTIONS:
            self.bot.register_button(action, self._button_handler(action))

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name, guild=self._guild)
        for action in BUTTON_ACTIONS:
            self.bot.unregister_button(action)

    def _button_handler(self, action: str) -> ButtonHandler:
        async def handle(interaction: discord.Interaction, arg: str) -> None:
            await self.on_button(interaction, f"{action}:{arg}")

        return handle

    # -- create: preview, then confirm -----------------------------------------------------

    async def create_preview(
        self,
        interaction: discord.Interaction,
        message: str,
        when: str,
        channel: discord.TextChannel | None,
        role: discord.Role | None,
        series: str | None = None,
    ) -> None:
        settings = self._series(series)
        role_id = role.id if role is not None else 0
        try:
            check_message(message, role_id)
            due = due_time(when, now=self.bot.clock(), tz=settings.series.timezone)
        except AnnouncementError as exc:
            raise UserFacingError(str(exc)) from exc
        target = channel or (
            interaction.guild.get_channel(settings.announcements.channel_id)
            if interaction.guild
            else None
        )
        if target is None:
            whose = f" for {settings.series.name}" if len(self.bot.settings.shows()) > 1 else ""
            raise UserFacingError(f"Pick a channel: no announcements channel is configured{whose}.")
        problem = _cannot_post(target)
        if problem:
            raise UserFacingError(problem)
        payload = organiser_announcement(message, role_id=role_id)
        draft_id, _ = await in_time(
            interaction,
            self.announcements.save_draft(
                author=interaction.user.id,
                channel_id=target.id,
                role_id=role_id,
                due_at=due,
                payload=payload,
                # With several series the note is that series' (its row says so); one
                # series' notes stay as they were.
                series=settings.series.id if len(self.bot.settings.shows()) > 1 else "",
            ),
        )
        preview = announcement_preview(payload, due_at=due, channel_id=target.id, role_id=role_id)
        preview["components"] = draft_buttons(draft_id)
        await reply(interaction, preview)

    def _series(self, series: str | None) -> Settings:
        """The series an organiser named (its id, from the choices, or its name), by default
        the first; an unknown name is their mistake, told privately."""
        shows = self.bot.settings.shows()
        if not series or not series.strip():
            return shows[0]
        n = find_series([(v.series.id, v.series.name) for v in shows], series)
        if n is None:
            known = ", ".join(v.series.name for v in shows)
            raise UserFacingError(f"I don't know a series {series[:100]!r}. The series: {known}.")
        return shows[n]

    async def on_button(self, interaction: discord.Interaction, rest: str) -> None:
        action, _, arg = rest.partition(":")
        if action not in BUTTON_ACTIONS:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        # Every click is checked again: a preview or a list may have been forwarded, or the
        # clicker may have lost the role since.
        refusal = organiser_refusal(interaction)
        if refusal is not None:
            await reply_ephemeral(interaction, refusal)
            return
        if action == "list":
            if not arg.isdigit() or not 1 <= int(arg) <= MAX_PAGE:
                await reply_ephemeral(interaction, "This button is no longer active.")
                return
            kwargs = payload_kwargs(await in_time(interaction, self._list_payload(int(arg))))
            kwargs.setdefault("view", None)  # a list that shrank to one page loses its buttons
            await edit_clicked(interaction, **kwargs)
            return
        if not is_draft_id(arg):
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        who = interaction.user.id
        try:
            if action == "confirm":
                draft = await in_time(interaction, self.announcements.confirm(arg, who))
                when = when_line(draft.due_at)
                text = f"Scheduled `{draft.key}` for {when} in <#{draft.channel_id}>."
            else:
                await in_time(interaction, self.announcements.discard(arg, who))
                text = "Cancelled; nothing was scheduled."
        except AnnouncementError as exc:
            await reply_ephemeral(interaction, str(exc))
            return
        await edit_clicked(
            interaction,
            content=text,
            embeds=[],
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    # -- list, cancel, skip ----------------------------------------------------------------

    async def list_pending(self, interaction: discord.Interaction, page: int) -> None:
        await reply(interaction, await in_time(interaction, self._list_payload(page)))

    async def _list_payload(self, page: int) -> dict[str, Any]:
        found = await self.announcements.pending_page(page)
        return pending_list(found.posts, page=found.page, pages=found.pages, total=found.total)

    async def pending_key_choices(self, current: str) -> list[app_commands.Choice[str]]:
        keys = await self.announcements.pending_keys(current)
        return [app_commands.Choice(name=k[:100], value=k[:100]) for k in keys]

    async def cancel_post(self, interaction: discord.Interaction, key: str) -> None:
        key = key.strip()[:200]
        try:
            await self.announcements.cancel(key, interaction.user.id)
        except AnnouncementError as exc:
            raise UserFacingError(str(exc)) from exc
        await reply_ephemeral(interaction, f"Cancelled `{key}`.")

    @property
    def across(self) -> Across:
        return Across.serving(self.bot.settings, self.bot.lineup, self.bot.index)

    async def skip_event(self, interaction: discord.Interaction, query: str, event: str) -> None:
        across = self.across
        named, rest = across.split_value(query)
        found = [
            (show, e)
            for show in ([named] if named else across.shows)
            if (e := named_episode(show.index, rest)) is not None
        ]
        if not found:
            raise UserFacingError(
                f"I don't know an episode {query[:100]!r}. Pick one from the list."
            )
        if len(found) > 1:
            raise UserFacingError(
                f"{query[:100]!r} is an episode of several series "
                f"({', '.join(show.name for show, _e in found)}). Pick one from the list."
            )
        [(show, episode)] = found
        view = show.settings
        # Reminder keys carry the episode's id as its series scopes it (bare for the home
        # series, `<series>/<id>` for the others).
        keyed = replace(episode, id=scoped_id(view, episode.id))
        try:
            cancelled = await self.announcements.skip(
                keyed, event, interaction.user.id, view.reminders.offsets
            )
        except AnnouncementError as exc:
            raise UserFacingError(str(exc)) from exc
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
    # The same list as the invite and the doctor: Read Message History included, without
    # which the look for an already-sent post finds nothing and a post could go out twice.
    have = channel.permissions_for(me).value
    missing = [bit for bit in POST_BITS if not have & bit]
    if missing:
        wanted = ", ".join(names(sum(missing)))
        return f"I can't post in <#{channel.id}>: I need {wanted} there."
    return None


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Organisers(bot))
