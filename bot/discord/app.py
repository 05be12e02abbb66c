"""The discord.py bot: settings, store, content index and clock injected; cogs on top.

Nothing is started in `on_ready` (it fires again after every reconnect): the store, the index,
the posting service (which owns the background work), the webhook receiver and the cogs are
set up in `setup_hook`, once, and stopped in `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib
import json
import logging
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.clock import Clock, system_clock
from bot.config import ConfigError, DiscordSettings, Settings, discord_token, webhook_secret
from bot.content.index import ContentIndex
from bot.discord.replies import reply_ephemeral
from bot.discord.scheduled_events import DiscordEventsApi
from bot.discord.sender import DiscordSender
from bot.discord.timing import InteractionTimer
from bot.logsetup import configure_logging
from bot.plan.calendar import calendar_hashes, feed_ics
from bot.services.gitsync import GitContent
from bot.services.posting import PostingService
from bot.store import Store
from bot.web.calendar import calendar_route
from bot.web.webhook import WebhookServer, make_webhook_app

log = logging.getLogger("amabot")
T = TypeVar("T")

# cogs.buttons first: the one router every other cog registers its `amabot:` buttons with.
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "cogs.buttons",
    "cogs.members",
    "cogs.organisers",
    "cogs.notify",
    "cogs.scheduled_events",
    "cogs.selfcheck",
)
STATE_COMMANDS_HASH = "commands.hash"


# A button handler: told the interaction and what follows "amabot:<action>:" in the custom id.
ButtonHandler = Callable[[discord.Interaction, str], Awaitable[None]]


class AnotherInstance(ConfigError):
    """Another `amabot run` holds the database's lease (exit status 2, nothing changed)."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.key = "storage.database"
        self.file = None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


def _holder_is_dead(holder: str) -> bool:
    """A lease holder ("host:pid:tag") on this host whose process no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


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


DEFER_AFTER = 1.5  # seconds of work before an answer is deferred (Discord allows 3)


async def in_time(
    interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool = True
) -> T:
    """Await `work` for an interaction not answered yet; if it takes longer than
    DEFER_AFTER (the store busy, the thread pool full), acknowledge first ("thinking…", or a
    deferred update for a click), so Discord's 3 s pass with the member still answered. The
    caller then answers with a follow-up when `interaction.response.is_done()`."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
    if not done and not interaction.response.is_done():
        try:
            if interaction.type is discord.InteractionType.component:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except BaseException:
            task.cancel()
            raise
    return await task


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
        intents.voice_states = settings.events.auto_start
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
        point_discord_at(settings.discord)
        self.settings = settings
        self.clock = clock
        self.environ = environ if environ is not None else os.environ
        self.sweep_interval = sweep_interval
        self._extensions = tuple(extensions)
        self.store: Store | None = None
        self._posting: PostingService | None = None
        self.webhook: WebhookServer | None = None
        self.index = ContentIndex(settings.content.path, settings)
        self.commands_synced = False
        self.button_handlers: dict[str, ButtonHandler] = {}
        self.lease_holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lease_task: asyncio.Task[None] | None = None
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
        self.store = await Store.open(self.settings.storage.database, clock=self.clock)
        # Before anything touches the outbox: one process per database.
        await self._take_lease()
        report = await asyncio.to_thread(self._load_content)
        errors = [p for p in report.problems if p.severity == "error"]
        log.info(
            "content: %d episodes, %d recaps, %d files with errors (see `amabot check`)",
            len(self.index.episodes()),
            len(self.index.recaps(include_drafts=True)),
            len({p.path for p in errors}),
        )
        await self._start_posting()
        for name in self._extensions:
            # Importing a cog's dependencies (APScheduler, icalendar, ...) is a long stretch of
            # work: in a thread, so the loop keeps running; discord.py then runs the cog module.
            await asyncio.to_thread(importlib.import_module, name)
            await self.load_extension(name)
        await self.sync_commands_if_changed()

    def _load_content(self):
        """Load the content and build its search index, off the event loop: otherwise the
        first member to search after a start would wait for the index to be built.

        The cyclic GC is paused meanwhile: each full collection walks every object loaded so
        far while holding the GIL (100 ms and more with 20k files), which stops the event loop
        in the other thread just as surely as running the load on it would. Then the tens of
        thousands of long-lived content objects are frozen out of its way, so no later full
        collection walks them either (a 400 ms pause on the loop otherwise)."""
        gc.disable()
        try:
            report = self.index.reload(search=True)
        finally:
            gc.freeze()
            gc.enable()
        return report

    async def _start_posting(self) -> None:
        """Build the Discord-free posting service with the Discord sender and start it (its
        background tasks have their owners there); then the webhook receiver, which also
        serves the subscribable calendar (`GET /calendar.ics`), when `[webhook] listen` is set."""
        settings = self.settings
        # A receiver without its secret is a config error: refuse before anything starts.
        secret = webhook_secret(settings, self.environ) if settings.webhook.listen else b""
        git: GitContent | None = GitContent(
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
                events_api = DiscordEventsApi(self, settings.discord.guild_id)
            else:
                log.error(
                    "[events] enabled but [discord] guild_id is not set: no Discord events "
                    "can be made; set the server's id"
                )
        service = PostingService(
            settings=settings,
            store=self.db,
            index=self.index,
            sender=DiscordSender(self),
            clock=self.clock,
            git=git,
            sweep_interval=self.sweep_interval,
            events_api=events_api,
            on_stop=self.stop_for,
        )
        self._posting = service
        await service.start()
        if not settings.webhook.listen:
            return
        configured = settings.content.branch

        def content_branch():
            # The configured branch, else whatever the checkout is on; without git any push
            # is worth a rescan.
            if configured:
                return configured
            return git.current_branch() if git is not None else None

        app = make_webhook_app(
            secret=secret,
            branch=content_branch,
            on_push=lambda _payload: service.sync.request_pull("webhook"),
            health=service.health,
            extra_routes=[calendar_route(self.calendar_feed)],
        )
        webhook = WebhookServer(app, settings.webhook.listen)
        try:
            await webhook.start()
        except BaseException:
            # A taken port: the start fails, and what started must not outlive it.
            await service.stop()
            self._posting = None
            raise
        self.webhook = webhook

    async def calendar_feed(self) -> bytes:
        """`GET /calendar.ics`: every scheduled episode, SEQUENCE numbers from the store so a
        changed event replaces the subscriber's copy and an unchanged one never does."""
        now = self.clock()
        episodes = list(self.index.episodes())
        hashes = calendar_hashes(episodes, self.settings, now)
        sequences = await self.db.events.calendar_sequences(hashes, now)
        return await asyncio.to_thread(feed_ics, episodes, self.settings, now, sequences)

    @property
    def db(self) -> Store:
        """The open store; only valid between setup_hook and close."""
        if self.store is None:
            raise RuntimeError("the store is not open")
        return self.store

    @property
    def posting(self) -> PostingService:
        """The posting service, built and started in setup_hook (stopped, not dropped, in close)."""
        if self._posting is None:
            raise RuntimeError("the posting service is not running")
        return self._posting

    def command_payloads(self) -> dict[str, Any]:
        guild = (
            discord.Object(self.settings.discord.guild_id)
            if self.settings.discord.guild_id
            else None
        )
        payload = {
            "global": sorted((c.to_dict(self.tree) for c in self.tree.get_commands()), key=_name)
        }
        if guild is not None:
            payload["guild"] = sorted(
                (c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)), key=_name
            )
        return payload

    async def sync_commands_if_changed(self) -> bool:
        """Sync to Discord only when the command definitions changed since the last sync."""
        digest = commands_digest(
            self.application_id, self.settings.discord.guild_id, self.command_payloads()
        )
        if await self.db.state.get(STATE_COMMANDS_HASH) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        try:
            await self.tree.sync()
            if self.settings.discord.guild_id:
                await self.tree.sync(guild=discord.Object(self.settings.discord.guild_id))
        except discord.HTTPException as exc:
            log.error("could not sync slash commands (will retry on next start): %s", exc)
            return False
        await self.db.state.set(STATE_COMMANDS_HASH, digest)
        self.commands_synced = True
        log.info("slash commands synced")
        return True

    async def _take_lease(self) -> None:
        leases = self.db.leases
        ttl = self.settings.storage.lease_ttl
        if not await leases.take(self.lease_holder, self.clock(), ttl):
            held = await leases.get()
            dead = held is not None and _holder_is_dead(held.holder)
            if not dead or not await leases.take(
                self.lease_holder, self.clock(), ttl, replacing=held.holder
            ):
                await self.store.close()
                self.store = None
                raise AnotherInstance(
                    f"another amabot ({held.holder if held else '?'}) is running on "
                    f"{self.settings.storage.database} (its lease runs until "
                    f"{held.expires_at.isoformat() if held else '?'}); not starting a second "
                    "one. Nothing was changed."
                )
            log.warning("took over the lease of %s, whose process is gone", held.holder)
        self._lease_task = asyncio.create_task(self._keep_lease(), name="amabot-lease")

    async def _keep_lease(self) -> None:
        """Renew the lease every third of its time; losing it stops the bot at once."""
        ttl = self.settings.storage.lease_ttl
        try:
            while True:
                await asyncio.sleep(ttl.total_seconds() / 3)
                try:
                    ours = await self.db.leases.renew(self.lease_holder, self.clock(), ttl)
                except Exception:
                    log.exception("could not renew the lease; trying again")
                    continue
                if not ours:
                    self.stop_for("the database lease was taken by another amabot process")
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the lease keeper died")
            self.stop_for("the lease keeper died")

    def stop_for(self, reason: str) -> None:
        """Stop the bot from inside (the token was refused, the lease was lost): nothing more
        is claimed, pending rows stay for the next start; the process exits with status 1."""
        if self.fatal is not None:
            return
        self.fatal = reason
        log.critical("stopping: %s", reason)
        if self._posting is not None:
            self._posting.dispatcher.stop(reason)
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
            if self._posting is not None:
                # Kept, stopped: a gateway event still arriving meets a service that has
                # stopped, never a missing one.
                await self._posting.stop()
        except Exception:  # close must go on to the gateway and the store
            log.exception("error while stopping the posting service")
        await super().close()
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lease_task
            self._lease_task = None
        if self.store is not None:
            # Only ever our own: a lease another process took over is left alone.
            with contextlib.suppress(Exception):
                await self.store.leases.release(self.lease_holder)
            await self.store.close()
            self.store = None


def commands_digest(application_id: int | None, guild_id: int, payloads: Any) -> str:
    """What a sync is remembered by. The application is part of it: a database moved to
    another application must sync there, not find the old application's digest."""
    data = json.dumps([application_id, guild_id, payloads], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def _name(command: dict[str, Any]) -> str:
    return str(command.get("name", ""))


FIRST_RETRY = 2.0
MAX_RETRY = 300.0


def retry_delays(first: float = FIRST_RETRY, cap: float = MAX_RETRY):
    """2, 4, 8 ... 300 s, each with up to a fifth of jitter: a restart-always supervisor would
    otherwise spend one IDENTIFY per start (Discord resets the token at 1,000 a day)."""
    delay = first
    while True:
        yield delay * (1 + secrets.randbelow(200) / 1000)
        delay = min(delay * 2, cap)


class _Retry(Exception):
    """This attempt ended on something worth another try (the network, Discord's side)."""


async def _run(
    settings: Settings, token: str, *, ready_timeout: float, first_retry: float = FIRST_RETRY
) -> int:
    """Serve until stopped. A connection that fails is tried again inside the process, with
    backoff; only a refused token (or intents, or a config error) ends it with a status."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def request_stop(signame: str) -> None:
        if not stopping.is_set():
            log.info("%s received; shutting down", signame)
            stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, request_stop, sig.name)

    delays = retry_delays(first_retry)
    status = 0
    while not stopping.is_set():
        try:
            status = await _serve_once(settings, token, stopping, ready_timeout=ready_timeout)
            break
        except _Retry:
            delay = next(delays)
            log.warning("trying again in %.0fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
    log.info("stopped")
    return status


async def _serve_once(
    settings: Settings, token: str, stopping: asyncio.Event, *, ready_timeout: float
) -> int:
    bot = AmaBot(settings)
    runner = asyncio.create_task(bot.start(token), name="amabot-discord")
    stopper = asyncio.create_task(stopping.wait(), name="amabot-stop")
    ready = asyncio.create_task(bot.wait_until_ready(), name="amabot-ready")
    try:
        done, _ = await asyncio.wait(
            {runner, stopper, ready}, timeout=ready_timeout, return_when="FIRST_COMPLETED"
        )
        if not done:
            # discord.py keeps reconnecting with its own backoff; starting over would only
            # spend another IDENTIFY.
            log.error(
                "could not reach the Discord gateway at %s within %.0fs; still trying",
                settings.discord.gateway_url,
                ready_timeout,
            )
            done, _ = await asyncio.wait({runner, stopper, ready}, return_when="FIRST_COMPLETED")
        if ready in done and runner not in done:
            log.info("connected to Discord as %s", bot.user)
            done, _ = await asyncio.wait({runner, stopper}, return_when="FIRST_COMPLETED")
        if bot.fatal is not None:
            log.error("amabot stopped: %s", bot.fatal)
            return 1
        if runner in done:
            return _runner_status(
                runner, settings, logged_in=bot.user is not None, connected=bot.ws is not None
            )
        return 0
    finally:
        await bot.close()
        for task in (runner, stopper, ready):
            task.cancel()
        await asyncio.gather(runner, stopper, ready, return_exceptions=True)


def _runner_status(
    runner: asyncio.Task[None], settings: Settings, *, logged_in: bool, connected: bool
) -> int:
    exc = runner.exception()
    if exc is None:
        return 0
    # Found while starting (e.g. the webhook port is taken); a cog's failure comes wrapped.
    config_error = getattr(exc, "original", exc)
    if isinstance(config_error, ConfigError):
        log.error("%s", config_error)
        return config_error.exit_code
    if isinstance(exc, discord.LoginFailure):
        log.error("Discord rejected the token in $%s", settings.discord.token_env)
        return 1
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error("Discord refused the gateway intents: %s", exc)
        return 1
    if logged_in and not connected and _is_network(exc):
        # discord.py can trip over its own missing websocket after a failed first connect;
        # the cause underneath is what the operator needs.
        cause = exc if isinstance(exc, OSError) else (exc.__context__ or exc)
        log.error(
            "could not reach the Discord gateway at %s: %s", settings.discord.gateway_url, cause
        )
    elif _is_network(exc) or isinstance(exc, discord.DiscordServerError):
        log.error("could not connect to Discord (%s): %s", settings.discord.api_base, exc)
    else:
        log.error("the bot stopped on an unexpected error", exc_info=exc)
    raise _Retry from exc


def _is_network(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError | discord.GatewayNotFound | discord.ConnectionClosed):
            return True
        seen = seen.__context__
    return False


def run_bot(settings: Settings, *, ready_timeout: float | None = None) -> int:
    """`amabot run`: connect, serve until SIGINT/SIGTERM, shut down cleanly."""
    configure_logging()
    # Voice is never used; discord.py would warn about its missing libraries on every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    token = discord_token(settings, os.environ)  # ConfigError -> exit 2 in the CLI
    timeout = settings.discord.connect_timeout if ready_timeout is None else ready_timeout
    return asyncio.run(_run(settings, token, ready_timeout=timeout))
