"""The AMA, run: sessions made from the content and moved by the clock, organisers and the
Discord event; members' questions, review, votes and the host board; askers told; the record
written back. Discord-free: messages are outbox posts (bot/plan/ama_posts.py), and the few
things that are not messages (threads) go through `AmaDiscord`.

Every change is first a guarded move in the store (so a double click does one thing and the
member is told only what is durable), then the posts it calls for are planned and reconciled
into the outbox, which sends them once across crashes. Vote counts are edited in coalesced
batches: at most `EDITS_PER_WINDOW` messages per thread in any `EDIT_WINDOW`, the longest waiting
first, so a vote storm never meets Discord's edit limit head-on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.config import AmaSettings, Settings
from bot.content.models import Episode, EpisodeStatus
from bot.plan import ama_posts
from bot.plan.ama import (
    OPEN_STATES,
    AmaKey,
    AmaLimits,
    AmaSession,
    Phase,
    Question,
    QuestionMove,
    QuestionState,
    Refusal,
    Refused,
    ReviewMode,
    SessionMove,
    SessionState,
    clean_question,
    due_move,
    first_state,
    merge_candidates,
    session_times,
    similar_questions,
)
from bot.plan.kinds import ama_dm_key
from bot.plan.posts import PlannedPost
from bot.render import ama as render
from bot.render.ama_record import RecordHeader, render_record
from bot.render.limits import allowed_mentions
from bot.services.ama_record import RecordPublisher, RecordResult
from bot.store import Store
from bot.store.interface import Moved, Voted

log = logging.getLogger("amabot.ama")

WAKE_PREFIX = "amawake:"  # a session's clock (open, close) and its places and edits
EDIT_WINDOW = timedelta(seconds=5)
EDITS_PER_WINDOW = 4  # Discord allows about 5 edits per 5 s in a channel
PLACES_RETRY = timedelta(seconds=2)
DRAFT_TTL = timedelta(minutes=10)


class AmaDiscord(Protocol):
    """What the AMA needs from Discord besides messages (those go through the outbox)."""

    async def start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        """The public thread on the prompt (its id is the message's; a second start finds
        the first)."""
        ...

    async def private_thread(self, channel_id: int, name: str) -> int:
        """A private thread in ``channel_id`` named ``name``, found again if the bot made it
        before (after a crash between making it and recording it)."""
        ...

    async def add_to_thread(self, thread_id: int, member_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class AskOutcome:
    """What a member's question came to. ``stored``: durable (the receipt may be shown)."""

    stored: Question | None = None
    refused: Refused | None = None
    similar: tuple[Question, ...] = ()
    draft: int | None = None  # with `similar`: "Ask mine anyway" asks this draft

    @property
    def message(self) -> str:
        if self.refused is not None:
            return self.refused.message
        return ""


@dataclass(slots=True)
class _Draft:
    session_id: int
    member_id: int
    name: str
    text: str
    anonymous: bool
    notify: bool
    made: datetime


@dataclass(slots=True)
class _Dirty:
    """A session's counts waiting to be shown, and the edits of the last window (monotonic
    seconds: Discord's rate limits run on real time, whatever the injected clock says)."""

    questions: dict[int, None] = field(default_factory=dict)  # oldest change first
    board: bool = False
    scheduled: bool = False
    thread_edits: deque[float] = field(default_factory=deque)
    board_edits: deque[float] = field(default_factory=deque)


class AmaService:
    """One series' AMAs (``series`` is the show's id; the AMA's posts carry it in their keys)."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        clock: Clock,
        schedule: Callable[[str, datetime], None],
        deliver: Callable[[], Awaitable[object]],
        series: str,
        guild_id: int,
        discord: AmaDiscord | None = None,
        publisher: RecordPublisher | None = None,
    ):
        self.store = store
        self.settings = settings
        self.cfg: AmaSettings = settings.ama
        self.clock = clock
        self._schedule = schedule
        self._deliver = deliver
        self.series = series
        self.guild_id = guild_id
        self.discord = discord
        self.publisher = publisher
        self.limits = AmaLimits(
            min_length=self.cfg.min_length,
            max_length=self.cfg.max_length,
            max_open=self.cfg.max_open,
            max_per_ama=self.cfg.max_per_ama,
            cooldown=self.cfg.cooldown,
        )
        self.review = ReviewMode(self.cfg.review)
        self.places = ama_posts.AmaPlaces(
            self.cfg.channel_id, self.cfg.review_channel_id, self.review
        )
        self._drafts: dict[int, _Draft] = {}
        self._on_board: set[tuple[int, int]] = set()  # (session, member) added to the board
        self._shown_locks: dict[int, asyncio.Lock] = {}
        self._dirty: dict[int, _Dirty] = {}
        self._lock = asyncio.Lock()  # one reconcile of AMA posts at a time

    @property
    def series_name(self) -> str:
        return self.settings.series.name

    # -- sessions from the content ---------------------------------------------------------

    async def sync_content(self, episodes: Iterable[Episode]) -> list[AmaSession]:
        """One session per episode's AMA, following the content: made when an AMA time is
        known, its times moved with the episode, cancelled with it."""
        now = self.clock()
        made = []
        for episode in episodes:
            ama = episode.ama
            if ama is None or ama.start is None:
                continue
            times = session_times(
                ama.start,
                ama.duration,
                livestream_start=episode.livestream.start if episode.livestream else None,
                open_before=self.cfg.open_before,
                close_after=self.cfg.close_after,
            )
            key = AmaKey(self.series, episode.id)
            session = await self.store.ama.upsert_session(
                key,
                title=f"{episode.code} {episode.title}".strip(),
                timezone=ama.timezone,
                guests=list(episode.guests),
                times=times,
                now=now,
            )
            if episode.status is EpisodeStatus.CANCELLED:
                await self.store.ama.move_session(session.id, SessionMove.CANCEL, now)
            elif session.state is SessionState.CANCELLED:
                await self.store.ama.move_session(session.id, SessionMove.RESCHEDULE, now)
            made.append(session)
        await self.tick()
        return made

    async def tick(self) -> None:
        """Apply the clock's moves (open, close) and wake again at the next one."""
        now = self.clock()
        active = (SessionState.SCHEDULED, SessionState.COLLECTING, SessionState.LIVE)
        for session in await self.store.ama.sessions(active, series=self.series):
            move = due_move(session.state, session.times, now)
            if move is not None:
                await self.move(session.id, move, actor=None)
                session = await self.store.ama.session(session.id) or session
            nxt = session.times.opens_at if session.state is SessionState.SCHEDULED else None
            if session.state in OPEN_STATES:
                nxt = session.times.closes_at
            if nxt is not None and nxt > now:
                self._schedule(f"{WAKE_PREFIX}{session.id}:clock", nxt)

    async def start(self) -> None:
        """At start-up: the clock's moves, the places of open sessions, every open session's
        posts reconciled (a restart loses nothing that was stored)."""
        await self.tick()
        for session in await self.store.ama.sessions(
            (SessionState.COLLECTING, SessionState.LIVE, SessionState.CLOSED), series=self.series
        ):
            await self.ensure_places(session.id)
            await self.sync_posts(session.id)

    async def on_wake(self, key: str) -> None:
        """A wake-up of ours (``amawake:<session>:<what>``)."""
        _, _, rest = key.partition(WAKE_PREFIX)
        sid_text, _, what = rest.partition(":")
        if not sid_text.isdigit():
            return
        sid = int(sid_text)
        if what == "clock":
            await self.tick()
        elif what == "places":
            await self.ensure_places(sid)
        elif what == "edits":
            await self._flush(sid)

    async def session_for(self, episode_id: str) -> AmaSession | None:
        return await self.store.ama.session_of(AmaKey(self.series, episode_id))

    async def open_sessions(self) -> list[AmaSession]:
        """The sessions taking questions now, soonest first."""
        return await self.store.ama.sessions(OPEN_STATES, series=self.series)

    async def next_session(self) -> AmaSession | None:
        """The next session to open, for "questions open at …"."""
        waiting = await self.store.ama.sessions((SessionState.SCHEDULED,), series=self.series)
        return waiting[0] if waiting else None

    # -- session moves ------------------------------------------------------------------------

    async def move(self, session_id: int, move: SessionMove, actor: int | None) -> Moved:
        """A session move (the clock's, an organiser's, the Discord event's) and what follows
        it: the places made on opening, not-reached questions and the askers told on closing,
        questions back in the queue on reopening."""
        now = self.clock()
        moved = await self.store.ama.move_session(session_id, move, now, actor)
        if not moved.done:
            return moved
        log.info("AMA session %s: %s (by %s)", session_id, move, actor or "the bot")
        if move in (SessionMove.OPEN, SessionMove.LIVE, SessionMove.REOPEN):
            if move is SessionMove.REOPEN:
                for q in await self.store.ama.questions(session_id, (QuestionState.NOT_REACHED,)):
                    await self.store.ama.move_question(q.id, QuestionMove.REQUEUE, now, actor)
            await self.ensure_places(session_id)
        if move is SessionMove.CLOSE:
            await self._close(session_id, actor)
        await self.sync_posts(session_id)
        await self.tick()
        return moved

    async def on_event_status(self, episode_id: str, status: str) -> None:
        """Our Discord event for the AMA went active (live) or completed/was cancelled
        (closed)."""
        session = await self.session_for(episode_id)
        if session is None:
            return
        if status == "active" and session.state in (
            SessionState.SCHEDULED,
            SessionState.COLLECTING,
        ):
            await self.move(session.id, SessionMove.LIVE, actor=None)
        elif status in ("completed", "cancelled") and session.state in OPEN_STATES:
            await self.move(session.id, SessionMove.CLOSE, actor=None)

    async def _close(self, session_id: int, actor: int | None) -> None:
        now = self.clock()
        session = await self.store.ama.session(session_id)
        if session is None:
            return
        for q in await self.store.ama.questions(
            session_id, (QuestionState.APPROVED, QuestionState.SKIPPED, QuestionState.ON_AIR)
        ):
            if q.state is QuestionState.ON_AIR:
                await self.store.ama.move_question(q.id, QuestionMove.ANSWER, now, actor)
                await self._tell_answered(session, q.id)
                continue
            moved = await self.store.ama.move_question(q.id, QuestionMove.NOT_REACHED, now, actor)
            if moved.done:
                await self._tell(session, q.id, "unreached", _not_reached_text(session))
        await self.publish(session_id, actor)

    # -- places -------------------------------------------------------------------------------

    async def ensure_places(self, session_id: int) -> None:
        """The session's public thread (on its prompt, once the prompt is out) and the host
        board's private thread. Retried until both exist."""
        session = await self.store.ama.session(session_id)
        if session is None or self.discord is None or session.state is SessionState.CANCELLED:
            return
        if session.state is SessionState.SCHEDULED:
            return
        retry = False
        if session.board_thread_id is None and self.cfg.review_channel_id:
            try:
                board = await self.discord.private_thread(
                    self.cfg.review_channel_id, _board_name(session)
                )
                await self.store.ama.set_places(session_id, board_thread_id=board)
            except Exception as exc:
                log.warning("AMA %s: host board thread not made yet: %s", session.key, exc)
                retry = True
        if session.thread_id is None:
            await self.sync_posts(session_id)  # the prompt
            prompt = await self.store.outbox.get(ama_posts.prompt_key(session.key))
            if prompt is not None and prompt.message_id is not None:
                try:
                    thread = await self.discord.start_thread(
                        prompt.channel_id,
                        prompt.message_id,
                        render.thread_name(ama_posts.view_of(session, self.series_name)),
                    )
                    await self.store.ama.set_places(session_id, thread_id=thread)
                except Exception as exc:
                    log.warning("AMA %s: questions thread not made yet: %s", session.key, exc)
                    retry = True
            else:
                retry = True
        if retry:
            self._schedule(f"{WAKE_PREFIX}{session_id}:places", self.clock() + PLACES_RETRY)
        else:
            await self.sync_posts(session_id)

    async def join_board(self, session_id: int, member_id: int) -> int | None:
        """Add an organiser or host to the host board's private thread; its id."""
        session = await self.store.ama.session(session_id)
        if session is None or session.board_thread_id is None or self.discord is None:
            return None
        if (session_id, member_id) in self._on_board:
            return session.board_thread_id
        try:
            await self.discord.add_to_thread(session.board_thread_id, member_id)
        except Exception as exc:
            log.warning("could not add %s to the host board of %s: %s", member_id, session.key, exc)
            return None
        self._on_board.add((session_id, member_id))
        return session.board_thread_id

    async def join_board_of_question(self, question_id: int, member_id: int) -> None:
        """Staff who work a question's card join its session's host board."""
        sid = await self.store.ama.session_id_of(question_id)
        if sid is not None:
            await self.join_board(sid, member_id)

    # -- posts --------------------------------------------------------------------------------

    async def sync_posts(self, session_id: int, keys: Sequence[str] | None = None) -> None:
        """Reconcile the session's posts into the outbox (only ``keys`` when given) and wake
        delivery for what is new or changed."""
        session = await self.store.ama.session(session_id)
        if session is None:
            return
        questions = await self.store.ama.questions(session_id)
        decided = await self._decided_by(session_id)
        now = self.clock()
        plan = ama_posts.session_posts(
            session, questions, self.places, self.series_name, now, decided
        )
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

    async def _decided_by(self, session_id: int) -> dict[int, int]:
        decided: dict[int, int] = {}
        for entry in await self.store.ama.log(session_id):
            qid, actor, to = entry["question_id"], entry["actor_id"], entry["to_state"]
            if isinstance(qid, int) and isinstance(actor, int) and to not in (None, "pending"):
                decided[qid] = actor
        return decided

    def _mark_dirty(self, session_id: int, question_id: int | None, board: bool = True) -> None:
        dirty = self._dirty.setdefault(session_id, _Dirty())
        if question_id is not None:
            dirty.questions.setdefault(question_id, None)
        dirty.board = dirty.board or board
        if not dirty.scheduled:
            dirty.scheduled = True
            self._schedule(f"{WAKE_PREFIX}{session_id}:edits", self.clock() + _wait(dirty))

    async def _flush(self, session_id: int) -> None:
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

    async def _after_question_change(self, session_id: int, question_id: int) -> None:
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
        self._mark_dirty(session_id, None)

    # -- members --------------------------------------------------------------------------------

    async def ask(
        self,
        session_id: int,
        *,
        member_id: int,
        name: str,
        text: str,
        anonymous: bool,
        notify: bool = True,
        anyway: bool = False,
    ) -> AskOutcome:
        """A member's question: refused with the reason, or offered similar ones first, or
        stored (and only then the receipt)."""
        session = await self.store.ama.session(session_id)
        if session is None or not session.is_open:
            return AskOutcome(refused=Refused(Refusal.NOT_OPEN, await self.closed_text(session)))
        text = clean_question(text)
        if not anyway:
            pool = await self.store.ama.questions(session_id)
            similar = similar_questions(text, [q for q in pool if q.author_id != member_id])
            if similar:
                draft = self._remember(session_id, member_id, name, text, anonymous, notify)
                return AskOutcome(similar=tuple(similar), draft=draft)
        phase = Phase.LIVE if session.state is SessionState.LIVE else Phase.BEFORE
        result = await self.store.ama.ask(
            session_id,
            author_id=member_id,
            author_name=name,
            text=text,
            anonymous=anonymous,
            notify=notify,
            phase=phase,
            state=first_state(self.review),
            limits=self.limits,
            now=self.clock(),
        )
        if isinstance(result, Refused):
            return AskOutcome(refused=result)
        log.info("AMA %s: question #%s asked", session.key, result.id)
        await self._after_question_change(session_id, result.id)
        return AskOutcome(stored=result)

    async def ask_draft(self, draft_id: int, member_id: int) -> AskOutcome:
        """ "Ask mine anyway" after similar questions were shown."""
        draft = self._drafts.pop(draft_id, None)
        if draft is None or draft.member_id != member_id or self.clock() - draft.made > DRAFT_TTL:
            return AskOutcome(
                refused=Refused(Refusal.NOT_OPEN, "That question is no longer here; ask again.")
            )
        return await self.ask(
            draft.session_id,
            member_id=member_id,
            name=draft.name,
            text=draft.text,
            anonymous=draft.anonymous,
            notify=draft.notify,
            anyway=True,
        )

    def _remember(
        self, sid: int, member: int, name: str, text: str, anonymous: bool, notify: bool
    ) -> int:
        now = self.clock()
        for key in [k for k, d in self._drafts.items() if now - d.made > DRAFT_TTL]:
            del self._drafts[key]
        draft_id = secrets.randbelow(2**31)
        self._drafts[draft_id] = _Draft(sid, member, name, text, anonymous, notify, now)
        return draft_id

    async def closed_text(self, session: AmaSession | None) -> str:
        """Why a member cannot ask now, and when they can."""
        if session is not None and session.state in (SessionState.CLOSED, SessionState.PUBLISHED):
            return "Questions for this AMA are closed."
        upcoming = session if session and session.state is SessionState.SCHEDULED else None
        upcoming = upcoming or await self.next_session()
        if upcoming is None:
            return "No AMA is taking questions now, and none is scheduled yet."
        opens = int(upcoming.times.opens_at.timestamp())
        return f"Questions for {upcoming.title} open <t:{opens}:F> (<t:{opens}:R>)."

    async def vote(self, question_id: int, member_id: int) -> Voted:
        """ "Me too": toggled, refused for the asker. The clicked message is updated by the
        click's answer (`show_on_click`); the batched edits are the safety net."""
        voted = await self.store.ama.toggle_vote(question_id, member_id, self.clock())
        if voted.refused is None:
            sid = await self.store.ama.session_id_of(question_id)
            if sid is not None:
                self._mark_dirty(sid, question_id)
        return voted

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

    async def back_instead(self, question_id: int, member_id: int) -> Voted:
        """ "+1 that instead": a vote that is never taken back by this button."""
        question = await self.store.ama.question(question_id)
        if question is not None and member_id in question.voters:
            return Voted(True, len(question.voters))
        return await self.vote(question_id, member_id)

    async def mine(self, session_id: int, member_id: int) -> list[Question]:
        return await self.store.ama.questions_of(session_id, member_id)

    async def withdraw(self, question_id: int, member_id: int) -> Moved:
        question = await self.store.ama.question(question_id)
        if question is None or question.author_id != member_id:
            return Moved(False, "")
        moved = await self.store.ama.move_question(
            question_id, QuestionMove.WITHDRAW, self.clock(), member_id
        )
        if moved.done:
            sid = await self.store.ama.session_id_of(question_id)
            if sid is not None:
                await self._after_question_change(sid, question_id)
        return moved

    async def edit(self, question_id: int, member_id: int, text: str) -> Moved | Refused:
        text = clean_question(text)
        if not self.limits.min_length <= len(text) <= self.limits.max_length:
            return Refused(
                Refusal.TOO_SHORT if len(text) < self.limits.min_length else Refusal.TOO_LONG,
                f"Questions need {self.limits.min_length} to {self.limits.max_length} "
                f"characters; yours has {len(text)}.",
            )
        moved = await self.store.ama.edit(
            question_id, member_id, text, self.clock(), back_to=first_state(self.review)
        )
        if moved.done:
            sid = await self.store.ama.session_id_of(question_id)
            if sid is not None:
                await self._after_question_change(sid, question_id)
        return moved

    # -- organisers: review ---------------------------------------------------------------------

    async def review_move(
        self,
        question_id: int,
        move: QuestionMove,
        actor: int,
        *,
        tell: bool = False,
        reason: str | None = None,
    ) -> Moved:
        moved = await self.store.ama.move_question(
            question_id, move, self.clock(), actor, tell_asker=tell, reason=reason
        )
        if moved.done:
            sid = await self.store.ama.session_id_of(question_id)
            if sid is not None:
                await self._after_question_change(sid, question_id)
                if move is QuestionMove.DENY and tell:
                    session = await self.store.ama.session(sid)
                    if session is not None:
                        note = render.denied_note(session.title, reason or "other")
                        await self._tell(session, question_id, "denied", note, only_author=True)
        return moved

    async def merge_candidates(self, question_id: int) -> tuple[Question | None, list[Question]]:
        question = await self.store.ama.question(question_id)
        if question is None:
            return None, []
        sid = await self.store.ama.session_id_of(question_id)
        pool = await self.store.ama.questions(sid) if sid is not None else []
        return question, merge_candidates(question, pool)

    async def merge(self, source_id: int, target_id: int, actor: int) -> Moved:
        moved = await self.store.ama.merge(source_id, target_id, self.clock(), actor)
        if moved.done:
            sid = await self.store.ama.session_id_of(source_id)
            if sid is not None:
                await self._mark_merged(sid, source_id)
                await self._after_question_change(sid, source_id)
                await self._after_question_change(sid, target_id)
        return moved

    async def _mark_merged(self, session_id: int, question_id: int) -> None:
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

    # -- the host board ----------------------------------------------------------------------------

    async def board_action(
        self, session_id: int, action: str, actor: int, pick: int | None = None
    ) -> str:
        """A board button: next, answered, skip, later, pick. Returns what happened, for the
        clicker."""
        now = self.clock()
        session = await self.store.ama.session(session_id)
        if session is None:
            return "That AMA is gone."
        on_air = await self.store.ama.questions(session_id, (QuestionState.ON_AIR,))
        if action in ("next", "pick"):
            answered, nxt = await self.store.ama.next_on_air(session_id, now, actor, pick)
            for qid in (answered, nxt):
                if qid is not None:
                    await self._after_question_change(session_id, qid)
            if answered is not None:
                await self._tell_answered(session, answered)
            if nxt is None:
                return (
                    "Nothing left in the queue."
                    if action == "next"
                    else "That question is not in the queue."
                )
            return f"Question #{nxt} is on air."
        if not on_air:
            return "Nothing is on air."
        current = on_air[0].id
        move = {
            "answered": QuestionMove.ANSWER,
            "skip": QuestionMove.SKIP,
            "later": QuestionMove.LATER,
        }.get(action)
        if move is None:
            return "Unknown board action."
        moved = await self.store.ama.move_question(current, move, now, actor)
        if not moved.done:
            return f"Question #{current} was already {moved.state}."
        await self._after_question_change(session_id, current)
        if move is QuestionMove.ANSWER:
            await self._tell_answered(session, current)
        return f"Question #{current}: {moved.state}."

    async def set_notes(self, question_id: int, notes: str, actor: int) -> bool:
        done = await self.store.ama.set_notes(question_id, notes.strip(), self.clock(), actor)
        return done

    async def on_air(self, session_id: int) -> Question | None:
        found = await self.store.ama.questions(session_id, (QuestionState.ON_AIR,))
        return found[0] if found else None

    # -- telling askers ---------------------------------------------------------------------------

    async def _tell_answered(self, session: AmaSession, question_id: int) -> None:
        post = await self.store.outbox.get(ama_posts.question_key(session.key, question_id))
        where = session.thread_id or self.cfg.channel_id
        link = f"https://discord.com/channels/{self.guild_id}/{where}"
        if post is not None and post.message_id is not None:
            link += f"/{post.message_id}"
        text = f"Your question in the {session.title} AMA was answered: {link}"
        await self._tell(session, question_id, "answered", text)

    async def _tell(
        self,
        session: AmaSession,
        question_id: int,
        about: str,
        text: str,
        *,
        only_author: bool = False,
    ) -> None:
        """One DM per member who asked to hear back (an outbox row each: sent once)."""
        question = await self.store.ama.question(question_id)
        if question is None:
            return
        members = (
            [(question.author_id, question.author_name)]
            if only_author
            else await self.store.ama.to_tell(question_id)
        )
        now = self.clock()
        posts = [
            PlannedPost(
                key=ama_dm_key(
                    member, session.key.series, session.key.episode_id, f"{about}{question_id}"
                ),
                kind="dm",
                due_at=now,
                channel_id=0,
                payload={"content": text, "allowed_mentions": allowed_mentions()},
                subject=session.key.episode_id,
            )
            for member, _name in members
        ]
        for post in posts:
            if await self.store.outbox.add_once(post, now):
                self._schedule(post.key, now)

    async def dm_refused(self, key: str, member_id: int, payload_text: str) -> None:
        """A member's DMs are closed: one reply in the session's thread that pings that
        member alone."""
        from bot.plan.kinds import parse_ama_dm_key

        try:
            _member, series, episode_id, about = parse_ama_dm_key(key)
        except ValueError:
            return
        session = await self.store.ama.session_of(AmaKey(series, episode_id))
        if session is None or session.thread_id is None:
            return
        now = self.clock()
        post = PlannedPost(
            key=ama_posts.post_key(session.key, f"told-{about}-{member_id}"),
            kind="ama",
            due_at=now,
            channel_id=session.thread_id,
            payload={
                "content": f"<@{member_id}> {payload_text}",
                "allowed_mentions": {"parse": [], "users": [str(member_id)], "roles": []},
            },
            subject=episode_id,
        )
        if await self.store.outbox.add_once(post, now):
            self._schedule(post.key, now)

    # -- the record -----------------------------------------------------------------------------

    async def record(self, session_id: int) -> str | None:
        """The AMA's record as Markdown (deterministic: the same store gives the same bytes)."""
        return await session_record(self.store, session_id)

    async def publish(self, session_id: int, actor: int | None = None) -> str:
        """Write the record back: pushed on its branch (``[ama] push``), else attached in the
        review channel with the reason. Says what happened, for the organiser."""
        session = await self.store.ama.session(session_id)
        markdown = await self.record(session_id)
        if session is None or markdown is None:
            return "That AMA is gone."
        result: RecordResult | None = None
        if self.publisher is not None and self.cfg.push:
            counts = await self.store.ama.questions(session_id)
            answered = sum(1 for q in counts if q.state is QuestionState.ANSWERED)
            message = f"AMA record for {session.title} ({answered} answered)"
            result = await self.publisher.publish(session.key.episode_id, markdown, message)
        if result is not None and result.pushed:
            await self.store.ama.move_session(session_id, SessionMove.PUBLISH, self.clock(), actor)
            what = "unchanged on" if result.unchanged else "pushed to"
            return f"The record `{result.path}` is {what} the branch `{result.branch}`."
        reason = result.reason if result is not None else "pushing is off ([ama] push)"
        await self._attach_record(session, markdown, reason)
        return f"The record was not pushed ({reason}); it is attached in the review channel."

    async def _attach_record(self, session: AmaSession, markdown: str, reason: str) -> None:
        channel = self.cfg.review_channel_id
        if not channel:
            log.warning("AMA %s: record not pushed (%s) and no review channel", session.key, reason)
            return
        now = self.clock()
        digest = hashlib.sha256(markdown.encode()).hexdigest()[:12]
        post = PlannedPost(
            key=ama_posts.post_key(session.key, f"record-{digest}"),
            kind="ama",
            due_at=now,
            channel_id=channel,
            payload={
                "content": f"The AMA record of {session.title} (not pushed: {reason[:300]}).",
                "files": [{"filename": f"{session.key.episode_id}.md", "text": markdown}],
                "allowed_mentions": allowed_mentions(),
            },
            subject=session.key.episode_id,
        )
        if await self.store.outbox.add_once(post, now):
            self._schedule(post.key, now)


async def session_record(store: Store, session_id: int) -> str | None:
    """A session's record from the store, as the bot pushes it and `amabot ama export`
    prints it."""
    session = await store.ama.session(session_id)
    if session is None:
        return None
    questions = await store.ama.questions(session_id)
    header = RecordHeader(
        series=session.key.series,
        episode_id=session.key.episode_id,
        title=session.title,
        starts_at=session.times.starts_at,
        timezone=session.timezone,
        guests=session.guests,
        live_started_at=session.live_started_at,
    )
    return render_record(header, questions)


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


def _board_name(session: AmaSession) -> str:
    return f"Host board: {session.title}"[:100]


def _not_reached_text(session: AmaSession) -> str:
    return (
        f"The {session.title} AMA has closed and your question was not reached live. "
        "It is listed in the AMA's record for the recap."
    )


def question_link(guild_id: int, channel_id: int, message_id: int | None) -> str:
    base = f"https://discord.com/channels/{guild_id}/{channel_id}"
    return f"{base}/{message_id}" if message_id else base
