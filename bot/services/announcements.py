"""The organiser announcement workflow against the store: drafts, confirm, discard, cancel,
skip and the pending list. Discord-free: who may do it, and which channel, are the cog's
business; what it means is decided here and in bot/plan/announcements.py.

Every refusal is an `AnnouncementError` whose text the organiser reads. A draft is dropped
only after its outcome is written, so a crash in between loses nothing, and every change an
organiser makes is recorded in the audit log and told to the wake-ups at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.content.models import Episode, EventKind
from bot.plan.announcements import (
    DRAFT_PREFIX,
    DRAFT_TTL,
    LIST_PAGE,
    AnnouncementError,
    Draft,
    new_draft_id,
    page_of,
)
from bot.plan.posts import Post, PostStatus
from bot.plan.reminders import skip_week
from bot.store import DuplicateKeyError, Store

log = logging.getLogger("amabot.announcements")

NOT_FOUND = "This preview was already handled, has expired or is not yours; nothing was scheduled."


class WakeupTimes(Protocol):
    """What the workflow tells the scheduler (bot/services/wakeups.py's `Wakeups`)."""

    def schedule(self, key: str, due: datetime) -> None: ...

    def unschedule(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PendingPage:
    posts: list[Post]
    page: int
    pages: int
    total: int


class Announcements:
    def __init__(self, store: Store, clock: Clock, wakeups: WakeupTimes):
        self.store = store
        self.clock = clock
        self.wakeups = wakeups

    # -- create: a draft, then confirm or discard --------------------------------------------

    async def save_draft(
        self,
        *,
        author: int,
        channel_id: int,
        role_id: int,
        due_at: datetime,
        payload: Any,
        series: str = "",
    ) -> tuple[str, Draft]:
        """Keep the previewed post until its author confirms it; (draft id, draft).
        `series`: the series it is about (its post carries it), "" for none."""
        draft = Draft(
            author=author,
            channel_id=channel_id,
            role_id=role_id,
            due_at=due_at,
            payload=payload,
            expires_at=self.clock() + DRAFT_TTL,
            number=await self.store.outbox.next_announcement_id(),
            series=series,
        )
        draft_id = new_draft_id()
        await self.store.state.set_json(DRAFT_PREFIX + draft_id, draft.to_json())
        return draft_id, draft

    async def _take_draft(self, draft_id: str, user: int) -> Draft:
        """The caller's unexpired draft; refused otherwise (an expired one is dropped)."""
        data = await self.store.state.get_json(DRAFT_PREFIX + draft_id)
        if data is None or data.get("author") != user:
            raise AnnouncementError(NOT_FOUND)
        draft = Draft.from_json(data)
        if draft.expired(self.clock()):
            await self.store.state.delete(DRAFT_PREFIX + draft_id)
            raise AnnouncementError(
                "This preview has expired; nothing was scheduled. Run /announce create again."
            )
        return draft

    async def confirm(self, draft_id: str, user: int) -> Draft:
        """Schedule the draft's post; the draft is returned once it is."""
        draft = await self._take_draft(draft_id, user)
        now = self.clock()
        if draft.due_at <= now:
            raise AnnouncementError(
                "That time has passed while the preview was open; nothing was scheduled."
            )
        try:
            await self.store.outbox.add(draft.post(user), now)
        except DuplicateKeyError:
            await self.store.state.delete(DRAFT_PREFIX + draft_id)
            raise AnnouncementError(
                f"This preview was already handled: it is scheduled as `{draft.key}`."
            ) from None
        await self.store.state.delete(DRAFT_PREFIX + draft_id)
        await self.store.audit.record(
            "announce.create", draft.key, user, f"due {draft.due_at.isoformat()}", now
        )
        self.wakeups.schedule(draft.key, draft.due_at)
        log.info("organiser %s scheduled %s for %s", user, draft.key, draft.due_at.isoformat())
        return draft

    async def discard(self, draft_id: str, user: int) -> None:
        """Drop the draft; refused when it was confirmed already (cancel the post instead)."""
        draft = await self._take_draft(draft_id, user)
        if await self.store.outbox.get(draft.key) is not None:
            raise AnnouncementError(
                f"Already scheduled as `{draft.key}`; use /announce cancel to stop it."
            )
        await self.store.state.delete(DRAFT_PREFIX + draft_id)

    # -- list, cancel, skip ------------------------------------------------------------------

    async def pending_page(self, page: int) -> PendingPage:
        """One page of pending posts, soonest first."""
        counts = await self.store.outbox.counts()
        total = counts.get(PostStatus.PENDING, 0)
        page, pages, offset = page_of(total, page)
        posts = await self.store.outbox.pending(limit=LIST_PAGE, offset=offset)
        return PendingPage(posts=list(posts), page=page, pages=pages, total=total)

    async def pending_keys(self, current: str, limit: int = 25) -> list[str]:
        needle = current.strip().lower()[:100]
        posts = await self.store.outbox.pending(limit=500)
        return [p.key for p in posts if needle in p.key.lower()][:limit]

    async def cancel(self, key: str, who: int) -> None:
        """Cancel one pending post, recorded with who cancelled it."""
        now = self.clock()
        if not await self.store.outbox.cancel(key, f"cancelled by organiser {who}", now, by=who):
            post = await self.store.outbox.get(key)
            state = f"it is {post.status}" if post else "there is no such post"
            raise AnnouncementError(f"Nothing to cancel: {state}. See /announce list.")
        await self.store.audit.record("post.cancel", key, who, "", now)
        self.wakeups.unschedule(key)
        log.info("organiser %s cancelled %s", who, key)

    async def skip(
        self, episode: Episode, event: str, who: int, offsets: Iterable[timedelta]
    ) -> list[str]:
        """Cancel this week's pending reminders for one event ("both": either); their keys."""
        now = self.clock()
        kind: EventKind | None = None if event == "both" else event  # type: ignore[assignment]
        cancelled = []
        for key in skip_week(episode, kind, now, offsets=offsets):
            if await self.store.outbox.cancel(
                key, f"skipped this week by organiser {who}", now, by=who
            ):
                cancelled.append(key)
                self.wakeups.unschedule(key)
        if not cancelled:
            raise AnnouncementError(f"No pending reminders for {episode.code} ({event}) to skip.")
        await self.store.audit.record(
            "reminders.skip", f"{episode.id}:{event}", who, ",".join(cancelled), now
        )
        log.info("organiser %s skipped %s", who, ", ".join(cancelled))
        return cancelled
