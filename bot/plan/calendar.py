"""Episodes as iCalendar: one episode's `.ics` attachment, and the subscribable feed.

Pure: the aiohttp route that serves the feed is bot/web/calendar.py.
Times are written in UTC (``DTSTART:20250714T173000Z``): every client reads them the same
way. The episode's IANA zone travels as ``X-WR-TIMEZONE`` and a ``VTIMEZONE`` so a client
can show the show's own wall-clock time.

UIDs are ``<episode id>-<livestream|ama>@amabot``: the same event keeps its UID across
builds, restarts and reloads. With several series the id is the one its keys use
(`bot.plan.kinds.scoped_id`: ``<series>/<episode id>`` outside the series owning the bare
ids), so two series' events never share a UID and a one-series feed's UIDs never change.
The feed holds every series' events (`lineup_feed_ics`). Calendar clients only replace an
event whose ``SEQUENCE`` grew, so each event has a content hash (`calendar_hashes`) and the
store keeps a sequence per UID (`bot.store.events.EventStore.calendar_sequences`) bumped
when the hash changes.
A cancelled episode's events stay in the feed with ``STATUS:CANCELLED``, so subscribers'
calendars drop them instead of keeping a stale copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone

from bot.config import Settings
from bot.content.models import Episode, EpisodeStatus, EventKind, ShowEvent, utc
from bot.plan.kinds import scoped_id
from bot.render.limits import is_http_url, one_line

PRODID = "-//amabot//amabot calendar//EN"
ALARM_BEFORE = timedelta(minutes=15)
# The feed keeps ended events this long, so a subscriber still sees last week's show.
FEED_HISTORY = timedelta(days=30)
FEED_STATUSES = frozenset(
    {EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE, EpisodeStatus.PUBLISHED, EpisodeStatus.CANCELLED}
)
KIND_LABELS = {"livestream": "Livestream", "ama": "AMA"}

# A series' view (its settings) and its episodes: what the feed is made of, per series.
FeedShow = tuple[Settings, Iterable[Episode]]


def event_uid(episode_id: str, kind: EventKind) -> str:
    return f"{episode_id}-{kind}@amabot"


def _zone_name(episode: Episode, event: ShowEvent, settings: Settings) -> str:
    for name in (event.timezone, episode.timezone, settings.series.timezone):
        if name and name != "UTC":
            try:
                ZoneInfo(name)
                return name
            except (KeyError, ValueError):
                continue
    return "UTC"


def _fields(episode: Episode, event: ShowEvent, settings: Settings) -> dict[str, Any]:
    """The event's content, as plain values: what the hash covers and the VEVENT holds."""
    assert event.start is not None  # noqa: S101 - callers filter TBD events
    label = KIND_LABELS[event.kind]
    title = one_line(episode.title) or episode.id
    guests = [one_line(g) for g in episode.guests if one_line(g)]
    description = episode.summary.strip()
    if guests:
        description += ("\n\n" if description else "") + "With " + ", ".join(guests)
    url = event.url if is_http_url(event.url) else None
    if url:
        description += ("\n\n" if description else "") + url
    cancelled = episode.status is EpisodeStatus.CANCELLED
    return {
        "summary": f"{settings.series.name} {episode.code} {label}: {title}",
        "description": description,
        "start": utc(event.start),
        "end": utc(event.start) + event.duration,
        "url": url,
        "location": url or ("Discord" if event.kind == "ama" else ""),
        "status": "CANCELLED" if cancelled else "CONFIRMED",
        "zone": _zone_name(episode, event, settings),
    }


def _events(
    shows: Iterable[FeedShow], now: datetime | None
) -> list[tuple[str, Episode, ShowEvent, dict[str, Any]]]:
    out = []
    for settings, episodes in shows:
        for episode in episodes:
            if episode.status not in FEED_STATUSES:
                continue
            for kind, event, start in episode.timed_events():
                if now is not None and utc(start) + event.duration < utc(now) - FEED_HISTORY:
                    continue
                uid = event_uid(scoped_id(settings, episode.id), kind)
                out.append((uid, episode, event, _fields(episode, event, settings)))
    out.sort(key=lambda item: (item[3]["start"], item[0]))
    return out


def _hash(fields: Mapping[str, Any]) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def calendar_hashes(
    episodes: Iterable[Episode], settings: Settings, now: datetime
) -> dict[str, str]:
    """uid -> content hash of every event the feed holds (feed them to the store's
    `calendar_sequences` to get the SEQUENCE numbers)."""
    return lineup_hashes([(settings, episodes)], now)


def lineup_hashes(shows: Sequence[FeedShow], now: datetime) -> dict[str, str]:
    """`calendar_hashes` of every series' events."""
    return {uid: _hash(fields) for uid, _, _, fields in _events(shows, now)}


def _vevent(uid: str, fields: Mapping[str, Any], *, now: datetime, sequence: int) -> Event:
    vevent = Event()
    vevent.add("uid", uid)
    vevent.add("dtstamp", utc(now))
    vevent.add("dtstart", fields["start"])
    vevent.add("dtend", fields["end"])
    vevent.add("summary", fields["summary"])
    if fields["description"]:
        vevent.add("description", fields["description"])
    if fields["location"]:
        vevent.add("location", fields["location"])
    if fields["url"]:
        vevent.add("url", fields["url"])
    vevent.add("status", fields["status"])
    vevent.add("sequence", int(sequence))
    if fields["status"] != "CANCELLED":
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", fields["summary"])
        alarm.add("trigger", -ALARM_BEFORE)
        vevent.add_component(alarm)
    return vevent


def _calendar(name: str, zone: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", zone)
    return cal


def _add_zones(cal: Calendar, zones: Iterable[str], starts: list[datetime]) -> None:
    if not starts:
        return
    first = date(min(starts).year - 1, 1, 1)
    last = date(max(starts).year + 2, 1, 1)
    for zone in sorted(set(zones) - {"UTC"}):
        cal.add_component(Timezone.from_tzid(zone, first_date=first, last_date=last))


def episode_ics(episode: Episode, settings: Settings, now: datetime) -> bytes:
    """The "Add to calendar" attachment: the episode's livestream and AMA, each with an alarm
    15 minutes before. Empty of events when both are TBD."""
    items = _events([(settings, [episode])], None)
    zone = items[0][3]["zone"] if items else (episode.timezone or settings.series.timezone)
    cal = _calendar(f"{settings.series.name} {episode.code}", zone)
    _add_zones(cal, (f["zone"] for *_, f in items), [f["start"] for *_, f in items])
    for uid, _, _, fields in items:
        cal.add_component(_vevent(uid, fields, now=now, sequence=0))
    ical: bytes = cal.to_ical()  # icalendar leaves its return type unannotated
    return ical


def feed_ics(
    episodes: Iterable[Episode],
    settings: Settings,
    now: datetime,
    sequences: Mapping[str, int] | None = None,
) -> bytes:
    """`GET /calendar.ics`: every scheduled (and recent, and cancelled) livestream and AMA."""
    return lineup_feed_ics([(settings, episodes)], now, sequences)


def lineup_feed_ics(
    shows: Sequence[FeedShow], now: datetime, sequences: Mapping[str, int] | None = None
) -> bytes:
    """The feed of every series (the first's zone is the calendar's; each event keeps its
    own). A one-series lineup gives exactly `feed_ics`'s bytes."""
    sequences = sequences or {}
    items = _events(shows, now)
    first = shows[0][0]
    name = ", ".join(settings.series.name for settings, _ in shows)
    cal = _calendar(name, first.series.timezone)
    _add_zones(
        cal,
        [first.series.timezone, *(f["zone"] for *_, f in items)],
        [f["start"] for *_, f in items],
    )
    for uid, _, _, fields in items:
        cal.add_component(_vevent(uid, fields, now=now, sequence=sequences.get(uid, 0)))
    ical: bytes = cal.to_ical()  # icalendar leaves its return type unannotated
    return ical


def ics_filename(episode: Episode) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in episode.id).strip("-")
    return f"{safe or 'episode'}.ics"
