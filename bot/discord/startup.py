"""The bot's start-up, step by step, for `AmaBot.setup_hook`: the content loaded off the
event loop, the content checkout, the Discord-free posting service built with its Discord
parts (sender, scheduled events API), and the webhook receiver (which also serves the
subscribable calendar, `GET /calendar.ics`). The order is the app's (bot/discord/app.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from discord.ext import commands

from bot.config import Settings, page_token
from bot.content.index import ContentIndex
from bot.discord.ama import DiscordAmaPlaces
from bot.discord.scheduled_events import DiscordEventsApi
from bot.discord.sender import DiscordSender
from bot.plan.kinds import parse_ama_dm_key
from bot.services.ama import WAKE_PREFIX, AmaService
from bot.services.ama_record import RecordPublisher
from bot.services.gitsync import GitContent
from bot.services.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.services.metrics import BotMetrics
from bot.services.posting import PostingService
from bot.web.calendar import calendar_route
from bot.web.metrics import metrics_route
from bot.web.screen import ScreenSource, screen_routes
from bot.web.status import StatusSource, status_route
from bot.web.webhook import WebhookServer, make_webhook_app

log = logging.getLogger("amabot")


def _load_content(index: ContentIndex) -> Any:
    """Load the content and build its search index, off the event loop: otherwise the
    first member to search after a start would wait for the index to be built.

    The cyclic GC is paused meanwhile: each full collection walks every object loaded so
    far while holding the GIL (100 ms and more with 20k files), which stops the event loop
    in the other thread just as surely as running the load on it would. Then the tens of
    thousands of long-lived content objects are frozen out of its way, so no later full
    collection walks them either (a 400 ms pause on the loop otherwise)."""
    gc.disable()
    try:
        report = index.reload(search=True)
    finally:
        gc.freeze()
        gc.enable()
    return report


async def load_content(index: ContentIndex) -> Any:
    """The first load of the content, in a thread; what it found goes to the log."""
    report = await asyncio.to_thread(_load_content, index)
    errors = [p for p in report.problems if p.severity == "error"]
    log.info(
        "content: %d episodes, %d recaps, %d files with errors (see `amabot check`)",
        len(index.episodes()),
        len(index.recaps(include_drafts=True)),
        len({p.path for p in errors}),
    )
    return report


async def content_checkout(settings: Settings) -> GitContent | None:
    """The content's git checkout, or None: then the content is rescanned by hash."""
    git = GitContent(
        settings.content.path,
        remote=settings.content.remote,
        branch=settings.content.branch,
        timeout=settings.content.git_timeout,
    )
    if not await git.is_checkout():
        log.info("%s is not a git checkout; rescanning it by content hash", settings.content.path)
        return None
    return git


async def content_checkouts(settings: Settings) -> dict[Path, GitContent | None]:
    """The git checkout of each distinct content path of the series (None: rescanned)."""
    gits: dict[Path, GitContent | None] = {}
    for view in settings.shows():
        if view.content.path not in gits:
            gits[view.content.path] = await content_checkout(view)
    return gits


def events_api(bot: commands.Bot, settings: Settings) -> DiscordEventsApi | None:
    """The scheduled events API with `[events] enabled` (it needs the server's id)."""
    if not settings.events.enabled:
        return None
    if settings.discord.guild_id:
        return DiscordEventsApi(bot, settings.discord.guild_id)
    log.error(
        "[events] enabled but [discord] guild_id is not set: no Discord events "
        "can be made; set the server's id"
    )
    return None


async def start_ama(
    bot: Any, service: PostingService, gits: Mapping[Path, GitContent | None]
) -> dict[str, AmaService]:
    """The AMA of every series with `[ama] enabled` (its own sessions, channels and record
    folder): one scheduler (the posting service's wake-ups), the outbox for every message,
    each series' sessions following its content after each reload. By series id."""
    services: dict[str, AmaService] = {}
    indexes = dict((v.series.id, i) for v, i in bot.lineup) if bot.lineup else {}
    for settings in bot.settings.shows():
        if settings.ama.enabled:
            index = indexes.get(settings.series.id, bot.index)
            git = gits.get(settings.content.path)
            services[settings.series.id] = _start_series_ama(bot, service, settings, index, git)
    if not services:
        return services

    async def on_wake(key: str) -> None:
        # ``amawake:<session>:…``: the session's own series handles it.
        sid_text = key.removeprefix(WAKE_PREFIX).partition(":")[0]
        session = await bot.db.ama.session(int(sid_text)) if sid_text.isdigit() else None
        owner = services.get(session.key.series) if session is not None else None
        for series_ama in [owner] if owner is not None else list(services.values()):
            await series_ama.on_wake(key)

    async def dm_refused(key: str, member_id: int, payload_text: str) -> None:
        # An AMA DM's key names its series (`ama_dm_key`).
        try:
            series = parse_ama_dm_key(key)[1]
        except ValueError:
            return
        owner = services.get(series)
        if owner is not None:
            await owner.dm_refused(key, member_id, payload_text)

    service.add_wake_handler(WAKE_PREFIX, on_wake)
    service.alerts.on_dm_closed = dm_refused
    return services


def _start_series_ama(
    bot: Any,
    service: PostingService,
    settings: Settings,
    index: ContentIndex,
    git: GitContent | None,
) -> AmaService:
    publisher = (
        RecordPublisher(git, folder=settings.content.ama, branch_prefix=settings.ama.branch_prefix)
        if git is not None
        else None
    )
    ama = AmaService(
        store=bot.db,
        settings=settings,
        clock=bot.clock,
        schedule=service.wakeups.schedule,
        deliver=service.deliver_due,
        series=settings.series.id,
        guild_id=settings.discord.guild_id,
        discord=DiscordAmaPlaces(bot, settings.discord.guild_id),
        publisher=publisher,
    )

    async def follow_content() -> None:
        await ama.sync_content(index.episodes())

    async def first_start() -> None:
        await follow_content()
        await ama.start()

    service.add_content_listener(follow_content)
    # Beside the start, not in it: the sessions' posts are delivered from here, and a post
    # a crash left "sending" waits for the gateway to read the history before any resend
    # (awaited in setup_hook, that wait held the gateway back: a 30 s stall at every start
    # after a crash mid-AMA).
    service.spawn(first_start(), f"amabot-ama-startup-{settings.series.id}")
    return ama


def build_posting(bot: Any, gits: Mapping[Path, GitContent | None]) -> PostingService:
    """The Discord-free posting service with the bot's Discord parts. `bot` is the AmaBot:
    its settings, store, lineup (every series' index), binding, clock and environment, and
    `stop_for` to stop from inside; `gits`: each content path's checkout."""
    settings = bot.settings
    any_events = any(view.events.enabled for view in settings.shows())
    return PostingService(
        settings=settings,
        store=bot.db,
        index=bot.index,
        sender=DiscordSender(bot, content_root=settings.content.path),
        clock=bot.clock,
        git=gits.get(settings.content.path),
        sweep_interval=bot.sweep_interval,
        events_api=events_api(
            bot, replace(settings, events=replace(settings.events, enabled=any_events))
        ),
        on_stop=bot.stop_for,
        lineup=bot.lineup,
        binding=bot.binding,
        gits=gits,
    )


async def start_webhook(
    settings: Settings,
    secret: bytes,
    git: GitContent | None,
    service: PostingService,
    calendar_feed: Callable[[], Awaitable[bytes]],
    *,
    ready: Callable[[], dict[str, Any]] | None = None,
    metrics: BotMetrics | None = None,
    screen: ScreenSource | None = None,
    status: StatusSource | None = None,
    environ: Mapping[str, str] | None = None,
) -> WebhookServer:
    """The webhook receiver at `[webhook] listen`: a push asks for a pull, `/healthz` is the
    service's health, `/readyz` the app's readiness, `/calendar.ics` the feed, `/metrics`
    Prometheus' scrape, `/ama/<episode>/screen` the AMA on screen and `/status` the
    organisers' page (each with its token in the environment). A taken port raises."""
    configured = settings.content.branch
    several = len(service.syncs) > 1

    def content_branch() -> Awaitable[str | None] | str | None:
        # The configured branch, else whatever the checkout is on; without git any push
        # is worth a rescan. With several checkouts, every push is routed by its
        # repository (a push to another branch makes a pull that finds nothing new).
        if several:
            return None
        if configured:
            return configured
        return git.current_branch() if git is not None else None

    def on_push(payload: dict[str, Any]) -> None:
        service.request_pull_for(payload.get("repository"), "webhook")

    routes = [calendar_route(calendar_feed)]
    if metrics is not None:
        routes.append(metrics_route(metrics.scrape, content_type=METRICS_CONTENT_TYPE))
    screen_token = page_token(settings.webhook.screen_token_env, environ)
    if screen is not None and screen_token is not None:
        routes.extend(screen_routes(screen, screen_token))
    status_token = page_token(settings.webhook.status_token_env, environ)
    if status is not None and status_token is not None:
        routes.append(status_route(status, status_token))
    app = make_webhook_app(
        secret=secret,
        branch=content_branch,
        on_push=on_push,
        health=service.health,
        ready=ready,
        extra_routes=routes,
    )
    webhook = WebhookServer(app, settings.webhook.listen)
    await webhook.start()
    return webhook
