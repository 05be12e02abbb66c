"""Which AMA messages should exist, as outbox posts: pure, from a session, its questions and
where they go. Every message the bot posts or edits for the AMA is one of these, so it has the
outbox's guarantees (sent once across crashes; a changed payload becomes an edit of the sent
message, so a burst of votes is one edit with the latest count).

Keys: ``ama:<series>:<episode>:<part>``, one scope per session, so planning one AMA never
touches another's rows (nor another series').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.plan.ama import (
    PUBLIC_STATES,
    AmaKey,
    AmaSession,
    Question,
    QuestionState,
    ReviewMode,
    SessionState,
    board,
)
from bot.plan.kinds import ama_post_key
from bot.plan.posts import PlannedPost
from bot.render import ama as render

AMA_KIND = "ama"


def scope(key: AmaKey) -> str:
    """The key scope of one session's posts."""
    return ama_post_key(key.series, key.episode_id, "")


def post_key(key: AmaKey, part: str) -> str:
    return ama_post_key(key.series, key.episode_id, part)


def prompt_key(key: AmaKey) -> str:
    return post_key(key, "prompt")


def question_key(key: AmaKey, question_id: int) -> str:
    return post_key(key, f"q{question_id}")


def review_key(key: AmaKey, question_id: int) -> str:
    return post_key(key, f"review{question_id}")


def board_key(session: AmaSession) -> str:
    """The host board's key. The board is posted again when the AMA goes live: Discord
    allows only a few edits an hour to a message older than an hour (30046), and a board
    posted on Monday is edited on every click on Friday."""
    live = session.live_started_at is not None
    return post_key(session.key, "board-live" if live else "board")


def closing_key(key: AmaKey) -> str:
    return post_key(key, "closing")


def view_of(session: AmaSession, series_name: str) -> render.SessionView:
    return render.SessionView(
        session.id,
        session.title,
        series_name,
        session.times.starts_at,
        session.guests,
        session.state,
    )


def _post(
    key: str, session: AmaSession, channel_id: int, payload: dict, now: datetime
) -> PlannedPost:
    return PlannedPost(
        key=key,
        kind=AMA_KIND,
        due_at=now,
        channel_id=channel_id,
        payload=payload,
        subject=session.key.episode_id,
    )


def prompt_post(
    session: AmaSession, series_name: str, channel_id: int, now: datetime
) -> PlannedPost | None:
    """The prompt that opens the questions thread, from the moment the session collects.
    Its button follows the session (disabled once closed)."""
    if session.state in (SessionState.SCHEDULED, SessionState.CANCELLED) or not channel_id:
        return None
    payload = render.prompt_message(view_of(session, series_name))
    return _post(prompt_key(session.key), session, channel_id, payload, now)


def question_post(session: AmaSession, question: Question, now: datetime) -> PlannedPost | None:
    """A question's public message in the thread, once it is public (and the thread is made)."""
    if session.thread_id is None or question.state not in PUBLIC_STATES:
        return None
    payload = render.question_message(question)
    return _post(question_key(session.key, question.id), session, session.thread_id, payload, now)


def review_post(
    session: AmaSession,
    question: Question,
    channel_id: int,
    now: datetime,
    *,
    done_by: int | None = None,
    similar: Sequence[Question] = (),
) -> PlannedPost | None:
    """The organisers' card for a question that needed review (review "pre")."""
    if not channel_id:
        return None
    payload = render.review_card(question, done_by=done_by, similar=similar)
    return _post(review_key(session.key, question.id), session, channel_id, payload, now)


def board_post(
    session: AmaSession, questions: Sequence[Question], series_name: str, now: datetime
) -> PlannedPost | None:
    """The host board in its private thread, from the moment the session collects."""
    if session.board_thread_id is None or session.state is SessionState.SCHEDULED:
        return None
    view = board(questions, now, session.live_started_at)
    payload = render.board_message(view_of(session, series_name), view, session.live_started_at)
    return _post(board_key(session), session, session.board_thread_id, payload, now)


def closing_post(
    session: AmaSession, questions: Sequence[Question], now: datetime
) -> PlannedPost | None:
    """The not-reached list, posted in the thread once the session closes."""
    if session.thread_id is None or session.state not in (
        SessionState.CLOSED,
        SessionState.PUBLISHED,
    ):
        return None
    waiting = [
        q for q in questions if q.state in (QuestionState.NOT_REACHED, QuestionState.APPROVED)
    ]
    payload = render.not_reached_list(sorted(waiting, key=lambda q: (-q.score, q.id)))
    return _post(closing_key(session.key), session, session.thread_id, payload, now)


@dataclass(frozen=True, slots=True)
class AmaPlaces:
    """Where a series' AMA posts go (from its ``[ama]`` settings); the threads are the
    session's own."""

    prompt_channel_id: int
    review_channel_id: int
    review: ReviewMode


def session_posts(
    session: AmaSession,
    questions: Sequence[Question],
    places: AmaPlaces,
    series_name: str,
    now: datetime,
) -> list[PlannedPost]:
    """Every channel message a session should have now: the plan reconciled into the outbox
    (one key scope per session) at start-up and after a change. DMs are planned where the
    change that calls for them happens."""
    planned: list[PlannedPost | None] = [
        prompt_post(session, series_name, places.prompt_channel_id, now),
        board_post(session, questions, series_name, now),
        closing_post(session, questions, now),
    ]
    for question in questions:
        planned.append(question_post(session, question, now))
        if places.review is not ReviewMode.OFF and question.author_id and not question.umbrella:
            planned.append(
                review_post(
                    session, question, places.review_channel_id, now, done_by=question.decided_by
                )
            )
    return [p for p in planned if p is not None]
