"""The plan written into the outbox, one scope at a time: recap announcements (``recap:``),
channel reminders (``reminder:``) and members' DM reminders (``dm:``), with the edits of sent
reminders whose event moved and the settling of posts past their deadline.

Planning itself is pure (bot/plan/, and bot/services/recap_plan.py for the recaps); this is
where its result meets the store. One pass at a time: `lock` is held for the whole pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.models import Episode
from bot.plan.kinds import scoped_id
from bot.plan.optin import RECAP_ANNOUNCEMENT_PREFIX, Mode, plan_dm_followups, plan_dm_reminders
from bot.plan.posts import PlannedPost, Post
from bot.plan.recaps import backlog_cutoff
from bot.plan.reminders import FOLLOW_UP_WINDOW, plan_reminder_followups, plan_reminders
from bot.services.delivery import Dispatcher
from bot.services.recap_plan import RecapPlanner
from bot.store import Store

log = logging.getLogger("amabot.posting")


@dataclass(frozen=True, slots=True)
class ReconcileSummary:
    inserted: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    edits: tuple[str, ...] = ()
    backlog: tuple[str, ...] = ()


class OutboxReconciler:
    """Brings the outbox in line with the plan, scope by scope, then has the wake-ups
    rebuilt from the pending rows (`rebuild_wakeups`)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        index: ContentIndex,
        clock: Clock,
        planner: RecapPlanner,
        dispatcher: Dispatcher,
        rebuild_wakeups: Callable[[], Awaitable[None]],
        lock: asyncio.Lock | None = None,
    ):
        self.settings = settings
        self.store = store
        self.index = index
        self.clock = clock
        self.planner = planner
        self.dispatcher = dispatcher
        self.rebuild_wakeups = rebuild_wakeups
        # Shared by every series' reconciler: one outbox pass at a time.
        self.lock = lock if lock is not None else asyncio.Lock()

    async def reconcile(self, *, incremental: bool = False) -> ReconcileSummary:
        """Plan and write the outbox (recaps, reminders, members' DMs).

        `incremental`: re-plan only the recaps the content changes since the last pass
        touched (bot/services/recap_plan.py); a full pass when there is no plan to update."""
        async with self.lock:
            now = self.clock()
            episodes = {e.id: e for e in self.index.episodes()}
            if incremental and self.planner.can_update() and not self.store.first_start:
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
            # Sent keys name this series' episodes by their scoped id (`scoped_id`).
            keyed = self._keyed(episodes)
            followups = await self._follow_up(
                "reminder:", plan_reminder_followups, reminder_plan, keyed, now
            )
            dms, dm_plan = await self._reconcile_dms_locked(episodes.values(), now)
            dm_followups = await self._follow_up("dm:", plan_dm_followups, dm_plan, keyed, now)
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

    def _keyed(self, episodes: Mapping[str, Episode]) -> Mapping[str, Episode]:
        """The episodes by the id their keys carry (bare for the home series)."""
        prefix = self.settings.series.key_prefix
        if not prefix:
            return episodes
        return {scoped_id(self.settings, e.id): e for e in episodes.values()}

    async def _reconcile_all_recaps(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> tuple[Any, list[str]]:
        self.planner.take_changes()  # a full pass covers them
        # Rendering 10,000 announcements takes a while: off the event loop, so the
        # gateway heartbeat and slash commands are not held up.
        pairs = await asyncio.to_thread(self.planner.plan_all, episodes, now)
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
            if self.dispatcher.metrics is not None:
                kinds = {p.key: p.kind for p in old}
                for key in backlog:
                    self.dispatcher.metrics.post_outcome(
                        kinds[key], "skipped", series=self.settings.series.id
                    )
        report = await self.store.outbox.reconcile(
            recap_plan, scope="recap:", now=now, reason_missing="recap removed or unpublished"
        )
        return report, backlog

    async def _reconcile_recaps_incrementally(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> Any:
        planned, touched = self.planner.plan_changed(episodes, now)
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

    # -- members' DM reminders ---------------------------------------------------------------

    async def reconcile_dms(self) -> Any:
        """Re-plan the members' DM reminders alone: after a /notify choice, a "Stop these"
        click or an "Interested" mark. Cheap: no recap is rendered."""
        async with self.lock:
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
