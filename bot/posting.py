"""Everything the bot posts on its own, wired together: content -> plan -> outbox -> delivery.

Discord-free: the Discord sender is injected. The owner (the posting cog, or a test) calls
`start()` once and `stop()` once. Every background task started here has an owner that logs
its failure.

Flow on every content change (webhook, poll, or start-up):
reload the index (only changed files) -> plan recap announcements and reminders (pure) ->
reconcile the plan into the outbox -> rebuild the wake-ups from pending rows -> deliver due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.models import Episode
from bot.delivery import Dispatcher, Sender
from bot.gitsync import ContentSync, GitContent, PullResult
from bot.planning import (
    Decision,
    backlog_cutoff,
    payload_for,
    plan_recap_announcements,
    plan_reminders,
)
from bot.posts import Post, PostStatus
from bot.wakeups import Wakeups

log = logging.getLogger("amabot.posting")

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
            on_failure=self._failure_noted,
        )
        self.wakeups = Wakeups(
            self.dispatcher.deliver, self.deliver_due, clock=clock, sweep_interval=sweep_interval
        )
        self.sync = ContentSync(
            git,
            on_change=self.on_content_change,
            interval=settings.content.poll_interval,
        )
        self._reconcile_lock = asyncio.Lock()
        self._sync_task: asyncio.Task[None] | None = None
        self.last_reload_at: datetime | None = None
        self.failures: list[tuple[str, str]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.dispatcher.recover()
        await self.reconcile()
        self.wakeups.start()
        self._sync_task = asyncio.create_task(self._run_sync(), name="amabot-content-sync")
        # Merges that landed while the bot was down are picked up at once, not one poll later.
        self.sync.request_pull("startup")
        await self.deliver_due()

    async def stop(self) -> None:
        self.sync.stop()
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

    async def reconcile(self) -> ReconcileSummary:
        async with self._reconcile_lock:
            now = self.clock()
            episodes = {e.id: e for e in self.index.episodes()}
            recap_plan = plan_recap_announcements(
                self.index.recaps(),
                episodes=episodes,
                authors=self.index.authors,
                settings=self.settings,
                now=now,
            )
            backlog: list[str] = []
            if self.store.first_start:
                cutoff = backlog_cutoff(self.settings, now)
                fresh = []
                for planned in recap_plan:
                    if planned.due_at < cutoff and await self.store.outbox.get(planned.key) is None:
                        await self.store.outbox.insert_skipped(planned, "backlog", now)
                        backlog.append(planned.key)
                    else:
                        fresh.append(planned)
                recap_plan = fresh
                await self.store.mark_initialised(now)
                if backlog:
                    log.info("first start: %d existing recaps recorded as backlog", len(backlog))
            recaps = await self.store.outbox.reconcile(
                recap_plan, scope="recap:", now=now, reason_missing="recap removed or unpublished"
            )
            reminder_plan = plan_reminders(episodes.values(), self.settings, now)
            reminders = await self.store.outbox.reconcile(
                reminder_plan,
                scope="reminder:",
                now=now,
                reason_missing="episode cancelled, moved or made TBD",
            )
            await self.rebuild_wakeups()
            return ReconcileSummary(
                inserted=(*recaps.inserted, *reminders.inserted),
                moved=(*recaps.moved, *reminders.moved),
                cancelled=(*recaps.cancelled, *reminders.cancelled),
                edits=tuple(recaps.edit_needed),
                backlog=tuple(backlog),
            )

    async def rebuild_wakeups(self) -> None:
        pending = await self.store.outbox.pending()
        self.wakeups.rebuild((p.key, p.wake_at) for p in pending)

    async def deliver_due(self) -> int:
        return await self.dispatcher.deliver_due()

    def _payload_for(self, decision: Decision, post: Post) -> dict[str, Any] | None:
        return payload_for(
            decision, post, episodes=_EpisodesView(self.index), settings=self.settings
        )

    # -- reporting -------------------------------------------------------------------------

    async def _failure_noted(self, post: Post, reason: str) -> None:
        self.failures.append((post.key, reason))
        del self.failures[:-50]

    async def health(self) -> dict[str, Any]:
        counts = await self.store.outbox.counts()
        return {
            "last_commit": await self.store.state.get(STATE_COMMIT),
            "last_reload_at": await self.store.state.get(STATE_RELOADED),
            "posts": {
                "pending": counts.get(PostStatus.PENDING, 0) + counts.get(PostStatus.SENDING, 0),
                "sent": counts.get(PostStatus.SENT, 0),
                "failed": counts.get(PostStatus.FAILED, 0),
                "skipped": counts.get(PostStatus.SKIPPED, 0),
            },
            "content_problems": sum(1 for p in self.index.problems if p.severity == "error"),
        }


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
