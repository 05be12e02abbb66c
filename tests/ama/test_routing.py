"""Which series' AMA an interaction means (bot/services/ama_routing.py), without Discord:
`/ask` with one or several AMAs taking questions, its options, the thread it was used in;
an organiser's `/ama` command's series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.plan.ama import AmaKey, AmaSession, AmaTimes, SessionState
from bot.services.ama_routing import choose_ask, choose_series, session_in_place

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
