"""Everything the bot posts on its own, wired together: content -> plan -> outbox -> delivery.

Discord-free: the Discord sender is injected. The owner (the posting cog, or a test) calls
`start()` once and `stop()` once. Every background task started here has an owner that logs
its failure.

Flow on every content change (webhook, poll, or start-up):
reload the index (only changed files) -> plan recap announcements and reminders (pure) ->
reconcile the plan into the outbox -> rebuild the wake-ups from pending rows -> deliver due.

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.models import Episode, Recap
from bot.durations import short_duration
from bot.plan.late import Decision, payload_for
from bot.plan.optin import (
    RECAP_ANNOUNCEMENT_PREFIX,
    Mode,
    dm_recipient,
    is_dm_closed_error,
    is_recap_dm_key,
    plan_dm_reminders,
)
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.plan.recaps import backlog_cutoff, plan_recap_announcements
from bot.plan.reminders import plan_reminders
from bot.plan.scheduled_events import (
    EventReconciler,
    EventsApi,
    EventsReport,
    plan_guild_events,
    transition_times,
)
from bot.services.delivery import AfterSend, DeliveryPolicy, Dispatcher, Sender, StopHook
from bot.services.gitsync import ContentSync, GitContent, PullResult
from bot.services.wakeups import Wakeups

log = logging.getLogger("amabot.posting")

ALERT_PREFIX = "alert:"  # organiser alerts: one outbox row per refused post
# /healthz says not-ok while a post is this late (pending) or claimed this long (sending).
OVERDUE_AFTER = timedelta(minutes=5)
EVENTS_WAKE_PREFIX = "events:"  # wake-ups that run the scheduled events reconcile (auto_start)
STATE_COMMIT = "content.last_commit"
STATE_RELOADED = "content.last_reload_at"


@dataclass(frozen=True, slots=True)
class ReconcileSummary:
    inserted: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    edits: tuple[str, ...] = ()
    backlog: tuple[str, ...] = ()


class PostingService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Any,  # bot.store.Store
        index: ContentIndex,
        sender: Sender,
        clock: Clock,
        git: GitContent | None = None,
        sweep_interval: float = 30.0,
        events_api: EventsApi | None = None,
        after_send: AfterSend | None = None,
        on_stop: StopHook | None = None,
    ):
        self.settings = settings
        self.store = store
        self.index = index
        self.clock = clock
        self.dispatcher = Dispatcher(
            store.outbox,
            sender,
            clock=clock,
            payload_for=self._payload_for,
            on_failure=self._tell_organisers,
            on_retry=self._schedule_retry,
            after_send=after_send,
            on_stop=on_stop,
            policy=DeliveryPolicy(
                publish_per_hour=settings.announcements.publish_per_hour,
                publish_reminders=settings.reminders.publish,
            ),
        )
        # A wake-up for one key delivers everything due, so a channel's posts keep their order.
        self.wakeups = Wakeups(
            self._wake, self.deliver_due, clock=clock, sweep_interval=sweep_interval
        )
        self.sender = sender
        self.sync = ContentSync(
            git,
            on_change=self.on_content_change,
            interval=settings.content.poll_interval,
        )
        self._reconcile_lock = asyncio.Lock()
        # Discord scheduled events: one pass at a time, so two passes never both create one.
        self.events: EventReconciler | None = None
        if events_api is not None and settings.events.enabled:
            self.events = EventReconciler(store.events, events_api, settings)
        self._events_lock = asyncio.Lock()
        self._event_wakes: dict[str, datetime] = {}
        self.last_events_report: EventsReport | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self.last_reload_at: datetime | None = None
        self._recap_cache: dict[tuple[Recap, Episode | None], PlannedPost] = {}
        self._cache_authors: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover, reconcile and schedule; never waits on Discord. Posts already due go out
        from their wake-ups as soon as the event loop runs them."""
        await self.dispatcher.recover()
        # The owner loaded the index just before starting us.
        self.last_reload_at = self.clock()
        await self.store.state.set(STATE_RELOADED, self.last_reload_at.isoformat())
        # The Discord events pass talks to Discord: it runs beside the start, not before it.
        await self.reconcile(events=False)
        self.wakeups.start()
        if self.events is not None:
            self._spawn(self.reconcile_events(), "amabot-events-startup")
        self._sync_task = asyncio.create_task(self._run_sync(), name="amabot-content-sync")
        # Merges that landed while the bot was down are picked up at once, not one poll later.
        self.sync.request_pull("startup")

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
        if result is None or result.rescan or result.changed:
            # A git pull names the files it changed; a rescan (no git) looks at every file.
            paths = None if result is None or result.rescan else result.changed_paths
            report = await asyncio.to_thread(self.index.reload, paths)
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
        await self.reconcile()
        await self.deliver_due()

    async def reconcile(self, *, events: bool = True) -> ReconcileSummary:
        """Plan and write the outbox (recaps, reminders, members' DMs), then, with
        `events`, bring the Discord scheduled events in line with the content."""
        summary = await self._reconcile_outbox()
        if events and self.events is not None:
            await self.reconcile_events()
        return summary

    async def _reconcile_outbox(self) -> ReconcileSummary:
        async with self._reconcile_lock:
            now = self.clock()
            episodes = {e.id: e for e in self.index.episodes()}
            # Rendering 10,000 announcements takes a while: off the event loop, so the
            # gateway heartbeat and slash commands are not held up.
            recap_plan = await asyncio.to_thread(self._plan_recaps, episodes, now)
            backlog: list[str] = []
            if self.store.first_start:
                cutoff = backlog_cutoff(self.settings, now)
                old = [p for p in recap_plan if p.due_at < cutoff]
                # One transaction; rows that already exist (a crash mid-way) stay as they are.
                backlog = await self.store.outbox.insert_skipped(old, "backlog", now)
                recorded = {p.key for p in old}
                recap_plan = [p for p in recap_plan if p.key not in recorded]
                await self.store.mark_initialised(now)
                if backlog:
                    log.info("first start: %d existing recaps recorded as backlog", len(backlog))
            recaps = await self.store.outbox.reconcile(
                recap_plan, scope="recap:", now=now, reason_missing="recap removed or unpublished"
            )
            await self._settle_expired(now)
            reminder_plan = plan_reminders(episodes.values(), self.settings, now)
            reminders = await self.store.outbox.reconcile(
                reminder_plan,
                scope="reminder:",
                now=now,
                reason_missing="episode cancelled, moved or made TBD",
            )
            dms = await self._reconcile_dms_locked(episodes.values(), now)
            await self.rebuild_wakeups()
            return ReconcileSummary(
                inserted=(*recaps.inserted, *reminders.inserted, *dms.inserted),
                moved=(*recaps.moved, *reminders.moved, *dms.moved),
                cancelled=(*recaps.cancelled, *reminders.cancelled, *dms.cancelled),
                edits=tuple(recaps.edit_needed),
                backlog=tuple(backlog),
            )

    # -- members' DM reminders and Discord scheduled events ---------------------------------

    async def reconcile_dms(self) -> Any:
        """Re-plan the members' DM reminders alone: after a /notify choice, a "Stop these"
        click or an "Interested" mark. Cheap: no recap is rendered."""
        async with self._reconcile_lock:
            report = await self._reconcile_dms_locked(self.index.episodes(), self.clock())
            await self.rebuild_wakeups()
            return report

    async def _reconcile_dms_locked(self, episodes: Any, now: datetime) -> Any:
        optin = self.store.optin
        prefs = await optin.prefs()
        closed = await optin.dm_closed()
        plan = plan_dm_reminders(
            episodes,
            prefs,
            await optin.interested(),
            self.settings,
            now,
            dm_closed=closed,
            announcements=await self._recap_announcements_for_dms(prefs, closed, now),
        )
        return await self.store.outbox.reconcile(
            plan,
            scope="dm:",
            now=now,
            reason_missing="member opted out, DMs closed, or the event changed",
        )

    async def _recap_announcements_for_dms(
        self, prefs: Any, closed: frozenset[int], now: datetime
    ) -> list[Post]:
        """The recap announcement rows recap DMs may follow: read only when some member wants
        recap DMs, and only those unsent or sent since the earliest such choice (not the
        whole archive)."""
        since = [
            p.since or now
            for p in prefs
            if p.series == "recaps" and p.mode is Mode.DM and p.member_id not in closed
        ]
        if not since:
            return []
        return await self.store.outbox.unsent_or_sent_since(RECAP_ANNOUNCEMENT_PREFIX, min(since))

    async def reconcile_events(self) -> EventsReport | None:
        """Create, update, cancel (and with auto_start, start and end) our Discord scheduled
        events. A failure here is logged and recorded in the store; it never stops posting."""
        if self.events is None:
            return None
        async with self._events_lock:
            now = self.clock()
            episodes = list(self.index.episodes())
            try:
                report = await self.events.reconcile(episodes, now)
            except Exception:
                log.exception("the Discord scheduled events pass failed; posting carries on")
                return None
            self.last_events_report = report
            if self.settings.events.auto_start:
                plan = plan_guild_events(episodes, self.settings, now)
                self._event_wakes = {
                    f"{EVENTS_WAKE_PREFIX}{t.isoformat()}": t for t in transition_times(plan, now)
                }
                for key, when in self._event_wakes.items():
                    self.wakeups.schedule(key, when)
            return report

    async def _settle_expired(self, now: datetime) -> None:
        """Pending posts past their deadline are recorded as skipped, with the lateness as the
        reason, before the plan (which forgets events that have ended) could cancel them as
        "no longer planned": after a long outage `amabot plan` must say what really happened."""
        for post in await self.store.outbox.pending():
            # An unsure post (it may be out already) is settled by delivery's history
            # lookup, which needs the gateway: never skipped here, and never cancelled by
            # the plan (Outbox.reconcile leaves it alone).
            if post.deadline is not None and post.deadline < now and not post.unsure:
                await self.dispatcher.deliver(post.key)

    def _plan_recaps(self, episodes: Mapping[str, Episode], now: datetime) -> list[PlannedPost]:
        """plan_recap_announcements, remembering each announcement by its inputs.

        Planning is pure, so an unchanged (recap, episode) pair renders the same payload: a
        pull that changed one file re-renders one announcement, not 10,000. Keys compare by
        value, so a reloaded but identical file is a hit too."""
        authors = self.index.authors
        if authors != self._cache_authors:
            self._recap_cache = {}
            self._cache_authors = dict(authors)
        previous, kept = self._recap_cache, {}
        planned: list[PlannedPost] = []
        for recap in self.index.recaps():
            if not recap.is_published(now):
                continue
            episode = episodes.get(recap.episode_id) if recap.episode_id else None
            key: tuple[Recap, Episode | None] | None = (recap, episode)
            try:
                post = previous.get(key)
            except TypeError:  # an unhashable field somewhere: just render it
                key, post = None, None
            if post is None:
                post = plan_recap_announcements(
                    [recap], episodes=episodes, authors=authors, settings=self.settings, now=now
                )[0]
            if key is not None:
                kept[key] = post
            planned.append(post)
        self._recap_cache = kept
        planned.sort(key=lambda p: (p.due_at, p.key))
        return planned

    async def rebuild_wakeups(self) -> None:
        pending = await self.store.outbox.pending()
        # The auto_start transitions are not outbox rows: keep their wake-ups too (one that
        # has come but not run yet runs at once).
        wakes = [(p.key, p.wake_at) for p in pending]
        wakes.extend(self._event_wakes.items())
        self.wakeups.rebuild(wakes)

    async def deliver_due(self) -> int:
        return await self.dispatcher.deliver_due()

    async def _wake(self, key: str) -> None:
        if key.startswith(EVENTS_WAKE_PREFIX):
            self._event_wakes.pop(key, None)
            await self.reconcile_events()
            return
        await self.dispatcher.deliver_due()

    def _schedule_retry(self, key: str, when: datetime) -> None:
        self.wakeups.schedule(key, when)

    def _payload_for(self, decision: Decision, post: Post) -> dict[str, Any] | None:
        if post.kind == "dm" and decision.sends and is_recap_dm_key(post.key):
            # Like the channel's announcement: a late recap is still news, never "(delayed)".
            return post.payload
        return payload_for(
            decision, post, episodes=_EpisodesView(self.index), settings=self.settings
        )

    # -- reporting -------------------------------------------------------------------------

    async def _tell_organisers(self, post: Post, reason: str) -> None:
        """A post Discord refused for good (403, 404): say so in `[organisers]
        alerts_channel_id`, once per post. The row and the log already hold the reason.

        A DM refused because the member closed their DMs is the member's choice, not a fault:
        it is recorded (no more DMs planned until they opt in again) and their other pending
        DMs are cancelled, so the bot does not knock on a closed door for every event."""
        if post.kind == "dm":
            await self._dm_refused(post, reason)
            return
        channel_id = self.settings.organisers.alerts_channel_id
        if not channel_id or channel_id == post.channel_id:
            return  # no alerts channel, or it is the very channel that refuses us
        if post.kind == "alert":
            return  # the alerts channel itself refuses us: the log and /healthz say so
        # An outbox row like every other post: a 429, a 5xx or a crash cannot lose it.
        now = self.clock()
        alert = PlannedPost(
            key=f"{ALERT_PREFIX}{post.key}",
            kind="alert",
            due_at=now,
            channel_id=channel_id,
            payload=failure_alert(post, reason),
            subject=post.key,
        )
        if await self.store.outbox.add_once(alert, now):
            self.wakeups.schedule(alert.key, now)

    async def _dm_refused(self, post: Post, reason: str) -> None:
        if not is_dm_closed_error(reason):
            log.warning("DM %s failed for good: %s", post.key, reason)
            return
        member = dm_recipient(post.key)
        now = self.clock()
        await self.store.optin.mark_dm_closed(member, reason, now)
        for key in await self.store.outbox.keys_with_prefix(f"dm:{member}:", [PostStatus.PENDING]):
            if await self.store.outbox.cancel(key, "the member's DMs are closed", now):
                self.wakeups.unschedule(key)
        log.info("member %s has closed DMs: DM reminders paused until they opt in again", member)

    async def events_health(self) -> dict[str, Any]:
        """What /healthz and `amabot plan` say about the Discord scheduled events."""
        return {
            "enabled": self.events is not None,
            "permission_error": await self.store.events.permission_error(),
            "errors": await self.store.events.errors(),
        }

    async def health(self) -> dict[str, Any]:
        """`GET /healthz`: what an operator checks first. Failed posts come from the outbox, so
        they survive restarts; `problems` are this run's refused sends, edits and publishes."""
        counts = await self.store.outbox.counts()
        failed = await self.store.outbox.recent([PostStatus.FAILED], limit=10)
        sync = self.sync.status()
        problems = [p.as_dict() for p in list(self.dispatcher.problems)[-10:]]
        events = await self.events_health()
        now = self.clock()
        late = await self.store.outbox.overdue(now, now - OVERDUE_AFTER)
        reasons = [_late_reason(p, now) for p in late]
        if self.dispatcher.stopped:
            reasons.insert(0, f"delivery stopped: {self.dispatcher.stopped}")
        if sync["last_error"] is not None:
            reasons.append(f"content sync: {sync['last_error']}")
        if problems:
            reasons.append(f"{len(problems)} delivery problem(s) in this run (see problems)")
        if events["permission_error"]:
            reasons.append(f"scheduled events: {events['permission_error']}")
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
        }


def _late_reason(post: Post, now: datetime) -> str:
    if post.status is PostStatus.SENDING:
        since = post.claimed_at or post.updated_at or now
        return f"{post.key} stuck in sending for {short_duration(now - since)}"
    error = f" (last error: {post.last_error})" if post.last_error else ""
    return f"{post.key} overdue by {short_duration(now - post.due_at)}{error}"


def failure_alert(post: Post, reason: str) -> dict[str, Any]:
    """The note to the organisers when Discord refuses a post for good. Plain text, pings
    nobody: it is read in the organisers' own channel."""
    what = {"recap": "recap announcement", "reminder": "reminder", "announce": "announcement"}
    text = (
        f"⚠️ I could not post the {what.get(post.kind, 'post')} `{post.key}` in "
        f"<#{post.channel_id}>: {reason}.\n"
        "Check my permissions there (View Channel, Send Messages, Embed Links). "
        "`amabot plan` lists failed posts; a failed post is not retried."
    )
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}


class _EpisodesView(Mapping[str, Episode]):
    """The index's episodes as a read-only mapping, without copying 10,000 of them."""

    def __init__(self, index: ContentIndex):
        self._index = index

    def __getitem__(self, key: str) -> Episode:
        episode = self._index.episode(key)
        if episode is None:
            raise KeyError(key)
        return episode

    def __iter__(self):
        return (e.id for e in self._index.episodes())

    def __len__(self) -> int:
        return len(self._index.episodes())
