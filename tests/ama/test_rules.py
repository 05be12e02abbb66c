"""The AMA's rules (bot/plan/ama.py): moves, limits, duplicates, the queue and the board."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.plan.ama import (
    QUESTION_MOVES,
    SESSION_MOVES,
    AmaLimits,
    Phase,
    Question,
    QuestionMove,
    QuestionState,
    Refusal,
    SessionMove,
    SessionState,
    VoteRefusal,
    board,
    check_question,
    due_move,
    merge_candidates,
    next_on_air,
    normalise,
    offset_label,
    queue,
    session_times,
    similar_questions,
    similarity,
    vote_refusal,
)

T0 = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)  # a Friday AMA, 13:30 in New York
Q = QuestionState


def q(
    id: int,
    text: str = "How much data do I need to fine-tune?",
    *,
    state=Q.APPROVED,
    author=100,
    at=T0,
    voters=(),
    askers=(),
    umbrella=False,
    **kw,
) -> Question:
    return Question(
        id=id,
        author_id=author,
        author_name=f"member{author}",
        text=text,
        state=state,
        created_at=at,
        voters=frozenset(voters),
        askers=frozenset(askers),
        umbrella=umbrella,
        **kw,
    )


# --- sessions


def test_session_opens_at_the_livestream_and_closes_after_the_grace():
    monday = T0 - timedelta(days=4)
    times = session_times(
        T0,
        timedelta(minutes=30),
        livestream_start=monday,
        open_before=None,
        close_after=timedelta(minutes=15),
    )
    assert times.opens_at == monday
    assert times.ends_at == T0 + timedelta(minutes=30)
    assert times.closes_at == T0 + timedelta(minutes=45)


def test_an_ama_dated_before_its_livestream_opens_at_its_own_start():
    later_livestream = T0 + timedelta(days=3)
    times = session_times(
        T0,
        timedelta(minutes=30),
        livestream_start=later_livestream,
        open_before=None,
        close_after=timedelta(0),
    )
    assert times.opens_at == T0


def test_open_before_wins_over_the_livestream():
    times = session_times(
        T0,
        timedelta(minutes=30),
        livestream_start=T0 - timedelta(days=4),
        open_before=timedelta(hours=2),
        close_after=timedelta(0),
    )
    assert times.opens_at == T0 - timedelta(hours=2)


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (SessionState.SCHEDULED, T0 - timedelta(days=5), None),
        (SessionState.SCHEDULED, T0 - timedelta(days=4), SessionMove.OPEN),
        (SessionState.COLLECTING, T0 + timedelta(minutes=44), None),
        (SessionState.COLLECTING, T0 + timedelta(minutes=45), SessionMove.CLOSE),
        (SessionState.LIVE, T0 + timedelta(minutes=45), SessionMove.CLOSE),
        # a session that never opened (the bot was down) closes rather than opening late
        (SessionState.SCHEDULED, T0 + timedelta(hours=2), SessionMove.CLOSE),
        (SessionState.CLOSED, T0 + timedelta(hours=2), None),
        (SessionState.CANCELLED, T0 + timedelta(hours=2), None),
    ],
)
def test_the_clock_opens_and_closes_but_never_goes_live(state, now, expected):
    times = session_times(
        T0,
        timedelta(minutes=30),
        livestream_start=T0 - timedelta(days=4),
        open_before=None,
        close_after=timedelta(minutes=15),
    )
    assert due_move(state, times, now) is expected


def test_session_moves_form_the_documented_lifecycle():
    def reach(move: SessionMove, state: SessionState) -> SessionState | None:
        m = SESSION_MOVES[move]
        return SessionState(m.target) if m.allowed_from(state) else None

    state = SessionState.SCHEDULED
    for move in (SessionMove.OPEN, SessionMove.LIVE, SessionMove.CLOSE, SessionMove.PUBLISH):
        nxt = reach(move, state)
        assert nxt is not None, (move, state)
        state = nxt
    assert state is SessionState.PUBLISHED
    assert reach(SessionMove.REOPEN, state) is SessionState.COLLECTING
    assert reach(SessionMove.OPEN, SessionState.CLOSED) is None
    assert reach(SessionMove.CANCEL, SessionState.PUBLISHED) is None


def test_every_question_state_but_terminal_ones_has_a_way_out():
    sources = set().union(*(m.sources for m in QUESTION_MOVES.values()))
    terminal = {Q.DENIED, Q.MERGED, Q.WITHDRAWN, Q.ANSWERED}
    assert set(Q) - terminal <= sources
    for move in QUESTION_MOVES.values():
        assert move.target not in move.sources or move is QUESTION_MOVES[QuestionMove.LATER]


def test_a_question_goes_on_air_only_from_the_queue():
    assert QUESTION_MOVES[QuestionMove.ON_AIR].allowed_from(Q.APPROVED)
    assert not QUESTION_MOVES[QuestionMove.ON_AIR].allowed_from(Q.PENDING)
    assert not QUESTION_MOVES[QuestionMove.APPROVE].allowed_from(Q.APPROVED)  # double click


# --- limits

LIMITS = AmaLimits()


def test_length_limits_count_characters():
    assert check_question("x" * 14, [], LIMITS, T0).code is Refusal.TOO_SHORT
    assert check_question("x" * 15, [], LIMITS, T0) is None
    assert check_question("é" * 1000, [], LIMITS, T0) is None
    assert check_question("é" * 1001, [], LIMITS, T0).code is Refusal.TOO_LONG


def test_three_open_questions_at_most():
    own = [
        q(i, f"question number {i} about models", state=Q.PENDING, at=T0 - timedelta(hours=i))
        for i in range(1, 4)
    ]
    refused = check_question("a fourth question about models", own, LIMITS, T0)
    assert refused and refused.code is Refusal.TOO_MANY_OPEN
    answered = [*own[:2], q(3, own[2].text, state=Q.ANSWERED, at=own[2].created_at)]
    assert check_question("a fourth question about models", answered, LIMITS, T0) is None


def test_ten_per_ama_counts_withdrawn_ones():
    own = [
        q(i, f"question {i} withdrawn later", state=Q.WITHDRAWN, at=T0 - timedelta(hours=i))
        for i in range(1, 11)
    ]
    assert check_question("an eleventh question here", own, LIMITS, T0).code is Refusal.TOO_MANY


def test_one_a_minute():
    own = [q(1, state=Q.PENDING, at=T0 - timedelta(seconds=20))]
    refused = check_question("another question, quickly", own, LIMITS, T0)
    assert refused.code is Refusal.TOO_SOON
    assert "40 s" in refused.message
    assert (
        check_question("another question, later", own, LIMITS, T0 + timedelta(seconds=40)) is None
    )


def test_the_same_question_twice_is_refused_whatever_its_case_and_punctuation():
    own = [q(1, "How much data do I need to fine-tune?", at=T0 - timedelta(hours=1))]
    refused = check_question("  how much DATA do i need to fine tune ", own, LIMITS, T0)
    assert refused.code is Refusal.REPEATED


def test_a_withdrawn_question_may_be_asked_again():
    own = [
        q(1, "How much data do I need to fine-tune?", state=Q.WITHDRAWN, at=T0 - timedelta(hours=1))
    ]
    assert check_question("How much data do I need to fine-tune?", own, LIMITS, T0) is None


# --- duplicates


def test_normalise_ignores_case_punctuation_and_width():
    assert normalise("Fine-Tuning, ＬＯＲＡ?!") == normalise("fine tuning lora")


def test_similar_questions_ignore_stopwords_and_rank_by_similarity():
    mine = "How much data do I need before fine-tuning beats prompting?"
    pool = [
        q(1, "What data volume is needed before fine-tuning beats prompting?"),
        q(2, "Can distillation keep tool calling?"),
        q(3, "How much data do you need before fine-tuning beats prompting", state=Q.PENDING),
        q(4, "How much data before fine-tuning beats prompting?", state=Q.DENIED),
    ]
    hits = similar_questions(mine, pool)
    assert [h.id for h in hits] == [3, 1]
    assert similarity(mine, pool[1].text) < 0.6


def test_merge_candidates_leave_out_the_source_and_closed_questions():
    source = q(1, "Does LoRA work on small models?", state=Q.PENDING)
    pool = [
        source,
        q(2, "LoRA on small models: does it work?"),
        q(3, "Other", state=Q.WITHDRAWN),
        q(4, "When is distillation better than LoRA?"),
    ]
    assert [c.id for c in merge_candidates(source, pool)] == [2, 4]


# --- votes, queue and board


def test_score_counts_distinct_backers_once():
    merged = q(1, author=100, askers={100, 101}, voters={101, 102})
    assert merged.score == 3


def test_askers_cannot_vote_for_their_own_question():
    question = q(1, author=100, askers={101})
    assert vote_refusal(question, 100) is VoteRefusal.OWN
    assert vote_refusal(question, 101) is VoteRefusal.OWN
    assert vote_refusal(question, 102) is None
    assert vote_refusal(q(2, state=Q.ANSWERED), 102) is VoteRefusal.CLOSED


def test_queue_puts_umbrella_then_votes_then_age():
    pool = [
        q(1, at=T0, voters={1}),
        q(2, at=T0 - timedelta(minutes=1), voters={1}),
        q(3, at=T0, voters={1, 2, 3}),
        q(4, at=T0 + timedelta(minutes=5), umbrella=True),
        q(5, state=Q.PENDING, voters={1, 2, 3, 4}),
    ]
    assert [x.id for x in queue(pool)] == [4, 3, 2, 1]


def test_board_shows_on_air_next_five_and_counts():
    live = T0
    pool = [q(i, at=T0 - timedelta(minutes=i), voters=set(range(i))) for i in range(1, 9)]
    pool.append(q(20, state=Q.ON_AIR, on_air_at=T0 + timedelta(minutes=3)))
    pool.append(q(21, state=Q.PENDING))
    pool.append(q(22, state=Q.ANSWERED))
    view = board(pool, T0 + timedelta(minutes=5), live)
    assert view.on_air.id == 20
    assert view.on_air_for == timedelta(minutes=2)
    assert view.live_for == timedelta(minutes=5)
    assert [x.id for x in view.next] == [8, 7, 6, 5, 4]
    assert view.counts == {"pending": 1, "approved": 8, "answered": 1, "skipped": 0}


def test_next_answers_the_current_and_takes_the_top():
    pool = [q(1, state=Q.ON_AIR), q(2, voters={5}), q(3)]
    current, nxt = next_on_air(pool)
    assert current.id == 1 and nxt.id == 2
    assert next_on_air([q(1, state=Q.ANSWERED)]) == (None, None)


@pytest.mark.parametrize(
    ("seconds", "label"), [(0, "00:00"), (252, "04:12"), (3599, "59:59"), (3725, "1:02:05")]
)
def test_offset_label(seconds, label):
    assert offset_label(timedelta(seconds=seconds)) == label


def test_phase_default_is_before():
    assert q(1).phase is Phase.BEFORE
