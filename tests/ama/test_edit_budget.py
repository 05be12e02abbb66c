"""The AMA's coalesced edits (bot/services/ama_messages.py), below the e2e storm of
tests/e2e/test_ama_votes.py: at most EDITS_PER_WINDOW question messages per thread in any
EDIT_WINDOW, those waiting longest first, however the wake-ups fall (a flush that emptied the
waiting set once let the next vote flush at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.config import load_settings
from bot.plan import ama_posts
from bot.plan.ama import AmaKey, AmaLimits, AmaTimes, Phase, QuestionState, SessionMove
from bot.services.ama import EDITS_PER_WINDOW, WAKE_PREFIX, AmaService
from bot.store import open_store

T0 = datetime(2025, 7, 18, 17, 0, tzinfo=UTC)
KEY = AmaKey("model-mondays", "s2-e05")
TIMES = AmaTimes(T0 - timedelta(hours=1), T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=1))


@pytest.fixture
async def world(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[ama]\nenabled = true\nchannel_id = 11\nreview_channel_id = 12\nreview = "off"\n',
        encoding="utf-8",
    )
    store = await open_store(tmp_path / "amabot.sqlite3")
    woken: list[tuple[str, datetime]] = []

    async def deliver() -> None:
        return None

    clock = ManualClock(T0)
    service = AmaService(
        store=store,
        settings=load_settings(config, environ={}),
        clock=clock,
        schedule=lambda key, when: woken.append((key, when)),
        deliver=deliver,
        series=KEY.series,
        guild_id=1,
    )
    session = await store.ama.upsert_session(
        KEY, title="S2:E5", timezone="UTC", guests=["Dave"], times=TIMES, now=T0
    )
    await store.ama.move_session(session.id, SessionMove.OPEN, T0)
    await store.ama.set_places(session.id, thread_id=21, board_thread_id=22)
    questions = []
    for member in range(1, 11):
        asked = await store.ama.ask(
            session.id,
            author_id=member,
            author_name=f"m{member}",
            text=f"Question number {member} about a topic of its own?",
            anonymous=False,
            notify=True,
            phase=Phase.BEFORE,
            state=QuestionState.APPROVED,
            limits=AmaLimits(),
            now=T0,
        )
        questions.append(asked.id)
    yield service, store, session.id, questions, woken
    await store.close()


async def _shown(store, questions) -> list[int]:
    """The questions whose message the flushes have planned so far."""
    return [
        q for q in questions if await store.outbox.get(ama_posts.question_key(KEY, q)) is not None
    ]


async def test_a_storm_is_edited_four_per_window_oldest_first(world):
    service, store, sid, questions, woken = world
    edits = f"{WAKE_PREFIX}{sid}:edits"
    for q in reversed(questions):  # the highest id waits longest
        await service.vote(q, 100)
    assert [k for k, _ in woken] == [edits]  # one wake-up for the whole storm

    await service.on_wake(edits)
    first = await _shown(store, questions)
    assert sorted(first) == sorted(questions[-EDITS_PER_WINDOW:])
    assert woken[-1][0] == edits and woken[-1][1] > T0 + timedelta(seconds=4)

    # A wake-up before the window has room edits nothing more, however it comes.
    await service.vote(questions[0], 101)
    await service.on_wake(edits)
    assert await _shown(store, questions) == first
