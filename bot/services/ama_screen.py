"""The AMA on screen (`/ama/<episode>/screen`, a host's OBS browser source): what it shows,
as plain JSON-ready data the web page renders. Read-only: the board's view (bot/plan/ama.py
`board`) of one session, with only what a member may see (an anonymous asker stays "a
community member")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.plan.ama import AmaKey, Question, board
from bot.store import Store

# "The next few": a screen has room for fewer than the host's board.
SCREEN_NEXT = 3


def _question(question: Question) -> dict[str, Any]:
    return {
        "id": question.id,
        "text": question.text,
        "asked_by": question.shown_name(),
        "votes": question.score,
    }


async def screen_view(
    store: Store, series: str, episode_id: str, now: datetime
) -> dict[str, Any] | None:
    """The screen's data for the series' AMA of `episode_id`, or None when there is none."""
    session = await store.ama.session_of(AmaKey(series, episode_id))
    if session is None:
        return None
    view = board(await store.ama.questions(session.id), now, session.live_started_at)
    return {
        "episode": episode_id,
        "title": session.title,
        "state": str(session.state),
        "on_air": _question(view.on_air) if view.on_air is not None else None,
        "next": [_question(q) for q in view.next[:SCREEN_NEXT]],
        "counts": dict(view.counts),
    }
