"""Everything the bot posts on its own, wired together: content -> plan -> outbox -> delivery.

Discord-free: the Discord sender is injected. The owner (the posting cog, or a test) calls
`start()` once and `stop()` once. Every background task started here has an owner that logs
its failure.

Flow on every content change (webhook, poll, or start-up):
reload the index (only changed files) -> plan recap announcements and reminders (pure) ->
reconcile the plan into the outbox -> rebuild the wake-ups from pending rows -> deliver due.
Each step has its own module; this one composes them and owns the background work.

The same pass plans the members' DM reminders (``dm:`` rows, bot/plan/optin.py) and, with
`[events] enabled`, brings the Discord scheduled events in line with the content
(bot/plan/scheduled_events.py, through the injected `EventsApi`; its failures are recorded,
never raised).
With `[events] auto_start`, wake-ups keyed ``events:<time>`` (not outbox rows: rebuilds keep
them) run that events pass at each AMA's start and end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.models import Episode
from bot.durations import short_duration
from bot.plan.kinds import publish_settings_on
from bot.plan.late import Decision, payload_for
from bot.plan.optin import is_recap_dm_key
from bot.plan.posts import Post, PostStatus
from bot.plan.scheduled_events import EventsApi, EventsReport
from bot.services.alerts import ALERT_PREFIX as ALERT_PREFIX
from bot.services.alerts import OrganiserAlerts
from bot.services.delivery import DeliveryPolicy, Dispatcher, Sender, StopHook
from bot.services.event_sync import EVENTS_WAKE_PREFIX, EventsPass
from bot.services.gitsync import ContentSync, GitContent, PullResult
from bot.services.recap_plan import RECAP_ALIAS_PREFIX as RECAP_ALIAS_PREFIX
from bot.services.recap_plan import RecapPlanner
from bot.services.reconcile import OutboxReconciler, ReconcileSummary
from bot.services.wakeups import Wakeups
from bot.store import Store

log = logging.getLogger("amabot.posting")

# /healthz says not-ok while a post is this late (pending) or claimed this long (sending).
OVERDUE_AFTER = timedelta(minutes=5)
STATE_COMMIT = "content.last_commit"
STATE_RELOADED = "content.last_reload_at"


class PostingService:
    """The posting side of the bot, composed: content sync and reload, the recap planner
    (bot/services/recap_plan.py), the outbox reconcile (bot/services/reconcile.py), delivery
    and its wake-ups, the Discord scheduled events pass (bot/services/event_sync.py), the
    organisers' alerts (bot/services/alerts.py) and /healthz."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        index: ContentIndex,
        sender: Sender,
        clock: Clock,
        git: GitContent | None = None,
        sweep_interval: float = 30.0,
        events_api: EventsApi | None = None,
        on_stop: StopHook | None = None,
    ):
        self.settings = settings
        self.store = store
        self.index = index
        self.clock = clock
        self.sender = sender
        self._wake_handlers: dict[str, Callable[[str], Awaitable[None]]] = {}
        self._content_listeners: list[Callable[[], Awaitable[None]]] = []
        # A wake-up for one key delivers everything due, so a channel's posts keep their order.
        self.wakeups = Wakeups(
            self._wake, self.deliver_due, clock=clock, sweep_interval=sweep_interval
        )
        self.alerts = OrganiserAlerts(
            settings=settings, store=store, clock=clock, wakeups=self.wakeups
        )
        self.dispatcher = self._dispatcher(sender, on_stop)
        self.sync = ContentSync(
            git,
            on_change=self.on_content_change,
            interval=settings.content.poll_interval,
        )
        self.planner = RecapPlanner(settings=settings, index=index)
        self.reconciler = OutboxReconciler(
            settings=settings,
            store=store,
            index=index,
            clock=clock,
            planner=self.planner,
            dispatcher=self.dispatcher,
            rebuild_wakeups=self.rebuild_wakeups,
        )
        self._reconcile_lock = self.reconciler.lock  # one outbox pass at a time
        self.events_pass = EventsPass(
            settings=settings,
            store=store,
            index=index,
            clock=clock,
            api=events_api,
            schedule=self.wakeups.schedule,
            reconcile_dms=self.reconcile_dms,
        )
        self.events = self.events_pass.reconciler  # None: no Discord scheduled events
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self.last_reload_at: datetime | None = None
        # What the self-check (bot/services/selfcheck.py, through cogs/selfcheck.py) found.
        self.setup_problems: list[dict[str, str]] = []
        # Why the Discord gateway is down, or None when connected: the app's to set
        # (this service never sees the gateway). A reason in /healthz.
        self.gateway_problem: Callable[[], str | None] = lambda: None

    def _dispatcher(self, sender: Sender, on_stop: StopHook | None) -> Dispatcher:
        """Delivery: refusals go to the organisers' alerts, retries to the wake-ups."""
        return Dispatcher(
            self.store.outbox,
            sender,
            clock=self.clock,
            payload_for=self._payload_for,
            on_failure=self.alerts.post_refused,
            on_retry=self.wakeups.schedule,
            on_stop=on_stop,
            policy=DeliveryPolicy(
                publish_per_hour=self.settings.announcements.publish_per_hour,
                publish_settings=publish_settings_on(self.settings),
            ),
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover, reconcile and schedule; never waits on Discord. Posts already due go out
        from their wake-ups as soon as the event loop runs them."""
        # Before anything reads reminder keys: rows of the previous version get their instant.
        upgraded = await self.store.outbox.upgrade_reminder_keys()
        if upgraded:
            log.info("%d reminder rows of the previous version now carry their instant", upgraded)
        await self.planner.load_aliases(self.store.state)
        await self.dispatcher.recover()
        # The owner loaded the index just before starting us.
        self.last_reload_at = self.clock()
        await self.store.state.set(STATE_RELOADED, self.last_reload_at.isoformat())
        # The Discord events pass talks to Discord: it runs beside the start, not before it.
        await self.reconcile(events=False)
        self.wakeups.start()
        if self.events is not None:
            self._spawn(self.sync_with_discord(), "amabot-events-startup")
        self._sync_task = asyncio.create_task(self._run_sync(), name="amabot-content-sync")
        # Merges that landed while the bot was down are picked up at once, not one poll later.
        self.sync.request_pull("startup")

    def spawn(self, coro: Any, name: str) -> None:
        """Run work that talks to Discord beside the start, never before it (the start must
        not wait on Discord: the gateway connects only once it returns). The service owns
        the task and cancels it on stop."""
        self._spawn(coro, name)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        self.sync.stop()
        for task in list(self._background):
            task.cancel()
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("content sync ended with an error")
        self.wakeups.shutdown()

    async def _run_sync(self) -> None:
        try:
            await self.sync.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("content sync loop died; content changes will not be seen until restart")

    # -- content changes -------------------------------------------------------------------

    async def on_content_change(self, result: PullResult | None = None) -> None:
        """After every pull (or rescan tick): reload what changed, then reconcile. Reconciling
        even when nothing changed matters: time passes, so a recap dated today becomes due."""
        result = await self._since_last_processed(result)
        if result is None or result.rescan or result.changed:
            # A git pull names the files it changed; a rescan (no git) looks at every file.
            paths = None if result is None or result.rescan else result.changed_paths
            before = self.planner.recaps_at(paths)
            report = await asyncio.to_thread(self._reload, paths)
            self.planner.note_reload(paths, report)
            renames = result.renamed if result is not None else ()
            await self.planner.follow_renames(before, report, renames, self.store.state)
            self.last_reload_at = self.clock()
            await self.store.state.set(STATE_RELOADED, self.last_reload_at.isoformat())
            if report.added or report.changed or report.removed:
                log.info(
                    "content reloaded: %d added, %d changed, %d removed",
                    len(report.added),
                    len(report.changed),
                    len(report.removed),
                )
        if result is not None and result.after:
            await self.store.state.set(STATE_COMMIT, result.after)
        if result is not None and result.rewritten:
            await self.alerts.history_rewritten(result)
        await self.reconcile(incremental=True)
        for listener in self._content_listeners:
            await listener()
        await self.deliver_due()

    async def _since_last_processed(self, result: PullResult | None) -> PullResult | None:
        """The pull as seen from the last commit the bot processed, not from where the
        checkout was just before it: a person who reset the checkout by hand (say to
        `origin/main`, as the old "diverged" error advised) moved HEAD without a pull, and
        what changed since is what must be reloaded."""
        git = self.sync.git
        if result is None or git is None or not result.ok or result.before is None:
            return result
        last = await self.store.state.get(STATE_COMMIT)
        if last is None or last == result.before or result.after is None:
            return result
        log.warning(
            "the checkout moved from %s to %s outside a pull; reloading what differs",
            last[:12],
            result.before[:12],
        )
        found = await git.changes_between(last, result.after)
        if found is None:  # the old commit is gone: look at every file
            return replace(result, before=last, rescan=True)
        changed, renames = found
        return replace(result, before=last, changed_paths=changed, renamed=renames)

    def _reload(self, paths: Any) -> Any:
        """In a thread: the reload, and the sorting and indexing it leaves for first use, so
        the next reconcile or search does not do them on the event loop."""
        return self.index.reload(paths, search=True)

    async def reconcile(
        self, *, events: bool = True, incremental: bool = False
    ) -> ReconcileSummary:
        """Plan and write the outbox (recaps, reminders, members' DMs), then, with
        `events`, bring the Discord scheduled events in line with the content.

        `incremental`: re-plan only the recaps the content changes since the last pass
        touched (bot/services/recap_plan.py); a full pass when there is no plan to update."""
        summary = await self.reconciler.reconcile(incremental=incremental)
        if events and self.events is not None:
            await self.reconcile_events()
        return summary

    # -- members' DM reminders and Discord scheduled events ---------------------------------

    async def reconcile_dms(self) -> Any:
        """Re-plan the members' DM reminders alone: after a /notify choice, a "Stop these"
        click or an "Interested" mark. Cheap: no recap is rendered."""
        return await self.reconciler.reconcile_dms()

    async def sync_with_discord(self) -> EventsReport | None:
        """Re-read Discord's side of our scheduled events (at start-up and at every READY),
        then run the events pass (bot/services/event_sync.py)."""
        return await self.events_pass.sync_with_discord()

    async def reconcile_events(self) -> EventsReport | None:
        """Create, update, cancel (and with auto_start, start and end) our Discord scheduled
        events. A failure here is logged and recorded in the store; it never stops posting."""
        return await self.events_pass.reconcile_events()

    async def rebuild_wakeups(self) -> None:
        # Keys and times only: decoding every pending payload here held the loop for 150 ms
        # with a thousand reminders. The auto_start transitions are not outbox rows: keep
        # their wake-ups too (one that has come but not run yet runs at once).
        wakes = await self.store.outbox.wake_times()
        wakes.extend(self.events_pass.wakes.items())
        self.wakeups.rebuild(wakes)

    async def deliver_due(self) -> int:
        return await self.dispatcher.deliver_due()

    def add_wake_handler(self, prefix: str, handler: Callable[[str], Awaitable[None]]) -> None:
        """Wake-ups keyed ``<prefix>…`` go to `handler` instead of delivery (the AMA's clock,
        its places and its coalesced edits): one scheduler for all of the bot's timed work."""
        self._wake_handlers[prefix] = handler

    def add_content_listener(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Called after every content reload and reconcile (the AMA follows the episodes)."""
        self._content_listeners.append(listener)

    async def _wake(self, key: str) -> None:
        if key.startswith(EVENTS_WAKE_PREFIX):
            await self.events_pass.on_wake(key)
            return
        for prefix, handler in self._wake_handlers.items():
            if key.startswith(prefix):
                await handler(key)
                return
        await self.dispatcher.deliver_due()

    def _payload_for(self, decision: Decision, post: Post) -> dict[str, Any] | None:
        if post.kind == "dm" and decision.sends and is_recap_dm_key(post.key):
            # Like the channel's announcement: a late recap is still news, never "(delayed)".
            return post.payload
        return payload_for(
            decision, post, episodes=_EpisodesView(self.index), settings=self.settings
        )

    async def retry_refused(self, channel_ids: set[int]) -> list[str]:
        """The bot may post in these channels again (the self-check passes there): what was
        refused for a permission goes out if still in time, else is recorded as skipped."""
        revived, skipped = await self.store.outbox.retry_refused(channel_ids, self.clock())
        for key in skipped:
            log.info("%s stays unsent: past its deadline when the permission came back", key)
        if revived:
            log.info("permission back: sending %d refused post(s) again", len(revived))
            await self.rebuild_wakeups()
            await self.deliver_due()
        return revived

    async def health(self) -> dict[str, Any]:
        """`GET /healthz`: what an operator checks first. Failed posts come from the outbox, so
        they survive restarts; `problems` are this run's refused sends, edits and publishes."""
        counts = await self.store.outbox.counts()
        failed = await self.store.outbox.recent([PostStatus.FAILED], limit=10)
        sync = self.sync.status()
        problems = [p.as_dict() for p in list(self.dispatcher.problems)[-10:]]
        events = await self.events_pass.health()
        now = self.clock()
        late = await self.store.outbox.overdue(now, now - OVERDUE_AFTER)
        reasons = [_late_reason(p, now) for p in late]
        if self.dispatcher.stopped:
            reasons.insert(0, f"delivery stopped: {self.dispatcher.stopped}")
        if sync["last_error"] is not None:
            reasons.append(f"content sync: {sync['last_error']}")
        open_problems = [p for p in problems if not await self._settled_since(p)]
        if open_problems:
            reasons.append(f"{len(open_problems)} delivery problem(s) in this run (see problems)")
        if events["permission_error"]:
            reasons.append(f"scheduled events: {events['permission_error']}")
        reasons.extend(f"set-up: {p['problem']}" for p in self.setup_problems)
        gateway = self.gateway_problem()
        if gateway is not None:
            reasons.insert(0, f"gateway: {gateway}")
        return {
            "ok": not reasons,
            "reasons": reasons,
            "last_commit": await self.store.state.get(STATE_COMMIT),
            "last_reload_at": await self.store.state.get(STATE_RELOADED),
            "posts": {
                "pending": counts.get(PostStatus.PENDING, 0) + counts.get(PostStatus.SENDING, 0),
                "sent": counts.get(PostStatus.SENT, 0),
                "failed": counts.get(PostStatus.FAILED, 0),
                "skipped": counts.get(PostStatus.SKIPPED, 0),
                "cancelled": counts.get(PostStatus.CANCELLED, 0),
            },
            "failed": [
                {
                    "key": p.key,
                    "channel_id": p.channel_id,
                    "reason": p.reason,
                    "at": p.updated_at.isoformat() if p.updated_at else None,
                }
                for p in failed
            ],
            "problems": problems,
            "content": sync,
            "content_problems": sum(1 for p in self.index.problems if p.severity == "error"),
            "events": events,
            # What the self-check (bot/services/selfcheck.py) found wrong with the set-up.
            "setup_problems": list(self.setup_problems),
        }

    async def _settled_since(self, problem: dict[str, Any]) -> bool:
        """A refused send whose post is no longer failed (the permission came back: sent, or
        skipped past its deadline) is history, not a reason for /healthz's 503."""
        if problem["action"] != "send":
            return False
        post = await self.store.outbox.get(problem["key"])
        return post is not None and post.status is not PostStatus.FAILED


def _late_reason(post: Post, now: datetime) -> str:
    if post.status is PostStatus.SENDING:
        since = post.claimed_at or post.updated_at or now
        return f"{post.key} stuck in sending for {short_duration(now - since)}"
    error = f" (last error: {post.last_error})" if post.last_error else ""
    return f"{post.key} overdue by {short_duration(now - post.due_at)}{error}"


class _EpisodesView(Mapping[str, Episode]):
    """The index's episodes as a read-only mapping, without copying 10,000 of them."""

    def __init__(self, index: ContentIndex):
        self._index = index

    def __getitem__(self, key: str) -> Episode:
        episode = self._index.episode(key)
        if episode is None:
            raise KeyError(key)
        return episode

    def __iter__(self) -> Iterator[str]:
        return (e.id for e in self._index.episodes())

    def __len__(self) -> int:
        return len(self._index.episodes())
