"""The AMA's sessions: made from the content, moved by the clock, organisers and the Discord
event; closing (not-reached questions, askers told, the record written back); the places (the
public thread on the prompt, the host board's private thread), through `AmaDiscord`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

from bot.content.models import Episode, EpisodeStatus
from bot.plan import ama_posts
from bot.plan.ama import (
    OPEN_STATES,
    AmaKey,
    AmaSession,
    QuestionMove,
    QuestionState,
    SessionMove,
    SessionState,
    due_move,
    session_times,
)
from bot.render import ama as render
from bot.services.ama_messages import WAKE_PREFIX, AmaContext, AmaMessages, AmaPart
from bot.services.ama_notices import AmaNotices
from bot.services.ama_record import AmaRecordWriter
from bot.store.interface import Moved

log = logging.getLogger("amabot.ama")

PLACES_RETRY = timedelta(seconds=2)


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


class AmaSessions(AmaPart):
    """One series' AMA sessions and what follows their moves."""

    def __init__(
        self,
        ctx: AmaContext,
        *,
        messages: AmaMessages,
        notices: AmaNotices,
        record: AmaRecordWriter,
        discord: AmaDiscord | None,
    ):
        super().__init__(ctx)
        self.messages = messages
        self.notices = notices
        self.record = record
        self.discord = discord
        self._on_board: set[tuple[int, int]] = set()  # (session, member) added to the board

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
            await self.messages.sync_posts(session.id)

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
            await self.messages.flush(sid)

    async def session_for(self, episode_id: str) -> AmaSession | None:
        return await self.store.ama.session_of(AmaKey(self.series, episode_id))

    async def open_sessions(self) -> list[AmaSession]:
        """The sessions taking questions now, soonest first."""
        return await self.store.ama.sessions(OPEN_STATES, series=self.series)

    async def next_session(self) -> AmaSession | None:
        """The next session to open, for "questions open at …"."""
        waiting = await self.store.ama.sessions((SessionState.SCHEDULED,), series=self.series)
        return waiting[0] if waiting else None

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
        await self.messages.sync_posts(session_id)
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
                await self.notices.tell_answered(session, q.id)
                continue
            moved = await self.store.ama.move_question(q.id, QuestionMove.NOT_REACHED, now, actor)
            if moved.done:
                await self.notices.tell(session, q.id, "unreached", _not_reached_text(session))
        await self.record.publish(session_id, actor)

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
            await self.messages.sync_posts(session_id)  # the prompt
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
            await self.messages.sync_posts(session_id)

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


def _board_name(session: AmaSession) -> str:
    return f"Host board: {session.title}"[:100]


def _not_reached_text(session: AmaSession) -> str:
    return (
        f"The {session.title} AMA has closed and your question was not reached live. "
        "It is listed in the AMA's record for the recap."
    )
