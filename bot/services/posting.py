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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.identity import announcement_ids, new_aliases, renamed
from bot.content.index import ContentIndex
from bot.content.models import Episode, Recap
from bot.durations import short_duration
from bot.plan.auto_start import may_start, start_check_times
from bot.plan.late import Decision, payload_for
from bot.plan.optin import (
    RECAP_ANNOUNCEMENT_PREFIX,
    Mode,
    dm_recipient,
    is_dm_closed_error,
    is_recap_dm_key,
    plan_dm_followups,
    plan_dm_reminders,
)
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.plan.recaps import backlog_cutoff, plan_recap_announcements
from bot.plan.reminders import FOLLOW_UP_WINDOW, plan_reminder_followups, plan_reminders
from bot.plan.scheduled_events import (
    EventReconciler,
    EventsApi,
    EventsReport,
    plan_guild_events,
    transition_times,
)
from bot.services.delivery import DeliveryPolicy, Dispatcher, Sender, StopHook
from bot.services.event_sync import DiscordSideSync, SyncReport
from bot.services.gitsync import ContentSync, GitContent, PullResult
from bot.services.recap_plan import IncrementalRecapPlan
from bot.services.wakeups import Wakeups

log = logging.getLogger("amabot.posting")

ALERT_PREFIX = "alert:"  # organiser alerts: one outbox row per refused post
# /healthz says not-ok while a post is this late (pending) or claimed this long (sending).
OVERDUE_AFTER = timedelta(minutes=5)
EVENTS_WAKE_PREFIX = "events:"  # wake-ups that run the scheduled events reconcile (auto_start)
STATE_COMMIT = "content.last_commit"
STATE_RELOADED = "content.last_reload_at"
RECAP_ALIAS_PREFIX = "recap.alias:"  # state rows: file-name id of a renamed recap -> its old id


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
            self.events = EventReconciler(
                store.events, events_api, settings, may_start=self._auto_start_gate(events_api)
            )
        self._events_lock = asyncio.Lock()
        self._events_api = events_api
        self.last_discord_sync: SyncReport | None = None
        self._event_wakes: dict[str, datetime] = {}
        self.last_events_report: EventsReport | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self.last_reload_at: datetime | None = None
        self._recap_cache: dict[tuple[Recap, Episode | None, str], PlannedPost] = {}
        self._cache_authors: dict[str, Any] | None = None
        self._recap_aliases: dict[str, str] = {}
        # Incremental planning: what the content changes since the last pass touched.
        self._recap_plan = IncrementalRecapPlan()
        self._changed_paths: set[str] = set()
        self._changed_episodes: set[str] = set()
        self.setup_problems: list[dict[str, str]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover, reconcile and schedule; never waits on Discord. Posts already due go out
        from their wake-ups as soon as the event loop runs them."""
        # Before anything reads reminder keys: rows of the previous version get their instant.
        upgraded = await self.store.outbox.upgrade_reminder_keys()
        if upgraded:
            log.info("%d reminder rows of the previous version now carry their instant", upgraded)
        self._recap_aliases = await self.store.state.with_prefix(RECAP_ALIAS_PREFIX)
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
            before = self._recaps_at(paths)
            report = await asyncio.to_thread(self._reload, paths)
            if paths is None:
                self._recap_plan.invalidate()  # a rescan: the next pass plans everything
            else:
                self._changed_paths |= report.added | report.changed | report.removed
                self._changed_episodes |= report.episodes_changed
            await self._follow_recap_renames(before, report, result)
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
            await self._alert_history_rewritten(result)
        await self.reconcile(incremental=True)
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

    async def _alert_history_rewritten(self, result: PullResult) -> None:
        """Tell the organisers once per rewrite, through the outbox (so a crash or an outage
        does not lose it and a restart does not repeat it)."""
        if not self.settings.organisers.alerts_channel_id:
            log.warning("content history rewritten; no [organisers] alerts_channel_id to say so")
            return
        await self._alert_organisers(
            f"rewritten:{result.after}", history_rewritten_alert(result), subject="content"
        )

    def _recaps_at(self, paths: tuple[str, ...] | None) -> dict[str, Recap]:
        rels = self.index.recap_paths() if paths is None else paths
        return {rel: r for rel in rels if (r := self.index.recap_at(rel)) is not None}

    async def _follow_recap_renames(
        self, before: Mapping[str, Recap], report: Any, result: PullResult | None
    ) -> None:
        """A recap that moved to a new path keeps its announcement id (bot/content/identity)."""
        gone = {rel: r for rel, r in before.items() if self.index.recap_at(rel) is None}
        if not gone:
            return
        arrived = {
            rel: r
            for rel in (*report.added, *report.changed)
            if rel not in before and (r := self.index.recap_at(rel)) is not None
        }
        pairs = renamed(gone, arrived, result.renamed if result is not None else ())
        for new_id, old_id in new_aliases(pairs, self._recap_aliases).items():
            await self.store.state.set(RECAP_ALIAS_PREFIX + new_id, old_id)
            self._recap_aliases[new_id] = old_id
            log.info("recap %s was renamed: it keeps the announcement of %s", new_id, old_id)

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
        summary = await self._reconcile_outbox(incremental=incremental)
        if events and self.events is not None:
            await self.reconcile_events()
        return summary

    async def _reconcile_outbox(self, *, incremental: bool = False) -> ReconcileSummary:
        async with self._reconcile_lock:
            now = self.clock()
            episodes = {e.id: e for e in self.index.episodes()}
            if (
                incremental
                and self._recap_plan.state is not None
                and not self.store.first_start
                and self.index.authors == self._cache_authors
            ):
                recaps = await self._reconcile_recaps_incrementally(episodes, now)
                backlog: list[str] = []
            else:
                recaps, backlog = await self._reconcile_all_recaps(episodes, now)
            await self._settle_expired(now)
            reminder_plan = plan_reminders(episodes.values(), self.settings, now)
            reminders = await self.store.outbox.reconcile(
                reminder_plan,
                scope="reminder:",
                now=now,
                reason_missing="episode cancelled, moved or made TBD",
            )
            followups = await self._follow_up(
                "reminder:", plan_reminder_followups, reminder_plan, episodes, now
            )
            dms, dm_plan = await self._reconcile_dms_locked(episodes.values(), now)
            dm_followups = await self._follow_up("dm:", plan_dm_followups, dm_plan, episodes, now)
            await self.rebuild_wakeups()
            return ReconcileSummary(
                inserted=(*recaps.inserted, *reminders.inserted, *dms.inserted),
                moved=(*recaps.moved, *reminders.moved, *dms.moved),
                cancelled=(*recaps.cancelled, *reminders.cancelled, *dms.cancelled),
                edits=(
                    *recaps.edit_needed,
                    *reminders.edit_needed,
                    *followups,
                    *dm_followups,
                ),
                backlog=tuple(backlog),
            )

    async def _reconcile_all_recaps(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> tuple[Any, list[str]]:
        self._changed_paths, self._changed_episodes = set(), set()
        # Rendering 10,000 announcements takes a while: off the event loop, so the
        # gateway heartbeat and slash commands are not held up.
        pairs = await asyncio.to_thread(self._plan_recaps, episodes, now)
        recap_plan = [post for _, post in pairs]
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
        report = await self.store.outbox.reconcile(
            recap_plan, scope="recap:", now=now, reason_missing="recap removed or unpublished"
        )
        return report, backlog

    async def _reconcile_recaps_incrementally(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> Any:
        paths, episode_ids = self._changed_paths, self._changed_episodes
        self._changed_paths, self._changed_episodes = set(), set()

        def plan_one(recap: Recap, rid: str) -> PlannedPost:
            return plan_recap_announcements(
                [recap],
                episodes=episodes,
                authors=self.index.authors,
                settings=self.settings,
                now=now,
                ids={recap.path: rid},
            )[0]

        planned, touched = self._recap_plan.update(
            index=self.index,
            paths=paths,
            episode_ids=episode_ids,
            now=now,
            aliases=self._recap_aliases,
            plan_one=plan_one,
        )
        return await self.store.outbox.reconcile(
            planned,
            scope="recap:",
            now=now,
            reason_missing="recap removed or unpublished",
            only=touched,
        )

    async def _follow_up(
        self,
        prefix: str,
        follow_ups: Any,
        plan: list[PlannedPost],
        episodes: Mapping[str, Episode],
        now: datetime,
    ) -> list[str]:
        """Sent reminders (channel ones, or members' DMs) whose event moved or was cancelled
        are edited to say so (once: the same follow-up planned again is the payload already
        stored)."""
        sent = await self.store.outbox.sent_with_event_after(prefix, now - FOLLOW_UP_WINDOW)
        planned = {p.key for p in plan}
        edited = []
        for key, payload in follow_ups(sent, planned, episodes, self.settings, now):
            if await self.store.outbox.request_edit(key, payload, now):
                edited.append(key)
        if edited:
            log.info("%d sent %s edited: their event moved or was cancelled", len(edited), prefix)
        return edited

    # -- members' DM reminders and Discord scheduled events ---------------------------------

    async def reconcile_dms(self) -> Any:
        """Re-plan the members' DM reminders alone: after a /notify choice, a "Stop these"
        click or an "Interested" mark. Cheap: no recap is rendered."""
        async with self._reconcile_lock:
            report, _ = await self._reconcile_dms_locked(self.index.episodes(), self.clock())
            await self.rebuild_wakeups()
            return report

    async def _reconcile_dms_locked(
        self, episodes: Any, now: datetime
    ) -> tuple[Any, list[PlannedPost]]:
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
        report = await self.store.outbox.reconcile(
            plan,
            scope="dm:",
            now=now,
            reason_missing="member opted out, DMs closed, or the event changed",
        )
        return report, plan

    async def _recap_announcements_for_dms(
        self, prefs: Any, closed: frozenset[int], now: datetime
    ) -> list[Post]:
        """The recap announcement rows recap DMs may follow: read only when some member wants
        recap DMs, and only those unsent or sent since the earliest such choice (not the
        whole archive)."""
        since = [
            p.since or now
            for p in prefs
            if p.stream == "recaps" and p.mode is Mode.DM and p.member_id not in closed
        ]
        if not since:
            return []
        return await self.store.outbox.unsent_or_sent_since(RECAP_ANNOUNCEMENT_PREFIX, min(since))

    def _auto_start_gate(self, api: Any) -> Any:
        """auto_start starts an event only with people in its channel (bot/plan/auto_start)."""
        if not self.settings.events.auto_start or not hasattr(api, "stage_presence"):
            return None
        hosts = self.settings.organisers.role_ids
        after = self.settings.events.auto_start_after

        def gate(spec: Any, now: datetime) -> bool:
            return may_start(spec, now, api.stage_presence(spec.channel_id, hosts), after)

        return gate

    async def sync_with_discord(self) -> EventsReport | None:
        """Re-read Discord's side of our scheduled events (at start-up and at every READY:
        bot/services/event_sync.py), then run the events pass on what it found. A failure is
        logged; the events pass runs anyway."""
        if self.events is None:
            return None
        api = self._events_api
        if hasattr(api, "list_events") and hasattr(api, "event_users"):
            bot_id = api.bot_user_id() if hasattr(api, "bot_user_id") else 0
            sync = DiscordSideSync(self.store.events, self.store.optin, api, self.settings)
            async with self._events_lock:
                try:
                    report = await sync.run(self.index.episodes(), self.clock(), bot_id=bot_id)
                except Exception:
                    log.exception("re-reading Discord's scheduled events failed")
                    report = None
            self.last_discord_sync = report
            if report is not None and report.interest_changed:
                log.info(
                    "Interested while we were away: %d added, %d removed",
                    report.interest_added,
                    report.interest_removed,
                )
                await self.reconcile_dms()
        return await self.reconcile_events()

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
                after = self.settings.events.auto_start_after
                times = {*transition_times(plan, now), *start_check_times(plan, now, after)}
                self._event_wakes = {f"{EVENTS_WAKE_PREFIX}{t.isoformat()}": t for t in times}
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

    def _plan_recaps(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> list[tuple[str, PlannedPost]]:
        """plan_recap_announcements, remembering each announcement by its inputs; (path,
        announcement) pairs, and the incremental plan rebuilt from them.

        Planning is pure, so an unchanged (recap, episode) pair renders the same payload: a
        pull that changed one file re-renders one announcement, not 10,000. Keys compare by
        value, so a reloaded but identical file is a hit too."""
        authors = self.index.authors
        if authors != self._cache_authors:
            self._recap_cache = {}
            self._cache_authors = dict(authors)
        previous, kept = self._recap_cache, {}
        planned: list[tuple[str, PlannedPost]] = []
        recaps = self.index.recaps()
        ids = announcement_ids(recaps, self._recap_aliases) if self._recap_aliases else None
        for recap in recaps:
            if not recap.is_published(now):
                continue
            episode = episodes.get(recap.episode_id) if recap.episode_id else None
            rid = ids.get(recap.path, recap.id) if ids is not None else recap.id
            key: tuple[Recap, Episode | None, str] | None = (recap, episode, rid)
            try:
                post = previous.get(key)
            except TypeError:  # an unhashable field somewhere: just render it
                key, post = None, None
            if post is None:
                post = plan_recap_announcements(
                    [recap],
                    episodes=episodes,
                    authors=authors,
                    settings=self.settings,
                    now=now,
                    ids={recap.path: rid},
                )[0]
            if key is not None:
                kept[key] = post
            planned.append((recap.path, post))
        self._recap_cache = kept
        planned.sort(key=lambda pair: (pair[1].due_at, pair[1].key))
        self._recap_plan.rebuild(recaps, planned, now)
        return planned

    async def rebuild_wakeups(self) -> None:
        # Keys and times only: decoding every pending payload here held the loop for 150 ms
        # with a thousand reminders. The auto_start transitions are not outbox rows: keep
        # their wake-ups too (one that has come but not run yet runs at once).
        wakes = await self.store.outbox.wake_times()
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
        await self._alert_organisers(post.key, failure_alert(post, reason), subject=post.key)

    async def _alert_organisers(self, key: str, payload: dict[str, Any], *, subject: str) -> None:
        """One note in `[organisers] alerts_channel_id`, once per key. An outbox row like
        every other post, so a 429, a 5xx or a crash cannot lose it; of kind "alert", so it
        is never dropped for being late and never published."""
        channel_id = self.settings.organisers.alerts_channel_id
        if not channel_id:
            return
        now = self.clock()
        alert = PlannedPost(
            key=f"{ALERT_PREFIX}{key}",
            kind="alert",
            due_at=now,
            channel_id=channel_id,
            payload=payload,
            subject=subject,
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
        reasons.extend(f"set-up: {p['problem']}" for p in self.setup_problems)
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
        "Check my permissions there (`amabot doctor` says which are missing). Once they are "
        "back I send it, if still in time; `amabot plan` lists failed posts."
    )
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}


def history_rewritten_alert(result: PullResult) -> dict[str, Any]:
    """The note to the organisers after a force-push was followed. Plain text, pings nobody."""
    before, after = (result.before or "?")[:12], (result.after or "?")[:12]
    text = (
        f"⚠️ The content repository's history was rewritten (force-push on "
        f"`{result.branch or 'the content branch'}`). I followed it: my copy went from "
        f"`{before}` to `{after}` ({len(result.changed_paths)} files differ) and I re-planned "
        "from the new tree. What was already posted stays posted and is not announced again; "
        "new content is announced as usual. Nothing for you to do unless that is a surprise."
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
