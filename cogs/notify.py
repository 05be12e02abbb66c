"""Each member chooses how to be reminded: /notify, the "Remind me" chooser, "Stop these".

A reminder *stream* is what a member chooses reminders for: livestreams, AMAs or recaps
("series" is the show). Thin: choices are stored through `bot.store.optin` and the DM
reminders they imply are planned by bot/plan/optin.py and delivered through the outbox
like every other post. A role choice gives the member the stream's self-assigned role
(`[optin] <stream>_role_id`), which the reminders ping when the operator names the same
role in `[reminders]`.

Buttons (routed by cogs/buttons.py):
- ``amabot:remindme`` (on /episode): which stream? -> ``amabot:remindme:<stream>``;
- ``amabot:remindme:<stream>`` (on each reminder): the chooser for that stream;
- ``amabot:notify:<stream>:<role|off|dm|dm:24h|dm:1h|dm:10m>``: one choice, applied (recaps
  offer ``dm``, "DM me each new recap": a recap has no start to be early for);
- ``amabot:optout:<stream>`` ("Stop these", on every DM): that stream off.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

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
    )
    @app_commands.choices(stream=STREAM_CHOICES, how=HOW_CHOICES)
    async def set_(
        self,
        interaction: discord.Interaction,
        stream: app_commands.Choice[str],
        how: app_commands.Choice[str],
    ) -> None:
        """Choose how you are reminded of livestreams, AMAs or recaps (only you see this)."""
        await defer_private(interaction)
        text = await self.cog.apply_choice(interaction, stream.value, how.value)
        await reply_ephemeral(interaction, text)

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

    # -- choices -----------------------------------------------------------------------------

    async def apply_choice(self, interaction: discord.Interaction, stream: str, how: str) -> str:
        """Record a member's choice for a stream and act on it; the answer to show them."""
        if stream not in STREAMS:
            raise UserFacingError("Those are not reminders I know; pick one from the list.")
        try:
            mode, lead = parse_how(how)
        except ValueError as exc:
            raise UserFacingError("That is not a choice I know; pick one from the list.") from exc
        member = interaction.user.id
        name = STREAM_NAMES[stream]
        role = stream_role(self.bot.settings, stream)
        previous = await self.store.optin.pref(member, stream)
        if mode is Mode.ROLE:
            if not role:
                raise UserFacingError(
                    f"There is no role for {name} on this server; choose a DM or `off`."
                )
            await self._set_role(interaction, role, add=True)
        elif previous is not None and previous.mode is Mode.ROLE and role:
            await self._set_role(interaction, role, add=False)
        now = self.bot.clock()
        await self.store.optin.set_pref(member, stream, mode, lead, now)
        await self.store.audit.record("notify.set", f"{stream}:{how}", member, "", now)
        await self._replan(stream)
        log.info("member %s chose %s for %s", member, how, stream)
        word = STREAM_WORDS[stream]
        if mode is Mode.ROLE:
            text = f"Done: you have the {role_mention(role)} role, pinged for each {word}."
        elif mode is Mode.DM and stream == "recaps":
            text = "Done: I will DM you each new recap when it is announced."
        elif mode is Mode.DM:
            text = f"Done: I will DM you {lead_name(lead)} before each {word}."
        else:
            text = f"Done: no reminders for {STREAM_PLURALS[stream]}."
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

    def chooser(self, stream: str, current: str) -> dict[str, Any]:
        buttons = []
        if stream_role(self.bot.settings, stream):
            buttons.append(_button("Ping my role", f"amabot:notify:{stream}:role"))
        if stream in EVENT_KINDS:
            for label, lead in LEADS.items():
                buttons.append(
                    _button(
                        f"DM {label} before", f"amabot:notify:{stream}:dm:{duration_label(lead)}"
                    )
                )
        else:
            buttons.append(_button("DM me each new recap", f"amabot:notify:{stream}:dm"))
        buttons.append(_button("Off", f"amabot:notify:{stream}:off", style=4))
        return {
            "content": f"How should I remind you of **{STREAM_PLURALS[stream]}**? Now: {current}.",
            "components": [{"type": 1, "components": buttons}],
            "allowed_mentions": allowed_mentions(0),
        }

    async def _current(self, member: int, stream: str) -> str:
        pref = await self.store.optin.pref(member, stream)
        if pref is None or pref.mode is Mode.OFF:
            return "off"
        if pref.mode is Mode.ROLE:
            return "the role"
        if stream == "recaps":
            return "a DM for each new recap"
        return f"a DM {lead_name(pref.lead)} before"

    async def on_remind_me(self, interaction: discord.Interaction, arg: str) -> None:
        if not arg:
            payload = {
                "content": "Which reminders would you like?",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            _button(STREAM_NAMES[s], f"amabot:remindme:{s}", style=1)
                            for s in STREAMS
                        ],
                    }
                ],
                "allowed_mentions": allowed_mentions(0),
            }
            await reply(interaction, payload)
            return
        if arg not in STREAMS:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        # The stream question answered: the same ephemeral message becomes the chooser.
        in_place = await defer_private(interaction)
        payload = self.chooser(arg, await self._current(interaction.user.id, arg))
        await finish(interaction, in_place, **payload_kwargs(payload))

    async def on_notify(self, interaction: discord.Interaction, arg: str) -> None:
        stream, _, how = arg.partition(":")
        if stream not in STREAMS or not how:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        try:
            parse_how(how)
        except ValueError:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        in_place = await defer_private(interaction)
        try:
            text = await self.apply_choice(interaction, stream, how)
        except UserFacingError as exc:
            text = str(exc)
        await finish(interaction, in_place, content=text, view=None)

    async def on_optout(self, interaction: discord.Interaction, arg: str) -> None:
        """ "Stop these": one click, no questions; `/notify` turns them back on."""
        if arg not in STREAMS:
            await reply_ephemeral(interaction, "This button is no longer active.")
            return
        await defer_private(interaction)
        member = interaction.user.id
        previous = await self.store.optin.pref(member, arg)
        await self.store.optin.opt_out(member, arg, self.bot.clock())
        role = stream_role(self.bot.settings, arg)
        if previous is not None and previous.mode is Mode.ROLE and role:
            with contextlib.suppress(UserFacingError):
                await self._set_role(interaction, role, add=False)
        await self._replan(arg)
        log.info("member %s stopped %s reminders", member, arg)
        await reply_ephemeral(
            interaction,
            f"Stopped: no more reminders of {STREAM_PLURALS[arg]} for you. "
            "`/notify set` turns them back on.",
        )


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Notify(bot))
