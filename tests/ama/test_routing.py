"""Which series' AMA an interaction means (bot/services/ama_routing.py), without Discord:
`/ask` with one or several AMAs taking questions, its options, the thread it was used in;
an organiser's `/ama` command's series; and the router over a real SQLite store (a button's
question or session -> its series' service)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from bot.plan.ama import (
    OPEN_STATES,
    AmaKey,
    AmaLimits,
    AmaSession,
    AmaTimes,
    Phase,
    Question,
    QuestionState,
    SessionState,
)
from bot.services.ama_routing import AmaRouter, choose_ask, choose_series, session_in_place
from bot.store import open_store

T = datetime(2026, 3, 6, 17, tzinfo=UTC)
TIMES = AmaTimes(T, T + timedelta(hours=1), T + timedelta(hours=2), T + timedelta(hours=3))


def session(
    sid: int,
    series: str,
    episode: str,
    *,
    thread: int | None = None,
    board: int | None = None,
    state: SessionState = SessionState.COLLECTING,
) -> AmaSession:
    return AmaSession(
        id=sid,
        key=AmaKey(series, episode),
        state=state,
        title=f"{series} {episode}",
        timezone="UTC",
        times=TIMES,
        thread_id=thread,
        board_thread_id=board,
    )


A = session(1, "mm", "s9-e01", thread=100, board=101)
B = session(2, "talk", "t1-e01", thread=200, board=201)
B2 = session(3, "talk", "t1-e02", thread=300, board=301)


def test_one_ama_taking_questions_is_the_one_asked():
    assert choose_ask([A]).session == A
    assert choose_ask([B]).session == B
    assert choose_ask([B], channel_id=999).session == B


def test_none_taking_questions_says_so_for_the_series_asked_about():
    route = choose_ask([])
    assert route.session is None and route.which == () and route.episodes == ()
    assert choose_ask([A], series="talk").series == "talk"
    assert choose_ask([A], series="talk").session is None


def test_two_series_taking_questions_ask_which_series_naming_both():
    route = choose_ask([A, B])
    assert route.session is None
    assert route.which == ("mm", "talk")
    # Three sessions of two series: each series named once, in order.
    assert choose_ask([A, B, B2]).which == ("mm", "talk")


def test_the_series_option_picks_one():
    assert choose_ask([A, B], series="talk").session == B
    assert choose_ask([A, B], series="mm").session == A


def test_two_ama_of_one_series_ask_which_ama():
    route = choose_ask([A, B, B2], series="talk")
    assert route.session is None and route.which == ()
    assert route.series == "talk" and route.episodes == ("t1-e01", "t1-e02")
    assert choose_ask([A, B, B2], series="talk", episode="t1-e02").session == B2
    assert choose_ask([A, B, B2], episode="t1-e02").session == B2


def test_asked_in_a_series_ama_thread_that_series_is_implied():
    assert choose_ask([A, B], channel_id=200).session == B
    assert choose_ask([A, B], channel_id=101).session == A  # its host board too
    assert choose_ask([A, B, B2], channel_id=300).session == B2
    # A series named explicitly wins over the place.
    assert choose_ask([A, B], series="mm", channel_id=200).session == A


def test_session_in_place():
    assert session_in_place([A, B], 201) == B
    assert session_in_place([A, B], 5) is None
    assert session_in_place([A, B], None) is None


def test_organisers_series_defaults_to_the_first_with_the_ama():
    enabled = ["mm", "talk"]
    assert choose_series(enabled) == "mm"
    assert choose_series(["talk"]) == "talk"
    assert choose_series([]) is None
    assert choose_series(enabled, series="talk") == "talk"
    assert choose_series(enabled, series="nope") is None
    assert choose_series(enabled, sessions=[A, B], channel_id=201) == "talk"
    assert choose_series(enabled, sessions=[A, B], channel_id=7) == "mm"
    # A thread of a series whose AMA is off is no hint.
    assert choose_series(["mm"], sessions=[A, B], channel_id=200) == "mm"


# -- AmaRouter over a real SQLite store: a row's series picks the service ------------------


class SeriesAma:
    """What the router reads of one series' `AmaService`, over the real store."""

    def __init__(self, store: Any, series: str, name: str):
        self.store, self.series, self.series_name = store, series, name
        self.drafts: set[int] = set()
        self.questions = self

    def has_draft(self, draft_id: int) -> bool:
        return draft_id in self.drafts

    async def session_for(self, episode_id: str) -> AmaSession | None:
        return await self.store.ama.session_of(AmaKey(self.series, episode_id))

    async def open_sessions(self) -> list[AmaSession]:
        return await self.store.ama.sessions(OPEN_STATES, series=self.series)


async def _session(store: Any, series: str, episode: str) -> AmaSession:
    return await store.ama.upsert_session(
        AmaKey(series, episode), title=episode, timezone="UTC", guests=[], times=TIMES, now=T
    )


async def _ask(store: Any, sid: int, member: int) -> int:
    stored = await store.ama.ask(
        sid,
        author_id=member,
        author_name=f"m{member}",
        text=f"A question long enough from member {member}?",
        anonymous=False,
        notify=False,
        phase=Phase.BEFORE,
        state=QuestionState.PENDING,
        limits=AmaLimits(),
        now=T,
    )
    assert isinstance(stored, Question), stored
    return stored.id


async def test_the_router_sends_each_row_to_its_own_series(tmp_path):
    store = await open_store(tmp_path / "amabot.sqlite3")
    try:
        mm, talk = SeriesAma(store, "mm", "Model Mondays"), SeriesAma(store, "talk", "Talk")
        router = AmaRouter(cast(Any, {"mm": mm, "talk": talk}))
        a = await _session(store, "mm", "s9-e01")
        b = await _session(store, "talk", "t1-e01")
        gone = await _session(store, "old-show", "o1-e01")  # a series no longer running AMAs
        qa, qb, qgone = [await _ask(store, s.id, 7) for s in (a, b, gone)]
        assert await router.for_session(a.id) is mm
        assert await router.for_session(b.id) is talk
        assert await router.for_question(qa) is mm
        assert await router.for_question(qb) is talk
        # A row of a series without an AMA service: nobody else's service acts on it.
        assert await router.for_session(gone.id) is None
        assert await router.for_question(qgone) is None
        # Rows that are gone: the first series answers ("gone"), as before several series.
        assert await router.for_session(999) is mm
        assert await router.for_question(999) is mm
        # An "Ask a question" id names only the episode: the first series that has it.
        assert await router.for_episode("t1-e01") is talk
        assert await router.for_episode("s9-e01") is mm
        await _session(store, "talk", "s9-e01")  # the same episode id in both: the first's
        assert await router.for_episode("s9-e01") is mm
        talk.drafts.add(42)
        assert router.for_draft(42) is talk
        assert router.name("talk") == "Talk" and router.name("nope") == "nope"
    finally:
        await store.close()
