"""The AMA's rules, Discord-free and pure: session and question states and the moves between
them, the limits a member's question must pass, duplicate and similar questions, the queue's
order, and the host board's view. The store applies a move as one guarded update (``WHERE
state IN from_states``), so a double click or two organisers at once do one thing; this module
says which moves exist. Times are passed in, never read.

A session is one AMA of one episode of one series (``AmaKey``); questions belong to a session.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.content.text import STOP_WORDS

# --- sessions ----------------------------------------------------------------------------------


class SessionState(enum.StrEnum):
    SCHEDULED = "scheduled"  # known from the content; questions not open yet
    COLLECTING = "collecting"  # questions open before the AMA
    LIVE = "live"  # the AMA is on: the host works through the queue
    CLOSED = "closed"  # no new questions; answering and notes still work
    PUBLISHED = "published"  # the record was written back to the content repository
    CANCELLED = "cancelled"  # the episode or its AMA was cancelled


OPEN_STATES = frozenset({SessionState.COLLECTING, SessionState.LIVE})


class SessionMove(enum.StrEnum):
    OPEN = "open"
    LIVE = "live"
    CLOSE = "close"
    REOPEN = "reopen"
    PUBLISH = "publish"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"  # the content moved the AMA later, or un-cancelled it


@dataclass(frozen=True, slots=True)
class Move:
    """A move between states: allowed from any of ``sources``, it ends in ``target``."""

    sources: frozenset[str]
    target: str

    def allowed_from(self, state: str) -> bool:
        return state in self.sources


def _move(sources: Iterable[str], target: str) -> Move:
    return Move(frozenset(sources), target)


_S = SessionState
SESSION_MOVES: dict[SessionMove, Move] = {
    SessionMove.OPEN: _move({_S.SCHEDULED}, _S.COLLECTING),
    SessionMove.LIVE: _move({_S.SCHEDULED, _S.COLLECTING}, _S.LIVE),
    SessionMove.CLOSE: _move({_S.SCHEDULED, _S.COLLECTING, _S.LIVE}, _S.CLOSED),
    # Reopening goes back to collecting; an AMA whose event is live goes on to live from there.
    SessionMove.REOPEN: _move({_S.CLOSED, _S.PUBLISHED}, _S.COLLECTING),
    SessionMove.PUBLISH: _move({_S.CLOSED, _S.PUBLISHED}, _S.PUBLISHED),
    SessionMove.CANCEL: _move({_S.SCHEDULED, _S.COLLECTING, _S.LIVE, _S.CLOSED}, _S.CANCELLED),
    SessionMove.RESCHEDULE: _move({_S.CANCELLED, _S.COLLECTING}, _S.SCHEDULED),
}


@dataclass(frozen=True, slots=True)
class AmaKey:
    """Which AMA: a series (the show) and one of its episodes."""

    series: str
    episode_id: str

    def __str__(self) -> str:
        return f"{self.series}/{self.episode_id}"


@dataclass(frozen=True, slots=True)
class AmaTimes:
    """When an AMA's session opens, starts, ends and closes (aware UTC)."""

    opens_at: datetime
    starts_at: datetime
    ends_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class AmaSession:
    """One AMA as stored: its state, its times and the Discord places made for it."""

    id: int
    key: AmaKey
    state: SessionState
    title: str
    timezone: str
    times: AmaTimes
    guests: tuple[str, ...] = ()
    live_started_at: datetime | None = None
    closed_at: datetime | None = None
    thread_id: int | None = None
    board_thread_id: int | None = None

    @property
    def is_open(self) -> bool:
        """Taking questions."""
        return self.state in OPEN_STATES


def session_times(
    ama_start: datetime,
    ama_duration: timedelta,
    *,
    livestream_start: datetime | None,
    open_before: timedelta | None,
    close_after: timedelta,
) -> AmaTimes:
    """The session's times from the episode's. Collecting opens ``open_before`` the AMA when
    given, else at the livestream's start (members ask while they watch), and never after the
    AMA starts (an AMA dated before its livestream, as real content has, opens at its start)."""
    if open_before is not None:
        opens = ama_start - open_before
    elif livestream_start is not None:
        opens = livestream_start
    else:
        opens = ama_start
    opens = min(opens, ama_start)
    ends = ama_start + ama_duration
    return AmaTimes(opens, ama_start, ends, ends + close_after)


def due_move(state: SessionState, times: AmaTimes, now: datetime) -> SessionMove | None:
    """The move the clock makes on its own now, if any: open at ``opens_at``, close at
    ``closes_at``. Going live is the Discord event's or an organiser's doing, never the clock's."""
    if state in (_S.SCHEDULED, _S.COLLECTING, _S.LIVE) and now >= times.closes_at:
        return SessionMove.CLOSE
    if state is _S.SCHEDULED and now >= times.opens_at:
        return SessionMove.OPEN
    return None


# --- questions ---------------------------------------------------------------------------------


class QuestionState(enum.StrEnum):
    PENDING = "pending"  # waiting for an organiser (review "pre")
    HELD = "held"  # an organiser wants a second look
    APPROVED = "approved"  # public, votable, in the queue
    ON_AIR = "on_air"  # being answered now; at most one per session
    ANSWERED = "answered"
    SKIPPED = "skipped"  # passed over live; "Later" puts it back in the queue
    NOT_REACHED = "not_reached"  # approved but not answered when the session closed
    DENIED = "denied"
    MERGED = "merged"  # folded into another question (``canonical_id``)
    WITHDRAWN = "withdrawn"  # the asker took it back


class QuestionMove(enum.StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    HOLD = "hold"
    MERGE = "merge"
    WITHDRAW = "withdraw"
    ON_AIR = "on_air"
    ANSWER = "answer"
    SKIP = "skip"
    LATER = "later"
    NOT_REACHED = "not_reached"
    REQUEUE = "requeue"  # a reopened session puts its not-reached questions back


_Q = QuestionState
# Still the asker's to change or take back, and still in the organisers' hands.
UNANSWERED = frozenset({_Q.PENDING, _Q.HELD, _Q.APPROVED})
QUESTION_MOVES: dict[QuestionMove, Move] = {
    QuestionMove.APPROVE: _move({_Q.PENDING, _Q.HELD}, _Q.APPROVED),
    QuestionMove.DENY: _move(UNANSWERED, _Q.DENIED),
    QuestionMove.HOLD: _move({_Q.PENDING}, _Q.HELD),
    QuestionMove.MERGE: _move(UNANSWERED, _Q.MERGED),
    QuestionMove.WITHDRAW: _move(UNANSWERED, _Q.WITHDRAWN),
    QuestionMove.ON_AIR: _move({_Q.APPROVED, _Q.SKIPPED}, _Q.ON_AIR),
    # An approved question may be answered in writing, off air.
    QuestionMove.ANSWER: _move({_Q.ON_AIR, _Q.APPROVED, _Q.SKIPPED, _Q.NOT_REACHED}, _Q.ANSWERED),
    QuestionMove.SKIP: _move({_Q.ON_AIR, _Q.APPROVED}, _Q.SKIPPED),
    QuestionMove.LATER: _move({_Q.ON_AIR, _Q.SKIPPED}, _Q.APPROVED),
    QuestionMove.NOT_REACHED: _move({_Q.APPROVED, _Q.SKIPPED}, _Q.NOT_REACHED),
    QuestionMove.REQUEUE: _move({_Q.NOT_REACHED}, _Q.APPROVED),
}
# A merge's target: anything a member could still see as the same question.
MERGE_TARGETS = frozenset({_Q.PENDING, _Q.HELD, _Q.APPROVED, _Q.ON_AIR, _Q.ANSWERED})
# Counted against a member's "open questions" limit.
OPEN_QUESTION_STATES = UNANSWERED
# Shown to members in the public thread.
PUBLIC_STATES = frozenset({_Q.APPROVED, _Q.ON_AIR, _Q.ANSWERED, _Q.SKIPPED, _Q.NOT_REACHED})


class Phase(enum.StrEnum):
    BEFORE = "before"  # asked while collecting
    LIVE = "live"  # asked during the AMA
    AFTER = "after"  # added after the AMA (an organiser's umbrella question, say)


class ReviewMode(enum.StrEnum):
    PRE = "pre"  # organisers approve before a question is public
    POST = "post"  # public at once; organisers may remove it later
    OFF = "off"  # public at once, no review cards


def first_state(mode: ReviewMode) -> QuestionState:
    """The state a new question starts in."""
    return _Q.PENDING if mode is ReviewMode.PRE else _Q.APPROVED


@dataclass(frozen=True, slots=True)
class Question:
    """A question as the rules see it. ``askers`` holds the asker and everyone merged into it;
    ``voters`` the members who pressed "Me too"."""

    id: int
    author_id: int
    author_name: str
    text: str
    state: QuestionState
    created_at: datetime
    anonymous: bool = False
    phase: Phase = Phase.BEFORE
    askers: frozenset[int] = frozenset()
    voters: frozenset[int] = frozenset()
    on_air_at: datetime | None = None
    answered_at: datetime | None = None
    notes: str = ""
    canonical_id: int | None = None
    umbrella: bool = False  # worded by the organisers; goes first
    notify: bool = True  # the asker wants to hear back (answered, or not reached)
    decided_by: int | None = None  # the organiser who last reviewed it (approve, deny, hold, merge)

    @property
    def backers(self) -> frozenset[int]:
        return self.askers | self.voters | {self.author_id}

    @property
    def score(self) -> int:
        """Distinct members behind the question: the asker, those merged in, the voters."""
        return len(self.backers)

    def shown_name(self) -> str:
        """Who asked, as a member may see it."""
        return ANONYMOUS_NAME if self.anonymous else self.author_name


ANONYMOUS_NAME = "a community member"


def queue_order(question: Question) -> tuple[int, int, datetime, int]:
    """Sort key of the host's queue: umbrella questions, then most backed, then oldest."""
    return (0 if question.umbrella else 1, -question.score, question.created_at, question.id)


def queue(questions: Iterable[Question]) -> list[Question]:
    """The approved questions in the order the host takes them."""
    return sorted((q for q in questions if q.state is _Q.APPROVED), key=queue_order)


# --- limits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AmaLimits:
    """What one member may ask (the defaults are Slido's and meerkat's, see the AMA notes)."""

    min_length: int = 15
    max_length: int = 1000
    max_open: int = 3  # pending, held or approved at once
    max_per_ama: int = 10
    cooldown: timedelta = timedelta(minutes=1)


class Refusal(enum.StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_MANY_OPEN = "too_many_open"
    TOO_MANY = "too_many"
    TOO_SOON = "too_soon"
    REPEATED = "repeated"
    NOT_OPEN = "not_open"


@dataclass(frozen=True, slots=True)
class Refused:
    code: Refusal
    message: str  # what the member reads


def clean_question(text: str) -> str:
    """A question as stored: Unicode normalised, outer space trimmed, runs of blank lines
    folded. Members' line breaks are kept."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def check_question(
    text: str, own: Sequence[Question], limits: AmaLimits, now: datetime
) -> Refused | None:
    """Why a member may not ask ``text`` now, given their questions ``own`` in this session
    (withdrawn ones included: they count for the cooldown and the total, as on Slido)."""
    n = len(text)
    if n < limits.min_length:
        return Refused(
            Refusal.TOO_SHORT,
            f"Questions need at least {limits.min_length} characters; yours has {n}.",
        )
    if n > limits.max_length:
        return Refused(
            Refusal.TOO_LONG,
            f"Questions can be at most {limits.max_length} characters; yours has {n}.",
        )
    same = normalise(text)
    if any(normalise(q.text) == same for q in own if q.state is not _Q.WITHDRAWN):
        return Refused(Refusal.REPEATED, "You already asked that question.")
    if len(own) >= limits.max_per_ama:
        return Refused(
            Refusal.TOO_MANY, f"You have asked {len(own)} questions, the most for one AMA."
        )
    open_now = sum(1 for q in own if q.state in OPEN_QUESTION_STATES)
    if open_now >= limits.max_open:
        return Refused(
            Refusal.TOO_MANY_OPEN,
            f"You have {open_now} questions waiting (the most at once): wait until one is "
            "answered, or withdraw one with /ama mine.",
        )
    last = max((q.created_at for q in own), default=None)
    if last is not None and now - last < limits.cooldown:
        wait = limits.cooldown - (now - last)
        seconds = max(1, int(wait.total_seconds() + 0.999))
        return Refused(Refusal.TOO_SOON, f"One question at a time: try again in {seconds} s.")
    return None


# --- duplicates --------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# The search's stop words (one list for the content's words), and the words a question is
# made of that say nothing about its subject.
_STOPWORDS = STOP_WORDS | frozenset(
    """but can could do does i if its me my our should so than that their them then there
    these this was we when where which who will would you""".split()  # noqa: SIM905
)
SIMILAR_AT = 0.6  # token-set similarity from which a question is offered as "+1 that instead"
SIMILAR_SHOWN = 3


def normalise(text: str) -> str:
    """Text compared for "the same question": case, accents' forms and punctuation ignored."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _terms(text: str) -> frozenset[str]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    kept = frozenset(w for w in words if w not in _STOPWORDS)
    return kept or frozenset(words)


def similarity(a: str, b: str) -> float:
    """Dice coefficient of the two texts' content words: 1.0 for the same words."""
    ta, tb = _terms(a), _terms(b)
    if not ta or not tb:
        return 0.0
    return 2 * len(ta & tb) / (len(ta) + len(tb))


def similar_questions(
    text: str, questions: Iterable[Question], *, at: float = SIMILAR_AT, most: int = SIMILAR_SHOWN
) -> list[Question]:
    """Questions in the session a member may want to back instead of asking ``text``: those a
    member can see or soon will, most similar first."""
    scored = [
        (similarity(text, q.text), q)
        for q in questions
        if q.state in MERGE_TARGETS and not q.umbrella
    ]
    hits = [(s, q) for s, q in scored if s >= at]
    hits.sort(key=lambda sq: (-sq[0], queue_order(sq[1])))
    return [q for _, q in hits[:most]]


def merge_candidates(
    source: Question, questions: Iterable[Question], most: int = 25
) -> list[Question]:
    """Targets an organiser may fold ``source`` into, most similar first (a select shows 25)."""
    targets = [q for q in questions if q.id != source.id and q.state in MERGE_TARGETS]
    targets.sort(key=lambda q: (-similarity(source.text, q.text), queue_order(q)))
    return targets[:most]


# --- votes -------------------------------------------------------------------------------------


class VoteRefusal(enum.StrEnum):
    OWN = "own"
    CLOSED = "closed"


def vote_refusal(question: Question, member_id: int) -> VoteRefusal | None:
    """Why ``member_id`` may not press "Me too" on ``question``: its askers back it already,
    and only a question in the queue or on air can be backed."""
    if member_id == question.author_id or member_id in question.askers:
        return VoteRefusal.OWN
    if question.state not in (_Q.APPROVED, _Q.ON_AIR):
        return VoteRefusal.CLOSED
    return None


# --- the host board ----------------------------------------------------------------------------

BOARD_NEXT = 5


@dataclass(frozen=True, slots=True)
class Board:
    """What the host board shows: the question on air, the next few, and the counters."""

    on_air: Question | None
    on_air_for: timedelta | None  # since it went on air
    next: list[Question]
    counts: dict[str, int] = field(default_factory=dict)
    live_for: timedelta | None = None  # since the AMA went live


def board(questions: Sequence[Question], now: datetime, live_started_at: datetime | None) -> Board:
    """The board's view of the session's questions at ``now``."""
    on_air = next((q for q in questions if q.state is _Q.ON_AIR), None)
    counts = {
        "pending": sum(1 for q in questions if q.state in (_Q.PENDING, _Q.HELD)),
        "approved": sum(1 for q in questions if q.state is _Q.APPROVED),
        "answered": sum(1 for q in questions if q.state is _Q.ANSWERED),
        "skipped": sum(1 for q in questions if q.state is _Q.SKIPPED),
    }
    return Board(
        on_air=on_air,
        on_air_for=(now - on_air.on_air_at) if on_air and on_air.on_air_at else None,
        next=queue(questions)[:BOARD_NEXT],
        counts=counts,
        live_for=(now - live_started_at) if live_started_at else None,
    )


def next_on_air(questions: Sequence[Question]) -> tuple[Question | None, Question | None]:
    """ "Next": the question on air now (to be marked answered) and the one to put on air."""
    current = next((q for q in questions if q.state is _Q.ON_AIR), None)
    waiting = queue(questions)
    return current, (waiting[0] if waiting else None)


def offset_label(offset: timedelta) -> str:
    """``[mm:ss]`` since the AMA went live (``[h:mm:ss]`` from an hour on)."""
    total = max(0, int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"
