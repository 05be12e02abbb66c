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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.lineup import Lineup
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
from bot.services.series_binding import Binding, series_store
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
        lineup: Lineup | None = None,
        binding: Binding | None = None,
        gits: Mapping[Path, GitContent | None] | None = None,
    ):
        """One series: `settings` and `index`. Several: `lineup` (its first series' are
        `settings` and `index`), bound to the store by `binding` (bot/services/
        series_binding.py), and `gits`, the checkout of each distinct content path (a path
        missing there, or None, is rescanned)."""
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
        self._reconcile_lock = asyncio.Lock()  # one outbox pass at a time, every series
        pairs = list(lineup) if lineup is not None else [(settings, index)]
        self.shows = [
            self._show(view, show_index, events_api, binding) for view, show_index in pairs
        ]
        first = self.shows[0]
        # The first series' parts, under the names one-series code knows.
        self.planner = first.planner
        self.reconciler = first.reconciler
        self.events_pass = first.events_pass
        self.events = self.events_pass.reconciler  # None: no Discord scheduled events
        # One content sync per checkout (content path), each reloading its own series.
        checkouts: dict[Path, list[_Show]] = {}
        for show in self.shows:
            checkouts.setdefault(show.settings.content.path, []).append(show)
        self.syncs: list[_Checkout] = []
        for n, (path, shows) in enumerate(checkouts.items()):
            checkout_git = git if n == 0 and gits is None else (gits or {}).get(path)
            self.syncs.append(self._checkout(n, shows, checkout_git))
        self.sync = self.syncs[0].sync
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_tasks: list[asyncio.Task[None]] = []
        self._sync_task: asyncio.Task[None] | None = None  # the first checkout's
        self.last_reload_at: datetime | None = None
        # What the self-check (bot/services/selfcheck.py, through cogs/selfcheck.py) found.
        self.setup_problems: list[dict[str, str]] = []
        # Why the Discord gateway is down, or None when connected: the app's to set
        # (this service never sees the gateway). A reason in /healthz.
        self.gateway_problem: Callable[[], str | None] = lambda: None

    def _show(
        self,
        view: Settings,
        index: ContentIndex,
        events_api: EventsApi | None,
        binding: Binding | None,
    ) -> _Show:
        """One series' planning parts over the store as that series sees it. A store never
        bound to its series (one series, e.g. a test's) is used as it is."""
        store = self.store if binding is None else series_store(self.store, view.series.id, binding)
        planner = RecapPlanner(settings=view, index=index)
        reconciler = OutboxReconciler(
            settings=view,
            store=store,
            index=index,
            clock=self.clock,
            planner=planner,
            dispatcher=self.dispatcher,
            rebuild_wakeups=self.rebuild_wakeups,
            lock=self._reconcile_lock,
        )
        events_pass = EventsPass(
            settings=view,
            store=store,
            index=index,
            clock=self.clock,
            api=events_api if view.events.enabled else None,
            schedule=self.wakeups.schedule,
            reconcile_dms=self.reconcile_dms,
        )
        return _Show(view, index, store, planner, reconciler, events_pass)

    def _checkout(self, n: int, shows: list[_Show], git: GitContent | None) -> _Checkout:
        # The first checkout keeps the key of the one-checkout bot (a database of the
        # previous version knows where it stopped); another is named by its first series.
        state_key = STATE_COMMIT if n == 0 else f"{STATE_COMMIT}.{shows[0].settings.series.id}"
        checkout = _Checkout(shows=shows, state_key=state_key, sync=None)  # type: ignore[arg-type]

        async def on_change(result: PullResult | None = None) -> None:
            await self._on_checkout_change(checkout, result)

        checkout.sync = ContentSync(
            git, on_change=on_change, interval=self.settings.content.poll_interval
        )
        return checkout

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
        for show in self.shows:
            await show.planner.load_aliases(self.store.state)
        await self.dispatcher.recover()
        # The owner loaded the index just before starting us.
        self.last_reload_at = self.clock()
        await self.store.state.set(STATE_RELOADED, self.last_reload_at.isoformat())
        # The Discord events pass talks to Discord: it runs beside the start, not before it.
        await self.reconcile(events=False)
        self.wakeups.start()
        if any(show.events_pass.reconciler is not None for show in self.shows):
            self._spawn(self.sync_with_discord(), "amabot-events-startup")
        for checkout in self.syncs:
            if len(self.syncs) > 1:
                await checkout.read_remote()
            self._sync_tasks.append(
                asyncio.create_task(self._run_sync(checkout.sync), name="amabot-content-sync")
            )
            self._sync_task = self._sync_task or self._sync_tasks[0]
            # Merges that landed while the bot was down are picked up at once.
            checkout.sync.request_pull("startup")

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
        for checkout in self.syncs:
            checkout.sync.stop()
        for task in list(self._background):
            task.cancel()
        for sync_task in self._sync_tasks:
            sync_task.cancel()
            try:
                await sync_task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("content sync ended with an error")
        self.wakeups.shutdown()

    async def _run_sync(self, sync: ContentSync) -> None:
        try:
            await sync.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("content sync loop died; content changes will not be seen until restart")

    # -- content changes -------------------------------------------------------------------

    async def on_content_change(self, result: PullResult | None = None) -> None:
        """After every pull (or rescan tick) of the first checkout: see
        `_on_checkout_change`."""
        await self._on_checkout_change(self.syncs[0], result)

    def request_pull_for(self, repository: Mapping[str, Any] | None, reason: str) -> int:
        """A GitHub push: a pull of the checkout whose remote is the pushed repository
        (`repository.full_name` or a clone URL), so only its series reload; of every
        checkout when none matches (or with one checkout). Returns how many were asked."""
        syncs = [c.sync for c in self.syncs]
        if len(self.syncs) > 1 and repository:
            names = ("full_name", "clone_url", "ssh_url", "git_url", "html_url")
            wanted = {_repo_id(v) for n in names if isinstance(v := repository.get(n), str) and v}
            matched = [c.sync for c in self.syncs if c.remote_id in wanted]
            syncs = matched or syncs
        for sync in syncs:
            sync.request_pull(reason)
        return len(syncs)

    async def _on_checkout_change(
        self, checkout: _Checkout, result: PullResult | None = None
    ) -> None:
        """After every pull (or rescan tick) of one checkout: reload what changed in the
        series it holds, then reconcile every series. Reconciling even when nothing changed
        matters: time passes, so a recap dated today becomes due."""
        result = await self._since_last_processed(checkout, result)
        if result is None or result.rescan or result.changed:
            # A git pull names the files it changed; a rescan (no git) looks at every file.
            paths = None if result is None or result.rescan else result.changed_paths
            for show in checkout.shows:
                before = show.planner.recaps_at(paths)
                report = await asyncio.to_thread(self._reload, show.index, paths)
                show.planner.note_reload(paths, report)
                renames = result.renamed if result is not None else ()
                await show.planner.follow_renames(before, report, renames, self.store.state)
                if report.added or report.changed or report.removed:
                    log.info(
                        "content of %s reloaded: %d added, %d changed, %d removed",
                        show.settings.series.id,
                        len(report.added),
                        len(report.changed),
                        len(report.removed),
                    )
            self.last_reload_at = self.clock()
            await self.store.state.set(STATE_RELOADED, self.last_reload_at.isoformat())
        if result is not None and result.after:
            await self.store.state.set(checkout.state_key, result.after)
        if result is not None and result.rewritten:
            await self.alerts.history_rewritten(result)
        await self.reconcile(incremental=True)
        for listener in self._content_listeners:
            await listener()
        await self.deliver_due()

    async def _since_last_processed(
        self, checkout: _Checkout, result: PullResult | None
    ) -> PullResult | None:
        """The pull as seen from the last commit the bot processed, not from where the
        checkout was just before it: a person who reset the checkout by hand (say to
        `origin/main`, as the old "diverged" error advised) moved HEAD without a pull, and
        what changed since is what must be reloaded."""
        git = checkout.sync.git
        if result is None or git is None or not result.ok or result.before is None:
            return result
        last = await self.store.state.get(checkout.state_key)
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

    @staticmethod
    def _reload(index: ContentIndex, paths: Any) -> Any:
        """In a thread: the reload, and the sorting and indexing it leaves for first use, so
        the next reconcile or search does not do them on the event loop."""
        return index.reload(paths, search=True)

    async def reconcile(
        self, *, events: bool = True, incremental: bool = False
    ) -> ReconcileSummary:
        """Plan and write the outbox (recaps, reminders, members' DMs), then, with
        `events`, bring the Discord scheduled events in line with the content.

        `incremental`: re-plan only the recaps the content changes since the last pass
        touched (bot/services/recap_plan.py); a full pass when there is no plan to update."""
        summaries = [
            await show.reconciler.reconcile(incremental=incremental) for show in self.shows
        ]
        if events and any(show.events_pass.reconciler is not None for show in self.shows):
            await self.reconcile_events()
        return _merged(summaries)

    # -- members' DM reminders and Discord scheduled events ---------------------------------

    async def reconcile_dms(self) -> Any:
        """Re-plan the members' DM reminders alone: after a /notify choice, a "Stop these"
        click or an "Interested" mark. Cheap: no recap is rendered."""
        reports = [await show.reconciler.reconcile_dms() for show in self.shows]
        return reports[0]

    async def sync_with_discord(self) -> EventsReport | None:
        """Re-read Discord's side of our scheduled events (at start-up and at every READY),
        then run the events pass (bot/services/event_sync.py)."""
        reports = [await show.events_pass.sync_with_discord() for show in self.shows]
        return reports[0]

    async def reconcile_events(self) -> EventsReport | None:
        """Create, update, cancel (and with auto_start, start and end) our Discord scheduled
        events. A failure here is logged and recorded in the store; it never stops posting."""
        reports = [await show.events_pass.reconcile_events() for show in self.shows]
        return reports[0]

    async def rebuild_wakeups(self) -> None:
        # Keys and times only: decoding every pending payload here held the loop for 150 ms
        # with a thousand reminders. The auto_start transitions are not outbox rows: keep
        # their wake-ups too (one that has come but not run yet runs at once).
        wakes = await self.store.outbox.wake_times()
        for show in self.shows:
            wakes.extend(show.events_pass.wakes.items())
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
            for show in self.shows:
                if key in show.events_pass.wakes or show is self.shows[0]:
                    await show.events_pass.on_wake(key)
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
        # Rendered as the post's own series sees it (its channels, roles and episodes).
        show = self._show_of(post.series)
        return payload_for(
            decision,
            post,
            episodes=_EpisodesView(show.index, show.settings.series.key_prefix),
            settings=show.settings,
        )

    def _show_of(self, series: str) -> _Show:
        """The series of that id; the first for a row of no series (or one since removed)."""
        for show in self.shows:
            if show.settings.series.id == series:
                return show
        return self.shows[0]

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
        for checkout in self.syncs[1:]:
            error = checkout.sync.status()["last_error"]
            if error is not None and sync["last_error"] is None:
                sync = {**sync, "last_error": error}
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
            "content_problems": sum(
                1 for show in self.shows for p in show.index.problems if p.severity == "error"
            ),
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

    def __init__(self, index: ContentIndex, prefix: str = ""):
        self._index = index
        self._prefix = prefix  # the series' key prefix: keys name its episodes with it

    def __getitem__(self, key: str) -> Episode:
        if not key.startswith(self._prefix):
            raise KeyError(key)
        episode = self._index.episode(key[len(self._prefix) :])
        if episode is None:
            raise KeyError(key)
        return episode

    def __iter__(self) -> Iterator[str]:
        return (f"{self._prefix}{e.id}" for e in self._index.episodes())

    def __len__(self) -> int:
        return len(self._index.episodes())


@dataclass(slots=True)
class _Show:
    """One series' planning parts (bot/services/posting.py's `PostingService.shows`)."""

    settings: Settings
    index: ContentIndex
    store: Store  # as this series sees it (bot/services/series_binding.py)
    planner: RecapPlanner
    reconciler: OutboxReconciler
    events_pass: EventsPass


@dataclass(slots=True)
class _Checkout:
    """One content checkout (a content path), followed by its own sync, and its series."""

    shows: list[_Show]
    state_key: str  # where the last processed commit is kept
    sync: ContentSync

    remote_id: str | None = None  # its remote's ``owner/repo``, read at start

    async def read_remote(self) -> None:
        git = self.sync.git
        url = await git.remote_url() if git is not None else None
        self.remote_id = _repo_id(url) if url else None


def _repo_id(url: str) -> str:
    """``https://github.com/Org/Repo.git``, ``git@github.com:org/repo`` -> ``org/repo``:
    how a push's repository and a checkout's remote are compared."""
    text = url.strip().lower().removesuffix("/").removesuffix(".git")
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text.split("/", 1)[1] if "/" in text else text
    elif ":" in text:
        text = text.split(":", 1)[1]
    parts = [p for p in text.split("/") if p]
    return "/".join(parts[-2:])


def _merged(summaries: list[ReconcileSummary]) -> ReconcileSummary:
    """Every series' reconcile summary as one."""
    if len(summaries) == 1:
        return summaries[0]
    return ReconcileSummary(
        inserted=tuple(k for s in summaries for k in s.inserted),
        moved=tuple(k for s in summaries for k in s.moved),
        cancelled=tuple(k for s in summaries for k in s.cancelled),
        edits=tuple(k for s in summaries for k in s.edits),
        backlog=tuple(k for s in summaries for k in s.backlog),
    )
