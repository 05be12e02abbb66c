"""Each member chooses how to be reminded: /notify, the "Remind me" chooser, "Stop these".

A reminder *stream* is what a member chooses reminders for: livestreams, AMAs or recaps
("series" is the show). Thin: choices are stored through `bot.store.optin` and the DM
reminders they imply are planned by bot/plan/optin.py and delivered through the outbox
like every other post. A role choice gives the member the stream's self-assigned role
(`[optin] <stream>_role_id`), which the reminders ping when the operator names the same
role in `[reminders]`.

Choices are per series and stream: `/notify set` takes a `series` (default: the first), and
every button names its series after its stream, ``<stream>@<series>``; a button without one
(the home series' buttons, and every button posted before several series existed) means the
home series (the one owning the bare key namespace, `SeriesSettings.key_prefix` "").

Buttons (routed by cogs/buttons.py):
- ``amabot:remindme[:@<series>]`` (on /episode): which stream? -> ``amabot:remindme:<stream>``;
- ``amabot:remindme:<stream>[@<series>]`` (on each reminder): the chooser for that stream;
- ``amabot:notify:<stream>[@<series>]:<role|off|dm|dm:24h|dm:1h|dm:10m>``: one choice,
  applied (recaps offer ``dm``, "DM me each new recap": a recap has no start to be early for);
- ``amabot:optout:<stream>[@<series>]`` ("Stop these", on every DM): that stream off.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.content.across import find_series, series_choices
from bot.content.models import EVENT_KINDS
from bot.discord.app import AmaBot, UserFacingError
from bot.discord.replies import defer_private, finish, reply, reply_ephemeral
from bot.discord.sender import payload_kwargs
from bot.durations import duration_label
from bot.plan.optin import (
    DEFAULT_LEAD,
    LEADS,
    STREAM_NAMES,
    STREAMS,
    Mode,
    lead_name,
    notify_status_text,
    parse_lead,
    stream_role,
)
from bot.render.components import split_series, with_series
from bot.render.limits import allowed_mentions, role_mention
from bot.store import Store

log = logging.getLogger("amabot.cogs.notify")

STREAM_CHOICES = [
    app_commands.Choice(name="livestreams", value="livestream"),
    app_commands.Choice(name="amas", value="ama"),
    app_commands.Choice(name="recaps", value="recaps"),
]
HOW_CHOICES = [
    app_commands.Choice(name="role", value="role"),
    *(
        app_commands.Choice(name=f"dm {name}", value=f"dm:{duration_label(lead)}")
        for name, lead in LEADS.items()
    ),
    app_commands.Choice(name="dm each new recap", value="dm"),
    app_commands.Choice(name="off", value="off"),
]
STREAM_WORDS = {"livestream": "livestream", "ama": "AMA", "recaps": "recap"}
STREAM_PLURALS = {"livestream": "livestreams", "ama": "AMAs", "recaps": "recaps"}


def parse_how(how: str) -> tuple[Mode, timedelta]:
    """``role`` / ``off`` / ``dm`` / ``dm:1h`` -> (mode, lead). ValueError for anything else.
    A bare ``dm`` (for recaps) keeps the default lead, which only events use."""
    if how == "role":
        return Mode.ROLE, DEFAULT_LEAD
    if how == "off":
        return Mode.OFF, DEFAULT_LEAD
    if how == "dm":
        return Mode.DM, DEFAULT_LEAD
    kind, _, label = how.partition(":")
    if kind != "dm" or not label:
        raise ValueError(f"not a reminder choice: {how!r}")
    return Mode.DM, parse_lead(label)


def _button(label: str, custom_id: str, *, style: int = 2) -> dict[str, Any]:
    return {"type": 2, "style": style, "label": label, "custom_id": custom_id}


@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class NotifyGroup(app_commands.Group, name="notify", description="Choose how I remind you."):
    def __init__(self, cog: Notify):
        super().__init__()
        self.cog = cog

    @app_commands.command(name="set")
    @app_commands.describe(
        stream="Which reminders: livestreams, AMAs or recaps.",
        how="A role that gets pinged, a DM (before it starts; recaps: each new one), or nothing.",
        series="Which show's reminders (default: the first).",
    )
    @app_commands.choices(stream=STREAM_CHOICES, how=HOW_CHOICES)
    async def set_(
        self,
        interaction: discord.Interaction,
        stream: app_commands.Choice[str],
        how: app_commands.Choice[str],
        series: str | None = None,
    ) -> None:
        """Choose how you are reminded of livestreams, AMAs or recaps (only you see this)."""
        await defer_private(interaction)
        view = self.cog.series_named(series)
        text = await self.cog.apply_choice(interaction, stream.value, how.value, view)
        await reply_ephemeral(interaction, text)

    @set_.autocomplete("series")
    async def set_series_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        named = [(v.series.id, v.series.name) for v in self.cog.bot.settings.shows()]
        return [
            app_commands.Choice(name=name[:100], value=series_id)
            for name, series_id in series_choices(named, current[:100])
        ]

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show how you are reminded of livestreams, AMAs and recaps (only you see this)."""
        await defer_private(interaction)
        await reply_ephemeral(interaction, await self.cog.status_text(interaction.user.id))


class Notify(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot
        self.group = NotifyGroup(self)
        bot.tree.add_command(self.group)

    async def cog_load(self) -> None:
        self.bot.register_button("remindme", self.on_remind_me)
        self.bot.register_button("notify", self.on_notify)
        self.bot.register_button("optout", self.on_optout)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)
        for action in ("remindme", "notify", "optout"):
            self.bot.unregister_button(action)

    @property
    def store(self) -> Store:
        return self.bot.db

    # -- series ------------------------------------------------------------------------------

    @property
    def several(self) -> bool:
        return len(self.bot.settings.shows()) > 1

    def home(self) -> Settings:
        """The home series: the one owning the bare key namespace (the first, in a new
        database); what a button naming no series means."""
        shows = self.bot.settings.shows()
        return next((v for v in shows if not v.series.key_prefix), shows[0])

    def series_named(self, series: str | None) -> Settings:
        """`/notify set`'s series: by id (a choice) or name; none given, the first."""
        shows = self.bot.settings.shows()
        if not series or not series.strip():
            return shows[0]
        n = find_series([(v.series.id, v.series.name) for v in shows], series)
        if n is None:
            known = ", ".join(v.series.name for v in shows)
            raise UserFacingError(f"I don't know a series {series[:100]!r}. The series: {known}.")
        return shows[n]

    def series_of_button(self, series: str) -> Settings | None:
        """A button's series: its id, or "" for the home series; None: no longer configured."""
        if not series:
            return self.home()
        try:
            return self.bot.settings.show(series)
        except KeyError:
            return None

    def _stored(self, view: Settings) -> str | None:
        """The store's name for a series' choices: None for the home series (as before there
        were several), else its id."""
        return view.series.id if view.series.key_prefix else None

    def _tag(self, view: Settings) -> str:
        """What a button carries for its series (`with_series`): nothing for the home one."""
        return view.series.id if view.series.key_prefix else ""

    def _whose(self, view: Settings) -> str:
        return f" ({view.series.name})" if self.several else ""

    # -- choices -----------------------------------------------------------------------------

    async def apply_choice(
        self,
        interaction: discord.Interaction,
        stream: str,
        how: str,
        view: Settings | None = None,
    ) -> str:
        """Record a member's choice for a series' stream and act on it; the answer to show."""
        view = view or self.home()
        series = self._stored(view)
        if stream not in STREAMS:
            raise UserFacingError("Those are not reminders I know; pick one from the list.")
        try:
            mode, lead = parse_how(how)
        except ValueError as exc:
            raise UserFacingError("That is not a choice I know; pick one from the list.") from exc
        member = interaction.user.id
        name = STREAM_NAMES[stream]
        role = stream_role(view, stream)
        previous = await self.store.optin.pref(member, stream, series=series)
        if mode is Mode.ROLE:
            if not role:
                raise UserFacingError(
                    f"There is no role for {name} on this server; choose a DM or `off`."
                )
            await self._set_role(interaction, role, add=True)
        elif previous is not None and previous.mode is Mode.ROLE and role:
            await self._set_role(interaction, role, add=False)
        now = self.bot.clock()
        await self.store.optin.set_pref(member, stream, mode, lead, now, series=series)
        target = with_series(stream, view.series.id if self.several else "")
        await self.store.audit.record("notify.set", f"{target}:{how}", member, "", now)
        await self._replan(stream)
        log.info("member %s chose %s for %s", member, how, target)
        word = STREAM_WORDS[stream]
        if mode is Mode.ROLE:
            text = f"Done: you have the {role_mention(role)} role, pinged for each {word}."
        elif mode is Mode.DM and stream == "recaps":
            text = "Done: I will DM you each new recap when it is announced."
        elif mode is Mode.DM:
            text = f"Done: I will DM you {lead_name(lead)} before each {word}."
        else:
            text = f"Done: no reminders for {STREAM_PLURALS[stream]}."
        if self.several:
            text = text.replace("Done:", f"Done ({view.series.name}):", 1)
        return text + " `/notify status` shows all your choices."

    async def _set_role(self, interaction: discord.Interaction, role_id: int, *, add: bool) -> None:
        guild_id = self.bot.settings.discord.guild_id or interaction.guild_id
        if not guild_id:
            raise UserFacingError("Role reminders work in the community's server; try it there.")
        member = interaction.user.id
        reason = "amabot: the member chose this reminder role"
        try:
            if add:
                await self.bot.http.add_role(guild_id, member, role_id, reason=reason)
            else:
                await self.bot.http.remove_role(guild_id, member, role_id, reason=reason)
        except discord.Forbidden as exc:
            log.error("cannot %s role %s: %s", "give" if add else "take", role_id, exc)
            if not add:
                return  # the choice still counts; the role stays until an organiser removes it
            raise UserFacingError(
                "I couldn't give you the role: I need the Manage Roles permission and a role "
                "above it. Please tell an organiser; meanwhile a DM works."
            ) from exc
        except discord.NotFound as exc:
            if not add:
                return
            raise UserFacingError(
                "I couldn't give you the role: are you a member of the community's server?"
            ) from exc

    async def _replan(self, stream: str) -> None:
        if stream in STREAMS:
            await self.bot.posting.reconcile_dms()

    async def status_text(self, member: int) -> str:
        prefs = await self.store.optin.prefs_of(member)
        closed = await self.store.optin.is_dm_closed(member)
        return notify_status_text(prefs, self.bot.settings, dm_closed=closed)

    # -- buttons -----------------------------------------------------------------------------

    def chooser(self, stream: str, current: str, view: Settings | None = None) -> dict[str, Any]:
        view = view or self.home()
        target = with_series(stream, self._tag(view))
        buttons = []
        if stream_role(view, stream):
            buttons.append(_button("Ping my role", f"amabot:notify:{target}:role"))
        if stream in EVENT_KINDS:
            for label, lead in LEADS.items():
                buttons.append(
                    _button(
                        f"DM {label} before", f"amabot:notify:{target}:dm:{duration_label(lead)}"
                    )
                )
        else:
            buttons.append(_button("DM me each new recap", f"amabot:notify:{target}:dm"))
        buttons.append(_button("Off", f"amabot:notify:{target}:off", style=4))
        whose = f" of {view.series.name}" if self.several else ""
        return {
            "content": f"How should I remind you of **{STREAM_PLURALS[stream]}**{whose}? "
            f"Now: {current}.",
            "components": [{"type": 1, "components": buttons}],
            "allowed_mentions": allowed_mentions(0),
        }

    async def _current(self, member: int, stream: str, view: Settings) -> str:
        pref = await self.store.optin.pref(member, stream, series=self._stored(view))
        if pref is None or pref.mode is Mode.OFF:
            return "off"
        if pref.mode is Mode.ROLE:
            return "the role"
        if stream == "recaps":
            return "a DM for each new recap"
        return f"a DM {lead_name(pref.lead)} before"

    async def on_remind_me(self, interaction: discord.Interaction, arg: str) -> None:
        stream, series = split_series(arg)
        view = self.series_of_button(series)
        if view is None:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        if not stream:
            whose = f" of {view.series.name}" if self.several else ""
            payload = {
                "content": f"Which reminders{whose} would you like?",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            _button(
                                STREAM_NAMES[s],
                                f"amabot:remindme:{with_series(s, self._tag(view))}",
                                style=1,
                            )
                            for s in STREAMS
                        ],
                    }
                ],
                "allowed_mentions": allowed_mentions(0),
            }
            await reply(interaction, payload)
            return
        if stream not in STREAMS:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        # The stream question answered: the same ephemeral message becomes the chooser.
        in_place = await defer_private(interaction)
        current = await self._current(interaction.user.id, stream, view)
        payload = self.chooser(stream, current, view)
        await finish(interaction, in_place, **payload_kwargs(payload))

    async def on_notify(self, interaction: discord.Interaction, arg: str) -> None:
        target, _, how = arg.partition(":")
        stream, series = split_series(target)
        view = self.series_of_button(series)
        if stream not in STREAMS or not how or view is None:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        try:
            parse_how(how)
        except ValueError:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        in_place = await defer_private(interaction)
        try:
            text = await self.apply_choice(interaction, stream, how, view)
        except UserFacingError as exc:
            text = str(exc)
        await finish(interaction, in_place, content=text, view=None)

    async def on_optout(self, interaction: discord.Interaction, arg: str) -> None:
        """ "Stop these": one click, no questions; `/notify` turns them back on."""
        stream, series = split_series(arg)
        view = self.series_of_button(series)
        if stream not in STREAMS or view is None:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        await defer_private(interaction)
        member = interaction.user.id
        stored = self._stored(view)
        previous = await self.store.optin.pref(member, stream, series=stored)
        await self.store.optin.opt_out(member, stream, self.bot.clock(), series=stored)
        role = stream_role(view, stream)
        if previous is not None and previous.mode is Mode.ROLE and role:
            with contextlib.suppress(UserFacingError):
                await self._set_role(interaction, role, add=False)
        await self._replan(stream)
        log.info("member %s stopped %s reminders", member, with_series(stream, series))
        await reply_ephemeral(
            interaction,
            f"Stopped: no more reminders of {STREAM_PLURALS[stream]}{self._whose(view)} for "
            "you. `/notify set` turns them back on.",
        )


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Notify(bot))
