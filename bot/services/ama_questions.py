"""The AMA's questions: members asking (refused with the reason, or offered similar ones
first), drafts, votes, withdrawing and editing; organisers' review and merges; the host
board's buttons and notes."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.plan.ama import (
    AmaLimits,
    AmaSession,
    Phase,
    Question,
    QuestionMove,
    QuestionState,
    Refusal,
    Refused,
    ReviewMode,
    SessionState,
    clean_question,
    first_state,
    merge_candidates,
    similar_questions,
)
from bot.render import ama as render
from bot.services.ama_messages import AmaContext, AmaMessages, AmaPart
from bot.services.ama_notices import AmaNotices
from bot.services.ama_sessions import AmaSessions
from bot.services.metrics import BotMetrics
from bot.store.interface import Moved, Voted

log = logging.getLogger("amabot.ama")

DRAFT_TTL = timedelta(minutes=10)


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


class AmaQuestions(AmaPart):
    """One series' AMA questions, from the asking to the answer."""

    def __init__(
        self,
        ctx: AmaContext,
        *,
        messages: AmaMessages,
        notices: AmaNotices,
        sessions: AmaSessions,
        limits: AmaLimits,
        review: ReviewMode,
    ):
        super().__init__(ctx)
        self.messages = messages
        self.notices = notices
        self.sessions = sessions
        self.limits = limits
        self.review = review
        self._drafts: dict[int, _Draft] = {}
        self.metrics: BotMetrics | None = None  # the app's, when it exports metrics

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
        if self.metrics is not None:
            self.metrics.question_asked(self.series)
        await self.messages.after_question_change(session_id, result.id)
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
        upcoming = upcoming or await self.sessions.next_session()
        if upcoming is None:
            return "No AMA is taking questions now, and none is scheduled yet."
        opens = int(upcoming.times.opens_at.timestamp())
        return f"Questions for {upcoming.title} open <t:{opens}:F> (<t:{opens}:R>)."

    async def vote(self, question_id: int, member_id: int) -> Voted:
        """ "Me too": toggled, refused for the asker. The clicked message is updated by the
        click's answer (`show_on_click`); the batched edits are the safety net."""
        voted = await self.store.ama.toggle_vote(question_id, member_id, self.clock())
        if voted.refused is None:
            if self.metrics is not None:
                self.metrics.vote_taken(voted.voted, self.series)
            sid = await self.store.ama.session_id_of(question_id)
            if sid is not None:
                self.messages.mark_dirty(sid, question_id)
        return voted

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
                await self.messages.after_question_change(sid, question_id)
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
                await self.messages.after_question_change(sid, question_id)
        return moved

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
                await self.messages.after_question_change(sid, question_id)
                if move is QuestionMove.DENY and tell:
                    session = await self.store.ama.session(sid)
                    if session is not None:
                        note = render.denied_note(session.title, reason or "other")
                        await self.notices.tell(
                            session, question_id, "denied", note, only_author=True
                        )
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
                await self.messages.mark_merged(sid, source_id)
                await self.messages.after_question_change(sid, source_id)
                await self.messages.after_question_change(sid, target_id)
        return moved

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
                    await self.messages.after_question_change(session_id, qid)
            if answered is not None:
                await self.notices.tell_answered(session, answered)
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
        await self.messages.after_question_change(session_id, current)
        if move is QuestionMove.ANSWER:
            await self.notices.tell_answered(session, current)
        return f"Question #{current}: {moved.state}."

    async def set_notes(self, question_id: int, notes: str, actor: int) -> bool:
        done = await self.store.ama.set_notes(question_id, notes.strip(), self.clock(), actor)
        return done

    async def on_air(self, session_id: int) -> Question | None:
        found = await self.store.ama.questions(session_id, (QuestionState.ON_AIR,))
        return found[0] if found else None
