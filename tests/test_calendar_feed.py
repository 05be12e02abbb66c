"""Calendar export: the `.ics` attachment and the feed, parsed back with icalendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar

from bot.config import Settings
from bot.content.models import EpisodeStatus
from bot.plan.calendar import (
    calendar_hashes,
    episode_ics,
    event_uid,
    feed_ics,
    ics_filename,
)
from bot.store import open_store
from bot.web.calendar import calendar_route
from bot.web.webhook import make_webhook_app
from tests.builders import make_episode

LA = "America/Los_Angeles"
M = timedelta(minutes=1)
NOW = datetime(2025, 7, 10, 12, 0, tzinfo=UTC)
MONDAY = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # 10:30 in Los Angeles (PDT)
FRIDAY = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
WINTER = datetime(2025, 12, 1, 18, 30, tzinfo=UTC)  # 10:30 in Los Angeles (PST)


# The feed's episodes carry a summary (the events' description).
episode = partial(make_episode, summary="Small models, big jobs.")


def events_of(data: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_episode_ics_holds_both_events_in_utc_with_the_zone_and_an_alarm():
    data = episode_ics(episode(), Settings(), NOW)
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-TIMEZONE"]) == LA
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == [LA]
    events = events_of(data)
    assert set(events) == {"s2-e05-livestream@amabot", "s2-e05-ama@amabot"}
    ls = events["s2-e05-livestream@amabot"]
    start = ls["DTSTART"].dt
    assert start == MONDAY and start.utcoffset() == timedelta(0)
    assert b"DTSTART:20250714T173000Z" in data
    assert start.astimezone(ZoneInfo(LA)).strftime("%H:%M") == "10:30"
    assert ls["DTEND"].dt == MONDAY + 30 * M
    assert str(ls["SUMMARY"]) == "Model Mondays S2:E5 Livestream: Fine Tuning & Distillation"
    assert str(ls["STATUS"]) == "CONFIRMED"
    alarms = ls.walk("VALARM")
    assert len(alarms) == 1
    assert alarms[0]["TRIGGER"].dt == -15 * M
    assert ics_filename(episode()) == "s2-e05.ics"


def test_winter_times_land_on_the_same_wall_clock():
    data = episode_ics(episode(ls_at=WINTER, ama_at=WINTER + timedelta(days=4)), Settings(), NOW)
    start = events_of(data)["s2-e05-livestream@amabot"]["DTSTART"].dt
    assert start == WINTER
    assert start.astimezone(ZoneInfo(LA)).strftime("%H:%M") == "10:30"


def test_tbd_events_are_left_out():
    data = episode_ics(episode(ama_at=None), Settings(), NOW)
    assert set(events_of(data)) == {"s2-e05-livestream@amabot"}


def test_feed_uids_are_stable_across_builds_and_sequence_comes_from_the_caller():
    eps = [episode(), episode("s2-e06", ls_at=MONDAY + timedelta(days=7), ama_at=None)]
    first = feed_ics(eps, Settings(), NOW)
    second = feed_ics(list(reversed(eps)), Settings(), NOW + timedelta(hours=1))
    assert list(events_of(first)) == list(events_of(second))
    assert set(events_of(first)) == {
        "s2-e05-livestream@amabot",
        "s2-e05-ama@amabot",
        "s2-e06-livestream@amabot",
    }
    bumped = feed_ics(eps, Settings(), NOW, {event_uid("s2-e05", "ama"): 3})
    assert int(events_of(bumped)["s2-e05-ama@amabot"]["SEQUENCE"]) == 3
    assert int(events_of(bumped)["s2-e05-livestream@amabot"]["SEQUENCE"]) == 0


def test_cancelled_events_are_marked_and_old_ones_dropped():
    eps = [
        episode(status=EpisodeStatus.CANCELLED),
        episode("s1-e01", ls_at=NOW - timedelta(days=60), ama_at=None),
        episode("tbd", ls_at=None, ama_at=None, status=EpisodeStatus.TBD),
    ]
    events = events_of(feed_ics(eps, Settings(), NOW))
    assert set(events) == {"s2-e05-livestream@amabot", "s2-e05-ama@amabot"}
    assert {str(e["STATUS"]) for e in events.values()} == {"CANCELLED"}
    assert all(not e.walk("VALARM") for e in events.values())


async def test_sequence_bumps_once_per_change_and_survives_a_restart(tmp_path):
    path = tmp_path / "amabot.sqlite3"
    eps = [episode()]
    async with await open_store(path) as store:
        seq = await store.events.calendar_sequences(calendar_hashes(eps, Settings(), NOW), NOW)
        assert set(seq.values()) == {0}
        seq = await store.events.calendar_sequences(calendar_hashes(eps, Settings(), NOW), NOW)
        assert set(seq.values()) == {0}
    moved = [episode(ama_at=FRIDAY + timedelta(hours=1))]
    async with await open_store(path) as store:
        hashes = calendar_hashes(moved, Settings(), NOW)
        seq = await store.events.calendar_sequences(hashes, NOW)
        assert seq == {"s2-e05-livestream@amabot": 0, "s2-e05-ama@amabot": 1}
        seq = await store.events.calendar_sequences(hashes, NOW)  # read again: no bump
        assert seq["s2-e05-ama@amabot"] == 1
        events = events_of(feed_ics(moved, Settings(), NOW, seq))
        assert int(events["s2-e05-ama@amabot"]["SEQUENCE"]) == 1
        cancelled = [replace(moved[0], status=EpisodeStatus.CANCELLED)]
        seq = await store.events.calendar_sequences(
            calendar_hashes(cancelled, Settings(), NOW), NOW
        )
        assert seq == {"s2-e05-livestream@amabot": 1, "s2-e05-ama@amabot": 2}


async def test_calendar_route_serves_the_feed_with_an_etag():
    async def get_feed() -> bytes:
        return feed_ics([episode()], Settings(), NOW)

    async def health() -> dict:
        return {"ok": True}

    app = make_webhook_app(
        secret=b"s3cret",
        branch="main",
        on_push=lambda payload: None,
        health=health,
        extra_routes=[calendar_route(get_feed)],
    )
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/calendar.ics")
        assert response.status == 200
        assert response.content_type == "text/calendar"
        body = await response.read()
        assert len(events_of(body)) == 2
        etag = response.headers["ETag"]
        again = await client.get("/calendar.ics", headers={"If-None-Match": etag})
        assert again.status == 304


CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "model-mondays"


def test_the_corpus_feed_parses_back_with_unique_uids():
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the repo ({CORPUS})")
    from bot.content.index import ContentIndex

    index = ContentIndex(CORPUS.resolve(), Settings())
    index.reload()
    now = datetime(2025, 6, 1, tzinfo=UTC)
    data = feed_ics(index.episodes(), Settings(), now)
    cal = Calendar.from_ical(data)
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert uids and len(uids) == len(set(uids))
    for vevent in cal.walk("VEVENT"):
        assert vevent["DTSTART"].dt.utcoffset() == timedelta(0)
        assert vevent["DTEND"].dt > vevent["DTSTART"].dt
    assert feed_ics(index.episodes(), Settings(), now) == data  # same input, same bytes
