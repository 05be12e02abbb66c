"""Lengths of time, read and written: the one home for every duration format the bot has.

Three readers, because three kinds of people write durations and each form is a promise:

- `parse_duration`: the config's compact form (``30m``, ``1h30m``, ``2d``, ``90s``), strict,
  with a ValueError an operator can act on;
- `parse_spoken_duration`: what an organiser types after ``in`` (``2h``, ``90 minutes``,
  ``1 day and 2 hours``), with a ValueError meant for them;
- `read_duration`: a content file's ``duration:`` (``30m``, ``1h30m``, ``90`` minutes,
  ``1:30``, an integer), None when it is not one (the loader reports it).

Three writers, for three readers:

- `duration_label`: the canonical compact spelling that goes into keys
  (``reminder:s2-e05:ama:1h``), so "60m" and "1h" in the config name the same reminder;
  `parse_duration_label` reads one back;
- `short_duration`: a terse text for log lines and skip reasons (``45s``, ``1h12m``, ``2d3h``);
- `spoken_duration`: words for members (``1 hour 30 minutes``).

Pure, stdlib only.
"""

from __future__ import annotations

import re
from datetime import timedelta

_SECOND, _MINUTE, _HOUR, _DAY = (
    timedelta(seconds=1),
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
)
# Every unit word an organiser may write.
UNITS: dict[str, timedelta] = {
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), _HOUR),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), _MINUTE),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), _SECOND),
}

_COMPACT = re.compile(
    r"(?:(\d{1,9})\s*d)?\s*(?:(\d{1,9})\s*h)?\s*(?:(\d{1,9})\s*m)?\s*(?:(\d{1,9})\s*s)?",
    re.IGNORECASE,
)
_SPOKEN = re.compile(r"(?:\d+\s*[a-z]+\s*(?:and\s+|,\s*)?)+")
_SPOKEN_PART = re.compile(r"(\d+)\s*([a-z]+)")
_CONTENT = re.compile(
    r"^\s*(?:(?P<h>\d+)\s*h(?:ours?|rs?)?)?\s*(?:(?P<m>\d+)\s*m(?:in(?:utes?)?)?)?"
    r"\s*(?:(?P<s>\d+)\s*s(?:ec(?:onds?)?)?)?\s*$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


# -- reading -------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"1h"``, ``"1h30m"``, ``"24h"``, ``"0m"``, ``"90s"``, ``"2d"`` -> timedelta.

    The config's form. Raises ValueError with a message a person can act on.
    """
    if not isinstance(text, str):
        raise ValueError(f'expected a duration such as "30m", got {text!r}')
    match = _COMPACT.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f'{text!r} is not a duration; write e.g. "30m", "1h", "1h30m" or "90s"')
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def parse_spoken_duration(text: str) -> timedelta:
    """``2h``, ``90m``, ``1h30m``, ``2 hours 15 minutes``, ``3d`` -> timedelta.

    An organiser's form; the ValueError's message is written for them.
    """
    s = text.strip().lower()
    if not s or not _SPOKEN.fullmatch(s):
        raise ValueError(
            f"I couldn't read '{text}' as a length of time; try `2h`, `90m` or `1h30m`"
        )
    total = timedelta()
    for amount, unit in _SPOKEN_PART.findall(s):
        if unit not in UNITS:
            raise ValueError(f"I don't know the unit '{unit}' in '{text}'; use d, h, m or s")
        total += int(amount) * UNITS[unit]
    return total


_READ_CACHE: dict[str, timedelta | None] = {}  # every episode says "30m" or "1h"


def read_duration(value: object) -> timedelta | None:
    """``"30m"``, ``"1h30m"``, ``"1h"``, ``"90"`` (minutes), ``"1:30"`` -> timedelta; else None.

    A content file's form: lenient in what it reads, silent on what it cannot."""
    if type(value) is str and value in _READ_CACHE:
        return _READ_CACHE[value]
    try:
        found = _read_duration(value)
    except OverflowError:  # "99999999999999999h": no event lasts that long
        found = None
    if type(value) is str and len(value) <= 16 and len(_READ_CACHE) < 1024:
        _READ_CACHE[value] = found
    return found


def _read_duration(value: object) -> timedelta | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return timedelta(minutes=value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(minutes=int(text))
    m = _CLOCK.match(text)
    if m:
        return timedelta(
            hours=int(m.group(1)), minutes=int(m.group(2)), seconds=int(m.group(3) or 0)
        )
    m = _CONTENT.match(text)
    if m is None or not any(m.group(k) for k in ("h", "m", "s")):
        return None
    return timedelta(
        hours=int(m.group("h") or 0), minutes=int(m.group("m") or 0), seconds=int(m.group("s") or 0)
    )


# -- writing -------------------------------------------------------------------------------


def _hms(total: int) -> tuple[int, int, int]:
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return hours, minutes, seconds


def duration_label(td: timedelta) -> str:
    """The canonical key spelling: ``24h``, ``1h``, ``10m``, ``0m``, ``1h30m``, ``1m30s``.

    The inverse of `parse_duration` on its own output; refuses what no key can name
    (negative or fractional durations)."""
    total = int(td.total_seconds())
    if total < 0 or td != timedelta(seconds=total):
        raise ValueError(f"a duration label needs a whole number of seconds >= 0, got {td!r}")
    units = zip(_hms(total), ("h", "m", "s"), strict=True)
    return "".join(f"{n}{unit}" for n, unit in units if n) or "0m"


_LABEL = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration_label(label: str) -> timedelta:
    """Inverse of `duration_label` (``1h30m`` -> 90 minutes); ValueError on anything else."""
    m = _LABEL.fullmatch(label)
    if not label or not m:
        raise ValueError(f"not a duration label: {label!r}")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def short_duration(td: timedelta) -> str:
    """Terse text for reasons and logs, sign dropped: ``45s``, ``12m``, ``1h12m``, ``2d3h``."""
    total = int(abs(td).total_seconds())
    if total < 60:
        return f"{total}s"
    days, rest = divmod(total, 86400)
    hours, minutes, _ = _hms(rest)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    if days:
        parts = parts[:2]  # minutes are noise once a post is days late
    return "".join(f"{n}{u}" for n, u in parts if n) or "0m"


def spoken_duration(td: timedelta) -> str:
    """Words for members: ``1 hour``, ``24 hours``, ``10 minutes``, ``1 hour 30 minutes``."""
    parts = []
    for n, word in zip(_hms(int(td.total_seconds())), ("hour", "minute", "second"), strict=True):
        if n:
            parts.append(f"{n} {word}" if n == 1 else f"{n} {word}s")
    return " ".join(parts) or "0 minutes"
