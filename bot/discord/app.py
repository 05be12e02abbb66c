"""The discord.py bot: settings, store, content index and clock injected; cogs on top.

Nothing is started in `on_ready` (it fires again after every reconnect): the store, the index,
the posting service (which owns the background work), the webhook receiver and the cogs are
set up in `setup_hook`, once, and stopped in `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.clock import Clock, system_clock
from bot.config import DiscordSettings, Settings, webhook_secret
from bot.content.index import ContentIndex
from bot.content.lineup import Lineup
from bot.discord.extensions import DEFAULT_EXTENSIONS, load_extensions
from bot.discord.extensions import command_payloads as _command_payloads
from bot.discord.extensions import commands_digest as commands_digest
from bot.discord.extensions import sync_commands_if_changed as _sync_commands
from bot.discord.lease import AnotherInstance as AnotherInstance
from bot.discord.lease import LeaseKeeper
from bot.discord.replies import reply_ephemeral
from bot.discord.standby import standby_for
from bot.discord.startup import (
    build_posting,
    content_checkouts,
    load_lineup,
    start_ama,
    start_webhook,
)
from bot.discord.timing import InteractionTimer
from bot.discord.timing import in_time as in_time
from bot.plan.calendar import lineup_feed_ics, lineup_hashes
from bot.services.ama import AmaService
from bot.services.ama_screen import screen_view
from bot.services.metrics import BotMetrics
from bot.services.posting import PostingService
from bot.services.series_binding import Binding, bind_series, series_store
from bot.services.status import status_view
from bot.store import Store, open_store
from bot.web.webhook import WebhookServer

log = logging.getLogger("amabot")


# A button handler: told the interaction and what follows "amabot:<action>:" in the custom id.
ButtonHandler = Callable[[discord.Interaction, str], Awaitable[None]]


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


class UserFacingError(app_commands.AppCommandError):
    """A mistake the member can fix: shown to them ephemerally, not logged as a fault."""


def point_discord_at(discord_settings: DiscordSettings) -> None:
    """Aim discord.py's REST client and gateway at the configured hosts (Discord, or the local
    sandbox). These are class attributes in discord.py; they must be set before login."""
    discord.http.Route.BASE = discord_settings.api_base.rstrip("/")
    gateway = discord_settings.gateway_url.rstrip("/") + "/"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


class AmaTree(app_commands.CommandTree):
    """One error handler for every command: no interaction left unanswered, none twice."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, UserFacingError | app_commands.CheckFailure):
            await reply_ephemeral(interaction, str(error) or "You can't use this command here.")
            return
        if isinstance(error, app_commands.CommandNotFound):
            if interaction.type is discord.InteractionType.autocomplete:
                # An autocomplete can only be answered with choices; none is the honest answer.
                if not interaction.response.is_done():
                    with contextlib.suppress(discord.HTTPException):
                        await interaction.response.autocomplete([])
                return
            await reply_ephemeral(
                interaction, "I don't know that command. It may have been removed; try `/episode`."
            )
            return
        if isinstance(error, app_commands.TransformerError):
            await reply_ephemeral(interaction, f"I couldn't read that value: {error.value!r:.100}")
            return
        reference = secrets.token_hex(4)
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error(
            "error %s in /%s (guild %s, channel %s, user %s)",
            reference,
            command,
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id if interaction.user else "?",
            exc_info=original,
        )
        await reply_ephemeral(
            interaction,
            "Something went wrong on my side. "
            f"If you tell an organiser, quote reference `{reference}`.",
        )


class Readiness:
    """`GET /readyz`: whether this process is the one serving. Not while the first content
    load runs, not on a standby, yes once the posting service runs. `standby` is the hook a
    standby process (one waiting for another's lease: issue 22) sets, with why."""

    def __init__(self) -> None:
        self.loading = True
        self.started = False
        self.standby: str | None = None

    def report(self) -> dict[str, Any]:
        reasons = []
        if self.standby is not None:
            reasons.append(f"standby: {self.standby}")
        if self.loading:
            reasons.append("loading the content")
        elif not self.started:
            reasons.append("starting")
        return {"ready": not reasons, "reasons": reasons}


class GatewayWatch:
    """Whether the Discord gateway is connected, from discord.py's own events: a reason for
    `/healthz` while it is not (not yet connected, or disconnected since when)."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.connected = False
        # When it disconnected; None before the first connection.
        self.down_since: datetime | None = None

    async def up(self) -> None:
        self.connected = True
        self.down_since = None

    async def down(self) -> None:
        if self.connected:
            self.connected = False
            self.down_since = self.clock()

    def problem(self) -> str | None:
        if self.connected:
            return None
        if self.down_since is None:
            return "not connected yet"
        return f"disconnected since {self.down_since.isoformat(timespec='seconds')}"


class AmaBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        guild_ready_timeout: float = 2.0,
        sweep_interval: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ):
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_scheduled_events = True
        # auto_start looks at who is in the stage before starting it (not privileged).
        intents.voice_states = any(v.events.auto_start for v in settings.shows())
        self.interaction_timer = InteractionTimer()
        super().__init__(
            http_trace=self.interaction_timer.trace,
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=AmaTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            # Raise RateLimited instead of sleeping out a long 429 (a crosspost's can last most
            # of an hour): delivery retries later and nothing else waits. 30 s is the least
            # discord.py accepts.
            max_ratelimit_timeout=30.0,
        )
        self.interaction_timer.install(self._connection.parsers)
        # /metrics: this bot's own registry (bot/services/metrics.py), /readyz, the gateway.
        self.metrics = BotMetrics(settings.series.id)
        self.interaction_timer.on_sample = self.metrics.interaction_handled
        self.readiness = Readiness()
        self.gateway = GatewayWatch(clock)
        self.add_listener(self.gateway.up, "on_ready")
        self.add_listener(self.gateway.up, "on_resumed")
        self.add_listener(self.gateway.down, "on_disconnect")
        point_discord_at(settings.discord)
        self.settings = settings
        self.clock = clock
        self.environ = environ if environ is not None else os.environ
        self.sweep_interval = sweep_interval
        self._extensions = tuple(extensions)
        self.store: Store | None = None
        # The posting service once built (kept, stopped, after close); None before.
        self.posting_service: PostingService | None = None
        self.ama_service: AmaService | None = None
        self.ama_services: dict[str, AmaService] = {}
        self.webhook: WebhookServer | None = None
        self.index = ContentIndex(settings.content.path, settings)
        # Every series' index, built at start-up once the store says whose keys are bare.
        self.lineup: Lineup | None = None
        self.binding: Binding | None = None
        self.commands_synced = False
        self.button_handlers: dict[str, ButtonHandler] = {}
        self.lease = LeaseKeeper(settings, clock, self.stop_for)
        self.lease_holder = self.lease.holder
        self.metrics.watch(gateway_latency=lambda: self.latency, lease_held=lambda: self.lease.held)
        self.fatal: str | None = None  # why the bot stopped itself (exit status 1)
        self._stopping: asyncio.Task[None] | None = None

    def register_button(self, action: str, handler: ButtonHandler) -> None:
        """Route clicks on `amabot:<action>[:<arg>]` buttons to `handler(interaction, arg)`.

        One router (cogs/buttons.py) receives every `amabot:` click, now or after a restart,
        and answers anything no cog registered ("no longer active"): each cog owns its own
        actions without knowing about the others'."""
        if not action or ":" in action:
            raise ValueError(f"bad button action {action!r}")
        if action in self.button_handlers:
            raise ValueError(f"button action {action!r} is already registered")
        self.button_handlers[action] = handler

    def unregister_button(self, action: str) -> None:
        self.button_handlers.pop(action, None)

    async def setup_hook(self) -> None:
        """Start-up, once per process (bot/discord/startup.py does each step): the store,
        the lease (a second `amabot run` exits 2, or stands by: bot/discord/standby.py), the
        content, the posting service and the webhook receiver, then the cogs and the slash
        commands."""
        self.store = await open_store(
            self.settings.storage.database,
            clock=self.clock,
            password_env=self.settings.storage.password_env,
        )
        # Before anything touches the outbox: one process per database.
        try:
            await self.lease.take(self.store, standby_for(self))
        except AnotherInstance:
            await self.store.close()
            self.store = None
            raise
        # Each series' keys: the bare namespace's owner is the database's (series_binding).
        self.binding = await bind_series(self.settings, self.store, self.clock())
        self.settings = self.binding.settings
        self.lineup = Lineup(self.settings)
        self.index = self.lineup.first  # code not yet converted to several series reads it
        await load_lineup(self.lineup)
        self.readiness.loading = False
        await self._start_posting()
        self.readiness.started = True
        await load_extensions(self, self._extensions)
        await self.sync_commands_if_changed()

    async def _start_posting(self) -> None:
        """Build the Discord-free posting service with the Discord sender and start it (its
        background tasks have their owners there); then the webhook receiver, which also
        serves the subscribable calendar (`GET /calendar.ics`), when `[webhook] listen` is set."""
        settings = self.settings
        # A receiver without its secret is a config error: refuse before anything starts.
        secret = webhook_secret(settings, self.environ) if settings.webhook.listen else b""
        gits = await content_checkouts(settings)
        git = gits.get(settings.content.path)
        service = build_posting(self, gits)
        service.gateway_problem = self.gateway.problem
        service.dispatcher.metrics = self.metrics
        service.dispatcher.lease_guard = self.lease
        self.metrics.watch(outbox=self.db.outbox)
        self.posting_service = service
        await service.start()
        self.ama_services = await start_ama(self, service, gits)
        for ama in self.ama_services.values():
            ama.questions.metrics = self.metrics
        # The first series with an AMA: what the AMA's commands and buttons use.
        self.ama_service = next(iter(self.ama_services.values()), None)
        if not settings.webhook.listen:
            return
        try:
            self.webhook = await start_webhook(
                settings,
                secret,
                git,
                service,
                self.calendar_feed,
                ready=self.readiness.report,
                metrics=self.metrics,
                screen=self.ama_screen if self.ama_services else None,
                status=self.status_page,
                environ=self.environ,
            )
        except BaseException:
            # A taken port: the start fails, and what started must not outlive it.
            await service.stop()
            self.posting_service = None
            raise

    async def ama_screen(self, episode: str, series: str | None = None) -> dict[str, Any] | None:
        """`GET /ama/<series>/<episode>/screen`: the AMA's question on air and the next few
        (no series in the URL: the first series', as before several series)."""
        series = series or self.settings.series.id
        if series not in self.ama_services:
            return None
        return await screen_view(self.db, series, episode, self.clock())

    async def status_page(self) -> dict[str, Any]:
        """`GET /status`: every series' coming week, the recent sends and troubles, the lease."""
        shows = [
            (view, index, series_store(self.db, view.series.id, self.binding))
            for view, index in (self.lineup or ())
        ]
        return await status_view(
            self.settings,
            self.db,
            self.index,
            self.clock(),
            lease_holder=self.lease.holder,
            shows=shows or None,
        )

    async def calendar_feed(self) -> bytes:
        """`GET /calendar.ics`: every scheduled episode, SEQUENCE numbers from the store so a
        changed event replaces the subscriber's copy and an unchanged one never does."""
        now = self.clock()
        # Every series' events (UIDs scoped by series: bot/plan/calendar.py).
        shows = [(view, list(index.episodes())) for view, index in (self.lineup or ())]
        shows = shows or [(self.settings, list(self.index.episodes()))]
        hashes = lineup_hashes(shows, now)
        sequences = await self.db.events.calendar_sequences(hashes, now)
        return await asyncio.to_thread(lineup_feed_ics, shows, now, sequences)

    @property
    def db(self) -> Store:
        """The open store; only valid between setup_hook and close."""
        if self.store is None:
            raise RuntimeError("the store is not open")
        return self.store

    @property
    def posting(self) -> PostingService:
        """The posting service, built and started in setup_hook (stopped, not dropped, in close)."""
        if self.posting_service is None:
            raise RuntimeError("the posting service is not running")
        return self.posting_service

    def command_payloads(self) -> dict[str, Any]:
        return _command_payloads(self.tree, self.settings.discord.guild_id)

    async def sync_commands_if_changed(self) -> bool:
        """Sync to Discord only when the command definitions changed since the last sync."""
        synced = await _sync_commands(
            self.tree, self.application_id, self.settings.discord.guild_id, self.db.state
        )
        self.commands_synced = self.commands_synced or synced
        return synced

    def stop_for(self, reason: str) -> None:
        """Stop the bot from inside (the token was refused, the lease was lost): nothing more
        is claimed, pending rows stay for the next start; the process exits with status 1."""
        if self.fatal is not None:
            return
        self.fatal = reason
        log.critical("stopping: %s", reason)
        if self.posting_service is not None:
            self.posting_service.dispatcher.stop(reason)
        self._stopping = asyncio.get_running_loop().create_task(
            self.close(), name="amabot-stop-for"
        )
        self._stopping.add_done_callback(_log_failure)

    async def close(self) -> None:
        if not self.is_closed():
            self.interaction_timer.log_summary()
        # Background work stops first, while the HTTP session is still open: rows stay pending.
        try:
            if self.webhook is not None:
                await self.webhook.stop()
                self.webhook = None
            if self.posting_service is not None:
                # Kept, stopped: a gateway event still arriving meets a service that has
                # stopped, never a missing one.
                await self.posting_service.stop()
        except Exception:  # close must go on to the gateway and the store
            log.exception("error while stopping the posting service")
        await super().close()
        await self.lease.stop()
        if self.store is not None:
            await self.lease.release(self.store.leases)
            await self.store.close()
            self.store = None
