"""The AMA, run: sessions made from the content and moved by the clock, organisers and the
Discord event; members' questions, review, votes and the host board; askers told; the record
written back. Discord-free: messages are outbox posts (bot/plan/ama_posts.py), and the few
things that are not messages (threads) go through `AmaDiscord`.

Every change is first a guarded move in the store (so a double click does one thing and the
member is told only what is durable), then the posts it calls for are planned and reconciled
into the outbox, which sends them once across crashes.

`AmaService` composes the parts, each with its own reason to change: `ama_sessions` (sessions
and their places), `ama_questions` (asking, votes, review, the board), `ama_messages` (the
outbox and the coalesced edits), `ama_notices` (askers told), `ama_record` (the record).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.clock import Clock
from bot.config import AmaSettings, Settings
from bot.plan import ama_posts
from bot.plan.ama import AmaLimits, ReviewMode
from bot.services.ama_messages import (
    EDIT_WINDOW,
    EDITS_PER_WINDOW,
    WAKE_PREFIX,
    AmaContext,
    AmaMessages,
)
from bot.services.ama_notices import AmaNotices
from bot.services.ama_questions import DRAFT_TTL, AmaQuestions, AskOutcome
from bot.services.ama_record import AmaRecordWriter, RecordPublisher, session_record
from bot.services.ama_sessions import PLACES_RETRY, AmaDiscord, AmaSessions
from bot.store import Store

__all__ = [
    "DRAFT_TTL",
    "EDITS_PER_WINDOW",
    "EDIT_WINDOW",
    "PLACES_RETRY",
    "WAKE_PREFIX",
    "AmaDiscord",
    "AmaService",
    "AskOutcome",
    "question_link",
    "session_record",
]


class AmaService:
    """One series' AMAs (``series`` is the show's id; the AMA's posts carry it in their keys).

    A composition of the parts; their public methods are this service's, as the cogs, the
    start-up and the tests call them."""

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
        ctx = AmaContext(store, settings, clock, schedule, deliver, series, guild_id, self.places)
        self.messages = AmaMessages(ctx)
        self.notices = AmaNotices(ctx)
        self.records = AmaRecordWriter(ctx, publisher)
        self.sessions = AmaSessions(
            ctx,
            messages=self.messages,
            notices=self.notices,
            record=self.records,
            discord=discord,
        )
        self.questions = AmaQuestions(
            ctx,
            messages=self.messages,
            notices=self.notices,
            sessions=self.sessions,
            limits=self.limits,
            review=self.review,
        )
        self._delegate()

    def _delegate(self) -> None:
        """The parts' public methods, reached on the service as before the split."""
        sessions, questions = self.sessions, self.questions
        self.sync_content = sessions.sync_content
        self.tick = sessions.tick
        self.start = sessions.start
        self.on_wake = sessions.on_wake
        self.session_for = sessions.session_for
        self.open_sessions = sessions.open_sessions
        self.next_session = sessions.next_session
        self.move = sessions.move
        self.on_event_status = sessions.on_event_status
        self.ensure_places = sessions.ensure_places
        self.join_board = sessions.join_board
        self.join_board_of_question = sessions.join_board_of_question
        self.ask = questions.ask
        self.ask_draft = questions.ask_draft
        self.closed_text = questions.closed_text
        self.vote = questions.vote
        self.back_instead = questions.back_instead
        self.mine = questions.mine
        self.withdraw = questions.withdraw
        self.edit = questions.edit
        self.review_move = questions.review_move
        self.merge_candidates = questions.merge_candidates
        self.merge = questions.merge
        self.board_action = questions.board_action
        self.set_notes = questions.set_notes
        self.on_air = questions.on_air
        self.sync_posts = self.messages.sync_posts
        self.show_on_click = self.messages.show_on_click
        self.dm_refused = self.notices.dm_refused
        self.record = self.records.markdown
        self.publish = self.records.publish

    @property
    def series_name(self) -> str:
        return self.settings.series.name


def question_link(guild_id: int, channel_id: int, message_id: int | None) -> str:
    base = f"https://discord.com/channels/{guild_id}/{channel_id}"
    return f"{base}/{message_id}" if message_id else base
