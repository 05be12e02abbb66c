"""One router for every `amabot:` button, whichever cog owns it.

Buttons carry custom ids ``amabot:<action>[:<arg>]``; cogs register their actions with
`AmaBot.register_button` (organisers: confirm/discard/list; members: ics; notify: remindme,
notify, optout). A dynamic item matches every such id, so buttons keep working across
restarts (no view has to be re-added), and every click gets an answer: an unknown action, a
forged id or an id the template cannot parse is told "This button is no longer active",
and a handler that fails is answered with a reference the member can quote.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any, Self

import discord
from discord.ext import commands

from bot.discord.app import AmaBot, ButtonHandler
from bot.discord.replies import reply_ephemeral
from bot.render.components import ROUTER_REST_MAX

log = logging.getLogger("amabot.cogs.buttons")

ROUTER_TEMPLATE = rf"amabot:(?P<rest>.{{0,{ROUTER_REST_MAX}}})"
_ROUTED = re.compile(ROUTER_TEMPLATE)
INACTIVE = "This button is no longer active."


class ButtonRouter(discord.ui.DynamicItem[discord.ui.Button], template=ROUTER_TEMPLATE):
    """Every `amabot:` button, now or after a restart; unknown or forged ids get an answer."""

    def __init__(self, rest: str):
        super().__init__(discord.ui.Button(label="…", custom_id=f"amabot:{rest}"))
        self.rest = rest

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls(match["rest"])

    async def callback(self, interaction: discord.Interaction) -> None:
        action, _, arg = self.rest.partition(":")
        handlers: Mapping[str, ButtonHandler] = getattr(interaction.client, "button_handlers", {})
        handler = handlers.get(action)
        if handler is None:
            await reply_ephemeral(interaction, INACTIVE)
            return
        try:
            await handler(interaction, arg)
        except Exception:
            # discord.py would only log it and leave the member looking at a spinner.
            reference = secrets.token_hex(4)
            log.exception(
                "error %s in button %s (user %s)",
                reference,
                self.rest[:40],
                interaction.user.id if interaction.user else "?",
            )
            await reply_ephemeral(
                interaction,
                "Something went wrong on my side. "
                f"If you tell an organiser, quote reference `{reference}`.",
            )


class Buttons(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ButtonRouter)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ButtonRouter)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer clicks on buttons that are not ours (forged or from an old version)."""
        if interaction.type is not discord.InteractionType.component:
            return
        data = interaction.data
        custom_id = str(data.get("custom_id", "")) if data else ""
        if _ROUTED.fullmatch(custom_id):
            return  # ButtonRouter answers it; anything else (forged, too long) is answered here
        await reply_ephemeral(interaction, INACTIVE)


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Buttons(bot))
