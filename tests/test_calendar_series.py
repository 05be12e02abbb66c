"""The calendar feed over several series (bot/plan/calendar.py `lineup_feed_ics`): every
series' events in one feed, UIDs scoped like the keys (`scoped_id`) so two series never share
one, and a one-series feed exactly as before (its UIDs and bytes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from icalendar import Calendar

from bot.config import Settings
from bot.plan.calendar import (
    calendar_hashes,
    feed_ics,
    lineup_feed_ics,
    lineup_hashes,
)
from tests.builders import make_episode

NOW = datetime(2025, 7, 10, 12, 0, tzinfo=UTC)


def uids(data: bytes) -> list[str]:
    return sorted(str(e["UID"]) for e in Calendar.from_ical(data).walk("VEVENT"))


def two_series() -> tuple[Settings, Settings]:
    first = Settings()
    talk = replace(
        first,
        series=replace(first.series, id="talk", name="Talk Tuesdays", key_prefix="talk/"),
    )
    return first, talk


def test_a_one_series_lineup_is_the_feed_of_before():
    eps = [make_episode("s2-e05"), make_episode("s2-e06")]
    settings = Settings()
    assert lineup_feed_ics([(settings, eps)], NOW) == feed_ics(eps, settings, NOW)
    assert lineup_hashes([(settings, eps)], NOW) == calendar_hashes(eps, settings, NOW)
    assert uids(feed_ics(eps, settings, NOW)) == [
        "s2-e05-ama@amabot",
        "s2-e05-livestream@amabot",
        "s2-e06-ama@amabot",
        "s2-e06-livestream@amabot",
    ]


def test_two_series_share_one_feed_with_their_own_uids_even_for_the_same_episode_id():
    first, talk = two_series()
    # The same episode id in both series: still two events each, apart.
    shows = [(first, [make_episode("s1-e01")]), (talk, [make_episode("s1-e01")])]
    data = lineup_feed_ics(shows, NOW)
    assert uids(data) == [
        "s1-e01-ama@amabot",
        "s1-e01-livestream@amabot",
        "talk/s1-e01-ama@amabot",
        "talk/s1-e01-livestream@amabot",
    ]
    summaries = sorted(str(e["SUMMARY"]) for e in Calendar.from_ical(data).walk("VEVENT"))
    assert sum(s.startswith("Talk Tuesdays ") for s in summaries) == 2
    assert str(Calendar.from_ical(data)["X-WR-CALNAME"]) == f"{first.series.name}, Talk Tuesdays"
    hashes = lineup_hashes(shows, NOW)
    assert set(hashes) == set(uids(data))
    # Each series' SEQUENCE is its own UID's.
    bumped = lineup_feed_ics(shows, NOW, {"talk/s1-e01-ama@amabot": 4})
    seq = {str(e["UID"]): int(e["SEQUENCE"]) for e in Calendar.from_ical(bumped).walk("VEVENT")}
    assert seq["talk/s1-e01-ama@amabot"] == 4 and seq["s1-e01-ama@amabot"] == 0
