"""Organiser times: the text typed into `/announce create when:` -> an aware UTC datetime.

Accepted forms (case-insensitive; "at", "on" are allowed as filler words):

- ``2026-12-01 09:00``, ``2026-12-01T09:00``, ``2026-12-01 9am``, ``Dec 1 09:00``,
  ``1 December 2026 9:30pm``;
- ``today 17:30``, ``tomorrow 09:00``, ``friday 10:30``, ``fri 10:30`` (the coming Friday:
  today when the time is still ahead, else next week), ``next friday 10:30`` (strictly after
  today);
- ``10:30`` alone: today, or tomorrow when it has passed; ``noon``, ``midnight`` work as times;
- ``in 2h``, ``in 90m``, ``in 1h30m``, ``in 2 hours 15 minutes``, ``in 3d``, ``in 45s``:
  exact elapsed time from now, not wall-clock arithmetic;
- ISO 8601 with an offset: ``2026-12-01T09:00-08:00``, ``2026-12-01T17:00Z``.

Wall-clock times are resolved in the given IANA zone. A time that does not exist there (the
hour skipped when clocks spring forward) is refused with an explanation; a time that occurs
twice (the hour repeated in autumn) takes the first occurrence (``fold=0``, still on summer
time): `is_ambiguous` lets the caller mention it. Numeric dates with slashes (``12/01``) are
refused as ambiguous between the US and European readings.

A time in the past is returned as is: refusing it is the caller's decision.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.durations import parse_spoken_duration

__all__ = ["WhenError", "is_ambiguous", "parse_when", "wall_to_utc", "zone"]

HINT = "try `tomorrow 09:00`, `in 2h` or `2026-12-01 09:00`"
MAX_WHEN = 100  # characters; the longest real form is far shorter


class WhenError(ValueError):
    """The text is not a time we can read; the message is meant for the organiser."""


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WhenError(
            f"'{tz}' is not a time zone I know (expected an IANA name such as America/Los_Angeles)"
        ) from exc


def wall_to_utc(day: date, clock: time, tz: str) -> datetime:
    """A wall-clock date and time in `tz` -> aware UTC.

    Refuses times skipped by a daylight-saving jump; repeated times take the first one.
    """
    zi = zone(tz)
    local = datetime.combine(day, clock.replace(tzinfo=None), tzinfo=zi).replace(fold=0)
    roundtrip = local.astimezone(UTC).astimezone(zi)
    if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
        before = (local - timedelta(hours=3)).astimezone(zi).utcoffset()
        after = (local + timedelta(hours=3)).astimezone(zi).utcoffset()
        jump = (after - before) if before is not None and after is not None else timedelta(hours=1)
        raise WhenError(
            f"{day.isoformat()} {clock.strftime('%H:%M')} does not exist in {tz}: the clocks "
            f"jump forward by {_minutes_words(jump)} that night. Pick a time outside the gap, "
            f"e.g. {(local.replace(tzinfo=None) + jump).strftime('%H:%M')}."
        )
    return local.astimezone(UTC)


def is_ambiguous(day: date, clock: time, tz: str) -> bool:
    """The wall-clock time happens twice (clocks fall back); `wall_to_utc` picks the first."""
    zi = zone(tz)
    naive = datetime.combine(day, clock.replace(tzinfo=None))
    return (
        naive.replace(tzinfo=zi, fold=0).utcoffset() != naive.replace(tzinfo=zi, fold=1).utcoffset()
    )


def _minutes_words(td: timedelta) -> str:
    minutes = int(abs(td).total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


# -- the grammar -------------------------------------------------------------------------

_WEEKDAYS = {
    name: i
    for i, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?")
_SLASHED = re.compile(r"\d{1,4}/\d{1,2}(?:/\d{2,4})?")


def parse_when(text: str, *, now: datetime, tz: str) -> datetime:
    """Parse an organiser's time; see the module docstring for the forms. Returns aware UTC."""
    if now.tzinfo is None:
        raise ValueError("parse_when needs an aware `now`")
    raw = text
    s = " ".join(text.strip().lower().split())
    if not s:
        raise WhenError(f"Please give a time; {HINT}")
    if len(s) > MAX_WHEN:
        # The messages below quote the input; a 10,000-character "time" would make the reply
        # longer than Discord allows, and the organiser would get no answer at all.
        raise WhenError(f"That is {len(s)} characters, too long to be a time; {HINT}")
    now = now.astimezone(UTC)
    zi = zone(tz)

    if s.startswith("in "):
        try:
            return now + parse_spoken_duration(s[3:])
        except ValueError as exc:
            raise WhenError(str(exc)) from None
    if s == "now":
        return now

    iso = _parse_iso_with_offset(text.strip())
    if iso is not None:
        return iso

    if _SLASHED.search(s):
        raise WhenError(
            f"'{raw.strip()}' is ambiguous (day/month or month/day?); write the date as "
            "`2026-12-01` or `Dec 1`"
        )

    words = [w for w in re.split(r"[\s,]+|(?<=\d)t(?=\d)", s) if w and w not in ("at", "on")]
    today = now.astimezone(zi).date()
    day, rest, relative_weekday = _take_day(words, today, raw)
    clock_text = " ".join(rest)
    if not clock_text:
        if day is None:
            raise _unreadable(raw)
        raise WhenError(
            f"'{raw.strip()}' has a day but no time; add one, e.g. `{raw.strip()} 09:00`"
        )
    clock = _parse_clock(clock_text, raw)

    if day is None:
        # A bare time: the next time the clock shows it.
        candidate = wall_to_utc(today, clock, tz)
        if candidate <= now:
            candidate = wall_to_utc(today + timedelta(days=1), clock, tz)
        return candidate
    if relative_weekday and day == today and wall_to_utc(day, clock, tz) <= now:
        # "friday 10:30" said on Friday at 11:00 means next Friday.
        day = day + timedelta(days=7)
    return wall_to_utc(day, clock, tz)


def _unreadable(raw: str) -> WhenError:
    return WhenError(f"I couldn't read '{raw.strip()}' as a time; {HINT}")


def _parse_iso_with_offset(text: str) -> datetime | None:
    """Full ISO 8601 with an explicit offset or Z; anything else goes to the wall-clock path."""
    candidate = text.strip()
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}:?\d{2})",
        candidate,
    ):
        return None
    candidate = re.sub(r"\s+(?=[zZ+-]\d*)", "", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise WhenError(f"'{text}' looks like an ISO time but is not a valid one ({exc})") from exc
    return None if parsed.tzinfo is None else parsed.astimezone(UTC)


def _take_day(words: list[str], today: date, raw: str) -> tuple[date | None, list[str], bool]:
    """Consume the day part at the start of `words`; return (day, remaining words, weekday?)."""
    if not words:
        return None, words, False
    first = words[0]
    if first == "today":
        return today, words[1:], False
    if first == "tomorrow":
        return today + timedelta(days=1), words[1:], False
    if first == "next" and len(words) > 1 and words[1] in _WEEKDAYS:
        ahead = (_WEEKDAYS[words[1]] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), words[2:], False
    if first in _WEEKDAYS:
        ahead = (_WEEKDAYS[first] - today.weekday()) % 7
        return today + timedelta(days=ahead), words[1:], True
    m = _ISO_DATE.fullmatch(first)
    if m:
        return _make_date(int(m[1]), int(m[2]), int(m[3]), raw), words[1:], False
    # "Dec 1 [2026]" or "1 Dec [2026]"
    month_pos = next((i for i, w in enumerate(words[:2]) if w.rstrip(".") in _MONTHS), None)
    if month_pos is not None:
        month = _MONTHS[words[month_pos].rstrip(".")]
        other = words[1 - month_pos] if len(words) > 1 else ""
        day_num = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", other)
        if not day_num:
            raise WhenError(
                f"I couldn't find the day of the month in '{raw.strip()}'; try `Dec 1 09:00`"
            )
        rest = words[2:]
        year = None
        if rest and re.fullmatch(r"\d{4}", rest[0]):
            year = int(rest[0])
            rest = rest[1:]
        if year is None:
            # No year: the next such date (today counts).
            year = today.year
            if _make_date(year, month, int(day_num[1]), raw, strict=False) < today:
                year += 1
        return _make_date(year, month, int(day_num[1]), raw), rest, False
    return None, words, False


def _make_date(year: int, month: int, day: int, raw: str, *, strict: bool = True) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        if not strict:
            return date(year, month, 1)
        raise WhenError(f"'{raw.strip()}' names a day that does not exist ({exc})") from exc


def _parse_clock(text: str, raw: str) -> time:
    if text == "noon":
        return time(12, 0)
    if text == "midnight":
        return time(0, 0)
    m = _TIME.fullmatch(text)
    if not m:
        raise _unreadable(raw)
    hour, minute, second = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    meridiem = (m[4] or "").replace(".", "")
    if meridiem:
        if not 1 <= hour <= 12:
            raise WhenError(f"'{text}' is not a time: with am/pm the hour goes from 1 to 12")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif m[2] is None:
        # "17" alone is too easy to misread (a date? an hour?); ask for 17:00 or 5pm.
        raise WhenError(
            f"I couldn't read '{raw.strip()}' as a time; write the hour as `17:00` or `5pm`"
        )
    if hour > 23 or minute > 59 or second > 59:
        raise WhenError(f"'{text}' is not a time of day (hours 0-23, minutes 0-59)")
    return time(hour, minute, second)
