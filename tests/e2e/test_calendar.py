"""Calendar export end to end: the "Add to calendar" .ics attachment and `GET /calendar.ics`,
both parsed back with icalendar: times in UTC, the show's zone, stable UIDs, SEQUENCE bumped
on a change and only then, cancelled events marked STATUS:CANCELLED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from icalendar import Calendar

from bot.clock import ManualClock
from tests.builders import episode_md
from tests.e2e.episodes import AMA_START, LA, LS_START, SUNDAY, http_get, webhook_url, world


def vevents(data: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def feed(h) -> tuple[Calendar, dict[str, object], dict[str, str]]:
    status, body, headers = await http_get(webhook_url(h) + "/calendar.ics")
    assert status == 200 and headers["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(body), vevents(body), headers


def utc_of(prop) -> datetime:
    value = prop.dt
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value
    return value.astimezone(UTC)


async def test_add_to_calendar_answers_with_an_ics_file_just_for_the_member(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        sb = h.sandbox
        reply = await sb.slash(h.member, h.general, "episode", query="s9e1")
        answer = await sb.click(h.member, h.general, reply.message, "amabot:ics:s9-e01")
        assert answer.ephemeral and [f["filename"] for f in answer.files] == ["s9-e01.ics"]
        callback = sb.requests_to("POST", "/interactions/*/*/callback")[-1]
        data = callback.file_data["s9-e01.ics"]
        assert b"DTSTART:20250714T173000Z" in data  # written in UTC
        cal = Calendar.from_ical(data)
        assert str(cal["X-WR-TIMEZONE"]) == LA
        assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == [LA]
        events = vevents(data)
        assert set(events) == {"s9-e01-livestream@amabot", "s9-e01-ama@amabot"}
        ls, ama = events["s9-e01-livestream@amabot"], events["s9-e01-ama@amabot"]
        assert utc_of(ls["DTSTART"]) == LS_START
        assert utc_of(ls["DTEND"]) == LS_START + timedelta(minutes=30)
        assert utc_of(ama["DTSTART"]) == AMA_START
        # 10:30 in the show's own zone, whatever zone a reader is in.
        assert utc_of(ama["DTSTART"]).astimezone(ZoneInfo(LA)).hour == 10
        assert ls.walk("VALARM") and ama.walk("VALARM")
        assert "S9:E1 Livestream: Fine Tuning & Distillation" in str(ls["SUMMARY"])
        # A stale button (the episode is gone since) is answered, not left spinning.
        await h.merge({"episodes/s9-e01.md": None}, "remove")
        await h.posting.sync.pull_now("test")
        stale = await sb.click(h.member, h.general, reply.message, "amabot:ics:s9-e01")
        assert stale.ephemeral and "no longer in the schedule" in stale.content


async def test_the_feed_keeps_uids_bumps_sequence_on_change_and_marks_cancellations(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        cal, events, headers = await feed(h)
        assert str(cal["X-WR-TIMEZONE"]) == h.settings.series.timezone
        assert LA in [str(z["TZID"]) for z in cal.walk("VTIMEZONE")]
        uids = set(events)
        assert uids == {"s9-e01-livestream@amabot", "s9-e01-ama@amabot"}
        assert {u: int(e["SEQUENCE"]) for u, e in events.items()} == dict.fromkeys(uids, 0)
        assert utc_of(events["s9-e01-ama@amabot"]["DTSTART"]) == AMA_START
        # Polling again with the ETag costs nothing.
        etag = next(v for k, v in headers.items() if k.lower() == "etag")
        status, _, _ = await http_get_with_etag(h, etag)
        assert status == 304

        # A restart and a reload: the same UIDs, nothing bumped.
        await h.restart_bot()
        _, events, _ = await feed(h)
        assert set(events) == uids
        assert {int(e["SEQUENCE"]) for e in events.values()} == {0}

        # The AMA moves: its SEQUENCE grows once, however often the feed is read.
        await h.merge({"episodes/s9-e01.md": episode_md(ama="2025-07-18T11:30")}, "move")
        await h.posting.sync.pull_now("test")
        for _ in range(2):
            _, events, _ = await feed(h)
            ama = events["s9-e01-ama@amabot"]
            assert int(ama["SEQUENCE"]) == 1
            assert int(events["s9-e01-livestream@amabot"]["SEQUENCE"]) == 0
            assert utc_of(ama["DTSTART"]) == AMA_START + timedelta(hours=1)

        # Cancelled: still in the feed, marked cancelled, so calendars drop it.
        await h.merge({"episodes/s9-e01.md": episode_md(status="cancelled")}, "cancel")
        await h.posting.sync.pull_now("test")
        _, events, _ = await feed(h)
        assert set(events) == uids
        assert {str(e["STATUS"]) for e in events.values()} == {"CANCELLED"}
        assert all(int(e["SEQUENCE"]) >= 1 for e in events.values())


async def http_get_with_etag(h, etag: str) -> tuple[int, bytes, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(webhook_url(h) + "/calendar.ics", headers={"If-None-Match": etag}) as r,
    ):
        return r.status, await r.read(), dict(r.headers)
