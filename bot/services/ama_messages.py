"""The AMA's messages: a session's posts planned and reconciled into the outbox (which sends
them once across crashes), and vote counts edited in coalesced batches: at most
`EDITS_PER_WINDOW` messages per thread in any `EDIT_WINDOW`, the longest waiting first, so a
vote storm never meets Discord's edit limit head-on. Also the shared footing of the AMA's
parts (`AmaContext`, `AmaPart`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.config import AmaSettings, Settings
from bot.plan import ama_posts
from bot.render import ama as render
from bot.store import Store

log = logging.getLogger("amabot.ama")

WAKE_PREFIX = "amawake:"  # a session's clock (open, close) and its places and edits
EDIT_WINDOW = timedelta(seconds=5)
EDITS_PER_WINDOW = 4  # Discord allows about 5 edits per 5 s in a channel


@dataclass(frozen=True, slots=True)
class AmaContext:
    """What every part of one series' AMA shares."""

    store: Store
    settings: Settings
    clock: Clock
    schedule: Callable[[str, datetime], None]
    deliver: Callable[[], Awaitable[object]]
    series: str
    guild_id: int
    places: ama_posts.AmaPlaces


class AmaPart:
    """A part of the AMA service, over the shared `AmaContext`."""

    def __init__(self, ctx: AmaContext):
        self.store = ctx.store
        self.settings = ctx.settings
        self.cfg: AmaSettings = ctx.settings.ama
        self.clock = ctx.clock
        self._schedule = ctx.schedule
        self._deliver = ctx.deliver
        self.series = ctx.series
        self.guild_id = ctx.guild_id
        self.places = ctx.places

    @property
    def series_name(self) -> str:
        return self.settings.series.name


@dataclass(slots=True)
class _Dirty:
    """A session's counts waiting to be shown, and the edits of the last window (monotonic
    seconds: Discord's rate limits run on real time, whatever the injected clock says)."""

    questions: dict[int, None] = field(default_factory=dict)  # oldest change first
    board: bool = False
    scheduled: bool = False
    thread_edits: deque[float] = field(default_factory=deque)
    board_edits: deque[float] = field(default_factory=deque)


class AmaMessages(AmaPart):
    """A session's posts in the outbox, and the coalesced edits of its counts."""

    def __init__(self, ctx: AmaContext):
        super().__init__(ctx)
        self._shown_locks: dict[int, asyncio.Lock] = {}
        self._dirty: dict[int, _Dirty] = {}
        self._lock = asyncio.Lock()  # one reconcile of AMA posts at a time

    async def sync_posts(self, session_id: int, keys: Sequence[str] | None = None) -> None:
        """Reconcile the session's posts into the outbox (only ``keys`` when given) and wake
        delivery for what is new or changed."""
        session = await self.store.ama.session(session_id)
        if session is None:
            return
        questions = await self.store.ama.questions(session_id)
        now = self.clock()
        plan = ama_posts.session_posts(session, questions, self.places, self.series_name, now)
        if keys is not None:
            wanted = set(keys)
            plan = [p for p in plan if p.key in wanted]
        async with self._lock:
            report = await self.store.outbox.reconcile(
                plan,
                scope=ama_posts.scope(session.key),
                now=now,
                only=keys,
                reason_missing="no longer part of the AMA",
            )
        if report.inserted or report.edit_needed or report.moved or report.revived:
            for key in (*report.inserted, *report.moved, *report.revived):
                self._schedule(key, now)
            await self._deliver()

    def mark_dirty(self, session_id: int, question_id: int | None, board: bool = True) -> None:
        dirty = self._dirty.setdefault(session_id, _Dirty())
        if question_id is not None:
            dirty.questions.setdefault(question_id, None)
        dirty.board = dirty.board or board
        if not dirty.scheduled:
            dirty.scheduled = True
            self._schedule(f"{WAKE_PREFIX}{session_id}:edits", self.clock() + _wait(dirty))

    async def flush(self, session_id: int) -> None:
        """One batch of coalesced edits: at most `EDITS_PER_WINDOW` question messages in the
        thread per `EDIT_WINDOW` (a sliding window, so back-to-back batches cannot add up past
        it), the ones changed longest ago first; the board, in a thread of its own, has its own
        budget. What does not fit waits until the window has room."""
        dirty = self._dirty.get(session_id)
        if dirty is None:
            return
        session = await self.store.ama.session(session_id)
        if session is None:
            self._dirty.pop(session_id, None)
            return
        now = time.monotonic()
        keys: list[str] = []
        if dirty.board and _room(dirty.board_edits, now):
            keys.append(ama_posts.board_key(session))
            dirty.board = False
            dirty.board_edits.append(now)
        batch = list(dirty.questions)[: _room(dirty.thread_edits, now)]
        for qid in batch:
            del dirty.questions[qid]
            dirty.thread_edits.append(now)
        keys += [ama_posts.question_key(session.key, q) for q in batch]
        try:
            if keys:
                await self.sync_posts(session_id, keys)
        finally:
            # The window counts from when Discord got the edits (the pass just made them),
            # not from when they were planned.
            done = time.monotonic()
            for edits, n in (
                (dirty.board_edits, len(keys) - len(batch)),
                (dirty.thread_edits, len(batch)),
            ):
                for _ in range(n):
                    edits.pop()
                edits.extend([done] * n)
            if dirty.questions or dirty.board:
                self._schedule(f"{WAKE_PREFIX}{session_id}:edits", self.clock() + _wait(dirty))
            else:
                dirty.scheduled = False

    async def after_question_change(self, session_id: int, question_id: int) -> None:
        session = await self.store.ama.session(session_id)
        if session is None:
            return
        keys = [
            ama_posts.question_key(session.key, question_id),
            ama_posts.review_key(session.key, question_id),
        ]
        await self.sync_posts(session_id, keys)
        # The board counts every question: it is edited in the coalesced batches, within its
        # thread's budget, or a storm of questions would edit it once per question.
        self.mark_dirty(session_id, None)

    async def mark_merged(self, session_id: int, question_id: int) -> None:
        """A merged question leaves the plan, but its public message (if it went out) must
        not keep taking votes: it says where it went, its button disabled."""
        session = await self.store.ama.session(session_id)
        question = await self.store.ama.question(question_id)
        if session is None or question is None:
            return
        key = ama_posts.question_key(session.key, question_id)
        if await self.store.outbox.request_edit(
            key, render.question_message(question), self.clock()
        ):
            await self._deliver()

    async def show_on_click(
        self, question_id: int, update: Callable[[dict[str, Any]], Awaitable[object]]
    ) -> bool:
        """The clicked question message brought up to date by the click's own answer
        (`update` edits it through the interaction, which Discord does not count against
        the channel's edit limit, old messages included), then remembered as shown, so the
        batched edits have nothing left to do for it. One at a time per question: the last
        answer to land shows the latest count."""
        lock = self._shown_locks.setdefault(question_id, asyncio.Lock())
        async with lock:
            question = await self.store.ama.question(question_id)
            sid = await self.store.ama.session_id_of(question_id)
            session = await self.store.ama.session(sid) if sid is not None else None
            if question is None or session is None:
                return False
            post = ama_posts.question_post(session, question, self.clock())
            if post is None:
                return False
            await update(post.payload)
            return await self.store.outbox.shown(post.key, post.payload, self.clock())


def _room(edits: deque[float], now: float) -> int:
    """How many edits the sliding window still allows (forgetting those older than it)."""
    window = EDIT_WINDOW.total_seconds()
    while edits and now - edits[0] >= window:
        edits.popleft()
    return max(EDITS_PER_WINDOW - len(edits), 0)


def _wait(dirty: _Dirty) -> timedelta:
    """Until the next edit the dirty messages need fits in its window (0: now)."""
    now = time.monotonic()
    waits = []
    if dirty.questions:
        waits.append(_until_room(dirty.thread_edits, now))
    if dirty.board:
        waits.append(_until_room(dirty.board_edits, now))
    return timedelta(seconds=min(waits, default=0.0))


def _until_room(edits: deque[float], now: float) -> float:
    if _room(edits, now) > 0:
        return 0.0
    return max(edits[0] + EDIT_WINDOW.total_seconds() - now, 0.0) + 0.01
