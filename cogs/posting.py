"""The bot's own posts: recap announcements, reminders, organiser announcements.

A thin owner: it builds the Discord-free PostingService with the Discord sender, starts it
once when the cog loads (never in on_ready) and stops it when the bot closes. Also runs the
GitHub webhook receiver when `[webhook] listen` is set, which also serves the subscribable
calendar (`GET /calendar.ics`).
"""

from __future__ import annotations

import asyncio
import logging

from discord.ext import commands

from bot.config import webhook_secret
from bot.discord.app import AmaBot
from bot.discord.scheduled_events import DiscordEventsApi
from bot.discord.sender import DiscordSender
from bot.plan.calendar import calendar_hashes, feed_ics
from bot.services.gap import gap_hook
from bot.services.gitsync import GitContent
from bot.services.posting import PostingService
from bot.web.calendar import calendar_route
from bot.web.webhook import WebhookServer, make_webhook_app

log = logging.getLogger("amabot.cogs.posting")


class Posting(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot
        self.service: PostingService | None = None
        self.webhook: WebhookServer | None = None

    async def cog_load(self) -> None:
        settings = self.bot.settings
        # A receiver without its secret is a config error: refuse before anything starts.
        secret = webhook_secret(settings, self.bot.environ) if settings.webhook.listen else b""
        git = GitContent(
            settings.content.path,
            remote=settings.content.remote,
            branch=settings.content.branch,
            timeout=settings.content.git_timeout,
        )
        if not await git.is_checkout():
            log.info(
                "%s is not a git checkout; rescanning it by content hash", settings.content.path
            )
            git = None
        events_api = None
        if settings.events.enabled:
            if settings.discord.guild_id:
                events_api = DiscordEventsApi(self.bot, settings.discord.guild_id)
            else:
                log.error(
                    "[events] enabled but [discord] guild_id is not set: no Discord events "
                    "can be made; set the server's id"
                )
        self.service = PostingService(
            settings=settings,
            store=self.bot.db,
            index=self.bot.index,
            sender=DiscordSender(self.bot),
            clock=self.bot.clock,
            git=git,
            sweep_interval=self.bot.sweep_interval,
            events_api=events_api,
            after_send=gap_hook(self.bot.environ),
            on_stop=self.bot.stop_for,
        )
        self.bot.posting = self.service
        await self.service.start()
        if settings.webhook.listen:
            configured = settings.content.branch

            def content_branch():
                # The configured branch, else whatever the checkout is on; without git any
                # push is worth a rescan.
                if configured:
                    return configured
                return git.current_branch() if git is not None else None

            app = make_webhook_app(
                secret=secret,
                branch=content_branch,
                on_push=lambda _payload: self.service.sync.request_pull("webhook"),
                health=self.service.health,
                extra_routes=[calendar_route(self.calendar_feed)],
            )
            webhook = WebhookServer(app, settings.webhook.listen)
            try:
                await webhook.start()
            except BaseException:
                # The cog will not be added, so cog_unload never runs: stop what started.
                await self.service.stop()
                raise
            self.webhook = webhook

    async def calendar_feed(self) -> bytes:
        """`GET /calendar.ics`: every scheduled episode, SEQUENCE numbers from the store so a
        changed event replaces the subscriber's copy and an unchanged one never does."""
        now = self.bot.clock()
        episodes = list(self.bot.index.episodes())
        hashes = calendar_hashes(episodes, self.bot.settings, now)
        sequences = await self.bot.db.events.calendar_sequences(hashes, now)
        return await asyncio.to_thread(feed_ics, episodes, self.bot.settings, now, sequences)

    async def cog_unload(self) -> None:
        try:
            if self.webhook is not None:
                await self.webhook.stop()
            if self.service is not None:
                await self.service.stop()
        except Exception:  # discord.py swallows unload errors; make sure they are seen
            log.exception("error while stopping the posting service")


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(Posting(bot))
