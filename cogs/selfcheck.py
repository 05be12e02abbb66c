"""The self-check while running: `amabot doctor`'s checks at every READY and whenever the
server, a channel or a role changes (bot/services/selfcheck.py does the work; this cog only
listens and wires it to Discord, the alerts channel, /healthz and the refused posts)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord.ext import commands

from bot.discord.app import AmaBot
from bot.discord.inspect import read_facts
from bot.plan.doctor import DiscordFacts, Finding
from bot.plan.posts import nonce_for
from bot.services.selfcheck import SelfCheck, problem_alert

log = logging.getLogger("amabot.cogs.selfcheck")


class SelfCheckCog(commands.Cog, name="SelfCheck"):
    def __init__(self, bot: AmaBot):
        self.bot = bot
        self.check = SelfCheck(
            settings=bot.settings,
            state=bot.db.state,
            read_facts=self._read,
            alert=self._alert,
            on_problems=self._on_problems,
            on_channels_ok=self._channels_ok,
            environ=bot.environ,
        )
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="amabot-selfcheck")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            await self.check.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the self-check loop died; set-up problems are not watched")

    # -- wiring ------------------------------------------------------------------------------

    def _posting(self) -> Any:
        """The posting service, or None while it is not running."""
        try:
            return self.bot.posting
        except RuntimeError:
            return None

    async def _read(self) -> DiscordFacts:
        if self.bot.user is None:
            raise RuntimeError("not logged in")
        return await read_facts(self.bot.http, self.bot.settings, bot_id=self.bot.user.id)

    async def _alert(self, finding: Finding) -> None:
        channel_id = self.bot.settings.organisers.alerts_channel_id
        posting = self._posting()
        if not channel_id or posting is None or finding.channel_id == channel_id:
            return  # no alerts channel, or it is the very channel that refuses us
        nonce = nonce_for(f"setup:{finding.key}")
        await posting.sender.send(channel_id, problem_alert(finding), nonce=nonce)

    def _on_problems(self, problems: list[Finding]) -> None:
        posting = self._posting()
        if posting is not None:
            posting.setup_problems = [
                {"check": f.check, "problem": f.problem, "fix": f.fix} for f in problems
            ]

    async def _channels_ok(self, channel_ids: set[int]) -> Any:
        posting = self._posting()
        if posting is not None:
            return await posting.retry_refused(channel_ids)
        return None

    # -- when to check -----------------------------------------------------------------------

    def _ours(self, guild_id: int | None) -> bool:
        return guild_id == self.bot.settings.discord.guild_id

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.check.request("ready", local=True)

    @commands.Cog.listener()
    async def on_guild_update(self, _before: discord.Guild, after: discord.Guild) -> None:
        if self._ours(after.id):
            self.check.request("server updated")

    @commands.Cog.listener("on_guild_channel_update")
    async def on_channel_update(self, _before: Any, after: Any) -> None:
        if self._ours(getattr(after.guild, "id", None)):
            self.check.request(f"channel {after.id} updated")

    @commands.Cog.listener("on_guild_channel_delete")
    @commands.Cog.listener("on_guild_channel_create")
    async def on_channel_change(self, channel: Any) -> None:
        if self._ours(getattr(channel.guild, "id", None)):
            self.check.request(f"channel {channel.id} created or deleted")

    @commands.Cog.listener("on_guild_role_update")
    async def on_role_update(self, _before: discord.Role, after: discord.Role) -> None:
        if self._ours(after.guild.id):
            self.check.request(f"role {after.id} updated")

    @commands.Cog.listener("on_guild_role_delete")
    @commands.Cog.listener("on_guild_role_create")
    async def on_role_change(self, role: discord.Role) -> None:
        if self._ours(role.guild.id):
            self.check.request(f"role {role.id} created or deleted")


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(SelfCheckCog(bot))
