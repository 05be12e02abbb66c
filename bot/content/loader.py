"""Files -> episodes, recaps, authors and problems. One bad file never stops the others.

Every public function here returns what it could load plus a list of `Problem`s; none of
them raises on bad input. Bytes become frontmatter data in `bot.content.frontmatter`
(python-frontmatter with PyYAML's C safe loader and our limits); this module turns that
data into typed episodes, recaps and authors, with a diagnostic at the right line for
every field it cannot use.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import SeriesSettings
from bot.content.frontmatter import (
    MAX_FILE_BYTES,
    NO_FRONTMATTER,
    Refused,
    decode,
    has_frontmatter,
    load_yaml,
    read_frontmatter,
)
from bot.content.models import Author, Episode, EpisodeStatus, Problem, Recap, ShowEvent
from bot.content.text import canonical_id, find_code, parse_code, parse_duration

MAX_PROBLEMS_PER_FILE = 50
MAX_LIST_ITEMS = 100  # tags, guests, hosts, authors, categories
MAX_TITLE = 256  # Discord's embed title limit: a longer title is cut when shown
# Years a show can happen in; outside them datetime arithmetic overflows (year 1 in Tokyo,
# 9999 in New York) and Discord timestamps stop meaning anything.
MIN_YEAR, MAX_YEAR = 1970, 2999
# Recaps are read for their title, summary and key takeaway; the rest is published on the
# blog and nothing in the bot shows it. Keeping bodies cost 75 MB with 10,000 recaps (UCS-2
# once an em dash appears), so none is kept; raise this if a feature ever needs them.
MAX_RECAP_BODY = 0

Kind = Literal["episode", "recap", "authors", "page", "ignored"]

NATIVE_EPISODE_FIELDS = frozenset(
    [
        "id",
        "season",
        "episode",
        "title",
        "summary",
        "description",
        "guests",
        "hosts",
        "tags",
        "status",
        "timezone",
        "livestream",
        "ama",
        "links",
        "image",
    ]
)
EVENT_FIELDS = frozenset(("start", "duration", "url"))
HUB_EPISODE_FIELDS = frozenset(
    [
        "id",
        "title",
        "description",
        "season",
        "publishDate",
        "status",
        "youtubeVideoId",
        "youtubeUrl",
        "segmentType",
        "speakers",
        "tags",
        "duration",
        "metrics",
        "transcriptPath",
        "chapters",
        "resources",
        "summary",
        "provenance",
    ]
)
RECAP_FIELDS = frozenset(
    [
        "id",
        "date",
        "draft",
        "authors",
        "categories",
        "tags",
        "episode",
        "url",
        "title",
        "description",
        "image",
        "banner",
        "banner_alt",
        "pin",
        "slug",
        "links",
        "readtime",
        "comments",
        "hide",
        "search",
    ]
)
_HUB_STATUS = {
    "published": EpisodeStatus.PUBLISHED,
    "scheduled": EpisodeStatus.SCHEDULED,
    "placeholder": EpisodeStatus.TBD,
}
_URL = re.compile(r"https?://\S+$")
_QUOTE_MARK = re.compile(r"^>[ \t]?", re.MULTILINE)
_NEWLINE_WS = re.compile(r"[ \t]*\n[ \t]*")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n")
_ANY_HEADING = re.compile(r"^#{1,6}[ \t]", re.MULTILINE)
_BR = re.compile(r"<br\s*/?>")
_TBD_WORDS = frozenset(("tbd", "tba", "tbc", "?", "unknown", "none", ""))


@dataclass(slots=True)
class Parsed:
    """The outcome of loading one file."""

    kind: Kind
    item: Episode | Recap | Mapping[str, Author] | None = None
    problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- context


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


def _row_key(row: str) -> str | None:
    """`key: value` -> "key" (a top-level row; the colon must end or be followed by space).
    String scanning, not a regex: a 1 MiB row makes a lazy pattern backtrack quadratically."""
    if not row or row[0].isspace() or row[0] in "#:":
        return None
    colon = row.find(":")
    if colon < 0 or (colon + 1 < len(row) and not row[colon + 1].isspace()):
        return None
    return row[:colon].rstrip().strip("'\"")


class _Ctx:
    """Where we are in one file: for problems with the right line, computed only when needed."""

    __slots__ = ("_keys", "first_line", "fm", "problems", "rel")

    def __init__(self, rel: str, fm: str, first_line: int, problems: list[Problem]):
        self.rel = rel
        self.fm = fm
        self.first_line = first_line
        self.problems = problems
        self._keys: dict[str, int] | None = None

    def line_of(self, key: str | None, child: str | None = None) -> int:
        if key is None:
            return max(1, self.first_line - 1)
        if self._keys is None:
            self._keys = {}
            for i, row in enumerate(self.fm.split("\n")):
                key_text = _row_key(row)
                if key_text is not None:
                    self._keys.setdefault(key_text, i)
        base = self._keys.get(key)
        if base is None:
            return max(1, self.first_line - 1)
        if child is not None:
            rows = self.fm.split("\n")
            for i in range(base + 1, len(rows)):
                row = rows[i]
                if row and not row[0].isspace() and not row.startswith("#"):
                    break
                if re.match(rf"\s+{re.escape(child)}\s*:", row):
                    return self.first_line + i
        return self.first_line + base

    def add(
        self,
        severity: str,
        message: str,
        code: str,
        key: str | None = None,
        child: str | None = None,
    ) -> None:
        self.problems.append(Problem(self.rel, self.line_of(key, child), severity, message, code))  # type: ignore[arg-type]

    def error(
        self, message: str, code: str, key: str | None = None, child: str | None = None
    ) -> None:
        self.add("error", message, code, key, child)

    def warn(
        self, message: str, code: str, key: str | None = None, child: str | None = None
    ) -> None:
        self.add("warning", message, code, key, child)


def _did_you_mean(word: str, known: frozenset[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f"; did you mean `{close[0]}`?" if close else ""


def _check_fields(
    ctx: _Ctx, data: Mapping[str, Any], known: frozenset[str], what: str, parent: str | None = None
) -> None:
    if data.keys() <= known:
        return
    for key in data:
        if not isinstance(key, str):
            ctx.error(f"field names must be text, not {key!r}", "bad-field", parent)
        elif key not in known:
            where = f"{parent}.{key}" if parent else key
            ctx.warn(
                f"unknown field `{where}` in {what}{_did_you_mean(key, known)}",
                "unknown-field",
                parent or key,
                key if parent else None,
            )


# From the colon: a pattern that starts with a literal is scanned for at C speed, while
# one anchored at `^` is tried at every character. The key is checked after.
_NEXT_LINE_VALUE = re.compile(r":[ \t]*\n[ \t]+(?![-#])([^\s:][^:\n]*)$", re.MULTILINE)
_KEY_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _check_next_line_values(ctx: _Ctx) -> None:
    """`draft:` with `true` on the next line is valid YAML but easy to break; say so."""
    fm = ctx.fm
    for m in _NEXT_LINE_VALUE.finditer(fm):
        key = fm[fm.rfind("\n", 0, m.start()) + 1 : m.start()]
        if not _KEY_NAME.fullmatch(key):
            continue
        value = m.group(1).strip()
        if value.startswith(("'", '"')) or value in ("|", ">"):
            continue
        ctx.warn(
            f"`{key}:` has its value `{value}` on the next line; "
            f"write `{key}: {value}` on one line",
            "value-next-line",
            key,
        )


def _text(
    ctx: _Ctx, data: Mapping[str, Any], key: str, *, required: bool = False, what: str = ""
) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            ctx.error(
                f"missing required field `{key}`{what}",
                "missing-field",
                key if key in data else None,
            )
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        ctx.error(f"`{key}` must be text, not {type(value).__name__}", "bad-type", key)
        return ""
    return str(value).strip()


_COMMA_LISTS = frozenset(("tags", "categories", "guests", "hosts", "authors"))


def _text_list(ctx: _Ctx, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if type(value) is list and len(value) <= MAX_LIST_ITEMS:
        # The usual list of short texts: nothing to report, so no per-item checks.
        items = [item.strip() for item in value if type(item) is str]
        if len(items) == len(value) and all(items) and "," not in "".join(items):
            return tuple(dict.fromkeys(items))
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        ctx.error(f"`{key}` must be a list", "bad-type", key)
        return ()
    if len(items) > MAX_LIST_ITEMS:
        ctx.warn(
            f"`{key}` has {len(items)} entries; only the first {MAX_LIST_ITEMS} are used",
            "too-many-items",
            key,
        )
        items = items[:MAX_LIST_ITEMS]
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            ctx.error(f"`{key}` items must be text, not {type(item).__name__}", "bad-type", key)
            continue
        text = str(item).strip()
        if "," in text and key in _COMMA_LISTS:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            ctx.warn(
                f"`{key}` has one entry with commas ({text!r}); write one item per line: "
                + ", ".join(f"`- {p}`" for p in parts[:4]),
                "comma-list",
                key,
            )
            out.extend(parts)
        elif text:
            out.append(text)
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- times


def _to_utc(
    ctx: _Ctx, value: Any, tz: ZoneInfo, default_time: time, key: str, child: str | None
) -> tuple[datetime | None, bool]:
    """-> (aware UTC or None, ok). Wall-clock values are read in `tz`, so DST is honoured."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, default_time)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _TBD_WORDS:
            return None, True
        try:
            if len(text) == 10:
                dt = datetime.combine(date.fromisoformat(text), default_time)
            else:
                dt = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            ctx.error(
                f"bad date/time {text!r}: write it like 2025-07-14T10:30 "
                "(wall-clock in the episode's zone) "
                "or 2025-07-14T10:30-07:00",
                "bad-time",
                key,
                child,
            )
            return None, False
    else:
        ctx.error(f"bad date/time {value!r}", "bad-time", key, child)
        return None, False
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        ctx.error(
            f"year {dt.year} is out of range ({MIN_YEAR}-{MAX_YEAR}): is {value!s:.40} a typo?",
            "bad-time",
            key,
            child,
        )
        return None, False
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC), True


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7 or 7)


def _zone_or_default(
    ctx: _Ctx, data: Mapping[str, Any], series: SeriesSettings
) -> tuple[str, ZoneInfo]:
    default = zone(series.timezone) or ZoneInfo("UTC")
    name = data.get("timezone")
    if name is None:
        return series.timezone if zone(series.timezone) else "UTC", default
    if not isinstance(name, str) or zone(name.strip()) is None:
        ctx.error(
            f"unknown time zone {name!r}: use an IANA name such as America/Los_Angeles",
            "bad-timezone",
            "timezone",
        )
        return series.timezone, default
    return name.strip(), zone(name.strip())  # type: ignore[return-value]


def _event(
    ctx: _Ctx,
    data: Mapping[str, Any],
    kind: Literal["livestream", "ama"],
    tz_name: str,
    tz: ZoneInfo,
    series: SeriesSettings,
) -> tuple[ShowEvent | None, bool]:
    """-> (event, given?). An event given as a bare value is its start time."""
    if kind not in data:
        return None, False
    raw = data[kind]
    if raw is None or raw is False:
        return None, True
    if not isinstance(raw, dict):
        raw = {"start": raw}
    else:
        _check_fields(ctx, raw, EVENT_FIELDS, "an event", kind)
    default_time = series.livestream_time if kind == "livestream" else series.ama_time
    default_duration = series.livestream_duration if kind == "livestream" else series.ama_duration
    raw_start = raw.get("start")
    start = None
    if raw_start is None or (
        isinstance(raw_start, str) and raw_start.strip().lower() in _TBD_WORDS
    ):
        ctx.warn(f"{kind} time is TBD", "tbd-time", kind, "start" if "start" in raw else None)
    else:
        start, _ = _to_utc(ctx, raw_start, tz, default_time, kind, "start")
    duration = default_duration
    if raw.get("duration") is not None:
        parsed = parse_duration(raw["duration"])
        if parsed is None or parsed <= timedelta(0) or parsed > timedelta(hours=24):
            ctx.error(
                f"bad duration {raw['duration']!r}: write it like 30m, 1h or 1h30m",
                "bad-duration",
                kind,
                "duration",
            )
        else:
            duration = parsed
    url = raw.get("url")
    if url is not None and not (isinstance(url, str) and _URL.match(url.strip())):
        ctx.error(f"{kind}.url is not a web address: {url!r}", "bad-url", kind, "url")
        url = None
    return ShowEvent(kind, start, duration, url.strip() if url else None, tz_name), True


def _check_event_order(
    ctx: _Ctx, livestream: ShowEvent | None, ama: ShowEvent | None, ama_key: str | None = "ama"
) -> None:
    if livestream and ama and livestream.start and ama.start and ama.start < livestream.start:
        ctx.error(
            f"the AMA ({ama.start:%Y-%m-%d %H:%M} UTC) is before the livestream "
            f"({livestream.start:%Y-%m-%d %H:%M} UTC)",
            "ama-before-livestream",
            ama_key,
            "start" if ama_key else None,
        )


def _int(ctx: _Ctx, data: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            ctx.error(
                f"missing required field `{key}`", "missing-field", key if key in data else None
            )
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1000:
        ctx.error(f"`{key}` must be a whole number, not {value!r}", "bad-type", key)
        return None
    return value


def _links(ctx: _Ctx, data: Mapping[str, Any]) -> Mapping[str, str]:
    raw = data.get("links")
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        ctx.error("`links` must be a mapping such as `replay: https://…`", "bad-type", "links")
        return MappingProxyType({})
    out: dict[str, str] = {}
    for name, url in raw.items():
        if isinstance(url, str) and _URL.match(url.strip()):
            out[str(name)] = url.strip()
        elif url is not None:
            ctx.error(f"links.{name} is not a web address: {url!r}", "bad-url", "links", str(name))
    return MappingProxyType(out)


# --------------------------------------------------------------------------- episodes


def parse_native_episode(
    data: Mapping[str, Any],
    body: str,
    body_line: int,
    ctx: _Ctx,
    stem: str,
    series: SeriesSettings,
) -> Episode | None:
    _check_fields(ctx, data, NATIVE_EPISODE_FIELDS, "an episode")
    _check_next_line_values(ctx)
    episode_id = _text(ctx, data, "id")
    if any(c.isspace() for c in episode_id):
        ctx.error(f"`id` must not contain spaces: {episode_id!r}", "bad-id", "id")
        episode_id = ""
    if not episode_id:
        episode_id = "-".join(stem.split())
        if episode_id != stem:
            ctx.warn(
                f"the file name gives the id {stem!r}, which has spaces; it is used as "
                f"{episode_id!r}: rename the file or set `id:`",
                "bad-id",
            )
    season = _int(ctx, data, "season", required=True)
    number = _int(ctx, data, "episode", required=True)
    title = _text(ctx, data, "title", required=True)
    summary = _text(ctx, data, "summary") or _text(ctx, data, "description")
    tz_name, tz = _zone_or_default(ctx, data, series)
    livestream, _ = _event(ctx, data, "livestream", tz_name, tz, series)
    ama, ama_given = _event(ctx, data, "ama", tz_name, tz, series)
    if not ama_given and livestream is not None and livestream.start is not None:
        ama = _default_ama(livestream.start, tz, tz_name, series)
    _check_event_order(ctx, livestream, ama)
    status = _status(ctx, data, livestream, ama)
    image = _text(ctx, data, "image") or None
    ctx.problems.extend(body_image_problems(body, ctx.rel, body_line))
    if not title:
        return None
    if len(title) > MAX_TITLE:
        ctx.warn(_long_title(title), "too-long", "title")
    return Episode(
        id=episode_id,
        path=ctx.rel,
        season=season,
        number=number,
        title=title,
        summary=summary,
        body=body.strip(),
        guests=_text_list(ctx, data, "guests"),
        hosts=_text_list(ctx, data, "hosts"),
        tags=_text_list(ctx, data, "tags"),
        status=status,
        timezone=tz_name,
        livestream=livestream,
        ama=ama,
        links=_links(ctx, data),
        image=image,
        line=1,
    )


def _default_ama(
    livestream_start: datetime, tz: ZoneInfo, tz_name: str, series: SeriesSettings
) -> ShowEvent:
    local_day = livestream_start.astimezone(tz).date()
    day = _next_weekday(local_day, series.ama_weekday)
    start = datetime.combine(day, series.ama_time, tzinfo=tz).astimezone(UTC)
    return ShowEvent("ama", start, series.ama_duration, None, tz_name)


def _status(
    ctx: _Ctx, data: Mapping[str, Any], livestream: ShowEvent | None, ama: ShowEvent | None
) -> EpisodeStatus:
    raw = data.get("status")
    if raw is None:
        known = any(e is not None and e.start is not None for e in (livestream, ama))
        return EpisodeStatus.SCHEDULED if known else EpisodeStatus.TBD
    try:
        return EpisodeStatus(str(raw).strip().lower())
    except ValueError:
        names = [s.value for s in EpisodeStatus]
        ctx.error(
            f"unknown status {raw!r}: use one of {', '.join(names)}"
            + _did_you_mean(str(raw).lower(), names),
            "bad-status",
            "status",
        )
        return EpisodeStatus.TBD


_HUB_ID = re.compile(r"^s(\d+)-e(\d+)", re.IGNORECASE)


def parse_hub_episode(
    data: Mapping[str, Any],
    ctx: _Ctx,
    stem: str,
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None],
) -> Episode | None:
    """A model-mondays-hub `data/episodes/*.yaml` record: dates only, speakers by id."""
    _check_fields(ctx, data, HUB_EPISODE_FIELDS, "a hub episode")
    episode_id = _text(ctx, data, "id") or stem
    title = _text(ctx, data, "title", required=True)
    season = None
    raw_season = data.get("season")
    if isinstance(raw_season, int) and not isinstance(raw_season, bool):
        season = raw_season
    elif isinstance(raw_season, str) and (m := re.search(r"(\d+)", raw_season)):
        season = int(m.group(1))
    else:
        ctx.error(f"`season` must look like season-2, not {raw_season!r}", "bad-type", "season")
    number = None
    m = _HUB_ID.match(episode_id) or _HUB_ID.match(stem)
    if m:
        number = int(m.group(2))
        if season is None:
            season = int(m.group(1))
    else:
        ctx.error(
            f"cannot tell the episode number from id {episode_id!r} (expected s2-e05-…)",
            "bad-id",
            "id",
        )
    raw_status = str(data.get("status") or "placeholder").strip().lower()
    status = _HUB_STATUS.get(raw_status)
    if status is None:
        ctx.error(
            f"unknown status {raw_status!r}: use placeholder, scheduled or published",
            "bad-status",
            "status",
        )
        status = EpisodeStatus.TBD
    tz = zone(series.timezone) or ZoneInfo("UTC")
    livestream = ama = None
    raw_date = data.get("publishDate")
    if raw_status == "placeholder":
        ctx.warn(
            f"placeholder episode ({title or episode_id}): its times are TBD",
            "placeholder",
            "status",
        )
        livestream = ShowEvent(
            "livestream", None, series.livestream_duration, None, series.timezone
        )
        ama = ShowEvent("ama", None, series.ama_duration, None, series.timezone)
    elif raw_date is None:
        ctx.error("missing required field `publishDate`", "missing-field")
    else:
        start, _ok = _to_utc(ctx, raw_date, tz, series.livestream_time, "publishDate", None)
        if start is not None:
            livestream = ShowEvent(
                "livestream", start, series.livestream_duration, None, series.timezone
            )
            ama = _default_ama(start, tz, series.timezone, series)
    guests: list[str] = []
    hosts: list[str] = []
    for sid in _text_list(ctx, data, "speakers"):
        found = speaker(sid)
        if found is None:
            name, role = sid.replace("-", " ").title(), "guest"
        else:
            name, role = found
        (hosts if role == "host" else guests).append(name)
    links: dict[str, str] = {}
    url = data.get("youtubeUrl")
    if isinstance(url, str) and url.startswith("http"):
        links["replay"] = url
    description = _text(ctx, data, "description")
    return Episode(
        id=episode_id,
        path=ctx.rel,
        season=season,
        number=number,
        title=re.sub(r"^Model Mondays\s*[-:–]\s*", "", title) or title,
        summary=description,
        body="",
        guests=tuple(guests),
        hosts=tuple(hosts),
        tags=_text_list(ctx, data, "tags"),
        status=status,
        timezone=series.timezone,
        livestream=livestream,
        ama=ama,
        links=MappingProxyType(links),
        image=None,
        line=1,
    )


# --------------------------------------------------------------------------- recaps

# No lazy `.+?` before a trailing `[ \t#]*$`: on a long line of spaces that backtracks
# quadratically. The closing hashes are stripped in code (`_heading_text`).
_HEADING = re.compile(r"^(#{1,6})[ \t]++([^\n]+)$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]+)")
_BLOCK_OR_ITALIC = re.compile(
    r"^(?:>[^\n]*(?:\n>[^\n]*)*|[_*](?![_*\s])[^\n]+(?:\n(?!\n)[^\n]+)*[_*][ \t]*$)", re.MULTILINE
)
_KEY_TAKEAWAY_HEADING = re.compile(
    r"^#{1,6}[ \t]+.*key[ \t-]*take[ \t-]?aways?\b.*$", re.MULTILINE | re.IGNORECASE
)
_KEY_TAKEAWAY_LABEL = re.compile(
    r"^\*\*key[ \t-]*take[ \t-]?aways?:?\*\*:?[ \t]*(.*)$", re.MULTILINE | re.IGNORECASE
)


def _search_lines_with(word: str, pattern: re.Pattern[str], body: str) -> re.Match[str] | None:
    """`pattern.search(body)` for a line pattern (`^…$`, case-insensitive) that can only
    match a line holding `word`: only those lines are tried. Searching a whole recap for a
    case-insensitive pattern anchored at `^` tries it at every character."""
    low = body.lower()
    if len(low) != len(body):  # some character lower-cases to several: no shortcut
        return pattern.search(body)
    at = low.find(word)
    while at != -1:
        m = pattern.match(body, body.rfind("\n", 0, at) + 1)
        if m:
            return m
        end = body.find("\n", at)
        if end == -1:
            return None
        at = low.find(word, end)
    return None


def _long_title(title: str) -> str:
    return f"title is {len(title)} characters; Discord shows at most {MAX_TITLE}, so it will be cut"


def _heading_text(m: re.Match[str]) -> str:
    raw = m.group(2)
    return raw.rstrip(" \t#") or raw[:1]


def _quote_or_italic(intro: str) -> str | None:
    """The first blockquote, or italic paragraph (`_…_` / `*…*`, possibly over several
    lines), starting at a line start; what `_BLOCK_OR_ITALIC.search` finds, in linear time.
    The regex restarts at every line of a paragraph and rescans it to the end, which is
    quadratic: 20,000 lines of `*a` took 15 s."""
    lines = intro.split("\n")
    n = len(lines)
    italic_from = 0  # italic starts before this line are known to fail
    for i, line in enumerate(lines):
        if line.startswith(">"):
            j = i
            while j + 1 < n and lines[j + 1].startswith(">"):
                j += 1
            return "\n".join(lines[i : j + 1])
        if i < italic_from or len(line) < 2 or line[0] not in "_*":
            continue
        if line[1] in "_*" or line[1].isspace():
            continue
        j = i
        while j + 1 < n and lines[j + 1]:
            j += 1
        for k in range(j, i - 1, -1):
            end = lines[k].rstrip(" \t")
            if end and end[-1] in "_*" and len(end) >= (3 if k == i else 2):
                return "\n".join(lines[i : k + 1])
        # No line of this paragraph can close an italic, so no later start in it can either.
        italic_from = j + 1
    return None


def _clean_md(text: str) -> str:
    text = _QUOTE_MARK.sub("", text)
    text = text.strip()
    if len(text) >= 2 and text[0] in "_*" and text[-1] == text[0]:
        text = text[1:-1]
    return _NEWLINE_WS.sub(" ", text).strip()


def _section_after(body: str, start: int) -> str:
    nxt = _ANY_HEADING.search(body, start)
    section = body[start : nxt.start() if nxt else len(body)]
    section = _BR.sub("", section).strip()
    return section


def _summary(body: str, start: int) -> str:
    """The first blockquote or italic paragraph of the introduction (before the first
    section heading); else the introduction's first plain paragraph."""
    nxt = _ANY_HEADING.search(body, start)
    intro = body[start : nxt.start() if nxt else len(body)]
    found = _quote_or_italic(intro)
    if found is not None:
        return _clean_md(found)
    for para in _PARA_SPLIT.split(intro):
        para = para.strip()
        if para and not para.startswith(("![", "<", "---", "**[", "[")):
            return _clean_md(para)
    return ""


def body_image_problems(body: str, rel: str, body_line: int) -> list[Problem]:
    """`![alt(path)`, `![alt(path]`...: an image whose `](` is missing is shown as text.
    Each `![` is looked at on its own, so a broken image after a good one on the same line
    is found too."""
    problems: list[Problem] = []
    start = body.find("![")
    line, counted = body_line, 0
    while start != -1:
        end = body.find("\n", start)
        frag = body[start : end if end != -1 else len(body)]
        nxt = frag.find("![", 2)
        if nxt != -1:
            frag = frag[:nxt].rstrip()
        close, paren = frag.find("]"), frag.find("(")
        if paren != -1 and (close == -1 or paren < close):
            alt = frag[2:paren].strip()
            target = frag[paren + 1 :].split(")", 1)[0].rstrip("]").strip()
            fix = f"![{alt}]({target})" if alt and target else "![alt text](path)"
            line += body.count("\n", counted, start)
            counted = start
            problems.append(
                Problem(
                    rel,
                    line,
                    "warning",
                    f"broken image Markdown {frag[:60]!r}: the `](` between the alt text and "
                    f"the path is missing, so the image is shown as text; write {fix[:80]}",
                    "broken-image",
                )
            )
        start = body.find("![", start + 2)
    return problems


def parse_recap(
    data: Mapping[str, Any], body: str, body_line: int, ctx: _Ctx, stem: str, series: SeriesSettings
) -> Recap | None:
    _check_fields(ctx, data, RECAP_FIELDS, "a recap")
    _check_next_line_values(ctx)
    recap_id = _text(ctx, data, "id") or stem
    tz = zone(series.timezone) or ZoneInfo("UTC")

    heading = None
    for m in _HEADING.finditer(body):
        if len(m.group(1)) == 1:
            heading = m
            break
    title = _heading_text(heading).strip() if heading else _text(ctx, data, "title")
    if not title:
        ctx.problems.append(
            Problem(
                ctx.rel,
                body_line,
                "error",
                "recap has no title: start the text with `# Title`",
                "missing-title",
            )
        )
        title = stem

    if len(title) > MAX_TITLE:
        if heading is not None:
            line = body_line + body.count("\n", 0, heading.start())
            ctx.problems.append(Problem(ctx.rel, line, "warning", _long_title(title), "too-long"))
        else:
            ctx.warn(_long_title(title), "too-long", "title")

    published = None
    raw_date = data.get("date")
    if isinstance(raw_date, dict):
        _check_fields(ctx, raw_date, frozenset(("created", "updated")), "`date`", "date")
        if raw_date.get("created") is None:
            ctx.error("missing `date.created`", "missing-field", "date")
        else:
            published, _ = _to_utc(ctx, raw_date["created"], tz, time(0, 0), "date", "created")
    elif raw_date is None:
        ctx.error(
            "missing required field `date` (write `date:` then `  created: 2025-07-14`)",
            "missing-field",
        )
    else:
        ctx.warn(
            "`date` is flat; the blog format nests it as `date:` / `  created: …` (accepted)",
            "flat-date",
            "date",
        )
        published, _ = _to_utc(ctx, raw_date, tz, time(0, 0), "date", None)
    if (
        published is None
        and raw_date is not None
        and not any(p.code == "bad-time" for p in ctx.problems)
    ):
        ctx.error(f"bad date {raw_date!r}", "bad-time", "date")

    draft = data.get("draft", False)
    if isinstance(draft, str) and draft.strip().lower() in ("true", "false", "yes", "no"):
        draft = draft.strip().lower() in ("true", "yes")
    if draft is None:
        ctx.error(
            "`draft:` has no value; write `draft: true` or `draft: false`", "bad-type", "draft"
        )
        draft = True
    if not isinstance(draft, bool):
        ctx.error(f"`draft` must be true or false, not {draft!r}", "bad-type", "draft")
        draft = True

    episode_id = None
    raw_episode = data.get("episode")
    if raw_episode is not None:
        if isinstance(raw_episode, str) and raw_episode.strip():
            episode_id = raw_episode.strip()
        else:
            ctx.error(
                f"`episode` must be an episode id or code such as s2-e05, not {raw_episode!r}",
                "bad-type",
                "episode",
            )
    elif code := find_code(title):
        episode_id = canonical_id(*code)

    summary = _summary(body, heading.end() if heading else 0)

    key_takeaway = None
    km = _search_lines_with("take", _KEY_TAKEAWAY_HEADING, body)
    if km:
        key_takeaway = _section_after(body, km.end()) or None
    else:
        lm = _search_lines_with("take", _KEY_TAKEAWAY_LABEL, body)
        if lm:
            rest = lm.group(1).strip() or body[lm.end() :].lstrip("\n").split("\n\n", 1)[0]
            key_takeaway = _clean_md(rest) or None

    image = None
    im = _IMAGE.search(body)
    if im:
        image = im.group(2)
    elif isinstance(data.get("banner"), str):
        image = data["banner"]

    url = data.get("url")
    if url is not None and not (isinstance(url, str) and _URL.match(url.strip())):
        ctx.error(f"`url` is not a web address: {url!r}", "bad-url", "url")
        url = None

    ctx.problems.extend(body_image_problems(body, ctx.rel, body_line))
    if published is None:
        return None
    return Recap(
        id=recap_id,
        path=ctx.rel,
        title=title,
        published=published,
        draft=draft,
        summary=summary,
        key_takeaway=key_takeaway,
        authors=_text_list(ctx, data, "authors"),
        categories=_text_list(ctx, data, "categories"),
        tags=_text_list(ctx, data, "tags"),
        episode_id=episode_id,
        url=url.strip() if url else None,
        image=image,
        body=body[:MAX_RECAP_BODY],
        line=1,
    )


# --------------------------------------------------------------------------- authors


def parse_authors(data: Any, ctx: _Ctx) -> Mapping[str, Author]:
    if not isinstance(data, dict) or not isinstance(data.get("authors"), dict):
        ctx.error("an authors file holds `authors:` then one entry per author key", "bad-authors")
        return MappingProxyType({})
    out: dict[str, Author] = {}
    for key, entry in data["authors"].items():
        if not isinstance(entry, dict):
            ctx.error(
                f"author {key!r} must be a mapping with `name:`", "bad-authors", "authors", str(key)
            )
            continue
        _check_fields(
            ctx,
            entry,
            frozenset(("name", "description", "avatar", "slug", "url")),
            f"author {key!r}",
            str(key),
        )
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            ctx.warn(f"author {key!r} has no `name`", "missing-field", str(key))
            name = str(key)
        avatar = entry.get("avatar")
        out[str(key)] = Author(
            key=str(key),
            name=name.strip(),
            description=str(entry.get("description") or "").strip(),
            avatar=avatar.strip() if isinstance(avatar, str) else None,
        )
    return MappingProxyType(out)


# --------------------------------------------------------------------------- schedule pages

_PAGE_EPISODE = re.compile(r"^##[ \t]+(S\d+:?E\d+)\b[^\n]*$", re.MULTILINE | re.IGNORECASE)
_PAGE_EVENT = re.compile(
    r"Register For The (Livestream|AMA)\b.*\s-\s+(.+?)\s*(?:⁉️)?\s*$", re.IGNORECASE
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_PAGE_DATE = re.compile(r"(?:\w+,\s*)?([A-Za-z]{3})[a-z]*\s+(\d{1,2})(?:,\s*(\d{4}))?")


def check_schedule_page(text: str, rel: str) -> list[Problem]:
    """A season page (`## S2E04 · …` then "Register For The Livestream … - Jul 07, 2025"):
    the AMA must not be dated before its livestream; TBD dates are reported."""
    problems: list[Problem] = []
    heads = list(_PAGE_EPISODE.finditer(text))
    year = None
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        section_line = text.count("\n", 0, head.start()) + 1
        dates: dict[str, tuple[date | None, int]] = {}
        for offset, row in enumerate(text[head.start() : end].split("\n")):
            m = _PAGE_EVENT.search(row)
            if not m:
                continue
            kind = "livestream" if m.group(1).lower() == "livestream" else "ama"
            line = section_line + offset
            when = m.group(2).strip()
            if when.upper().startswith("TBD"):
                problems.append(
                    Problem(rel, line, "warning", f"{head.group(1)} {kind} date is TBD", "tbd-time")
                )
                dates[kind] = (None, line)
                continue
            dm = _PAGE_DATE.search(when)
            if not dm or dm.group(1).lower() not in _MONTHS:
                continue
            if dm.group(3):
                year = int(dm.group(3))
            try:
                day = date(year or 2000, _MONTHS[dm.group(1).lower()], int(dm.group(2)))
            except ValueError:
                problems.append(Problem(rel, line, "error", f"bad date {when!r}", "bad-date"))
                continue
            dates[kind] = (day, line)
            if "](" in row and ")" not in row[row.index("](") :]:
                problems.append(
                    Problem(rel, line, "warning", "link is missing its closing `)`", "broken-link")
                )
        live, ama = dates.get("livestream"), dates.get("ama")
        if live and ama and live[0] and ama[0] and ama[0] < live[0]:
            problems.append(
                Problem(
                    rel,
                    ama[1],
                    "error",
                    f"{head.group(1)}: the AMA ({ama[0]:%b %d}) is before "
                    f"the livestream ({live[0]:%b %d})",
                    "ama-before-livestream",
                )
            )
    return problems


# --------------------------------------------------------------------------- one file


def looks_like(data: Mapping[str, Any]) -> Kind:
    """Guess what a frontmatter mapping describes, for folders that are not a content root."""
    if "publishDate" in data or "segmentType" in data:
        return "episode"
    if "authors" in data and isinstance(data.get("authors"), dict):
        return "authors"
    if "episode" in data and ("season" in data or "livestream" in data):
        return "episode"
    if {"livestream", "ama", "guests", "hosts"} & data.keys():
        return "episode"
    if {"date", "draft", "authors", "categories", "episode"} & data.keys():
        return "recap"
    return "page"


def parse_text(
    text: str,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    """Decoded text of one file -> Parsed. `kind` "auto" guesses from the fields."""
    return _capped(_parse_text(text, rel, kind, series, speaker, pages=pages))


def _parse_text(
    text: str,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    """Decoded text of one file -> Parsed. `kind` "auto" guesses from the fields."""
    problems: list[Problem] = []
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    is_yaml = rel.endswith((".yaml", ".yml"))
    body, body_line = "", 1
    try:
        if is_yaml:
            fm, first_line = text, 1
            data = load_yaml(text, first_line)
        elif pages and not has_frontmatter(text):
            problems = check_schedule_page(text, rel) + body_image_problems(text, rel, 1)
            return Parsed("page", None, problems)
        else:
            read = read_frontmatter(text)
            fm, first_line, data = read.fm, 2, read.data
            body, body_line = read.body, read.body_line
    except Refused as refused:
        return Parsed("ignored", None, [refused.problem(rel)])
    ctx = _Ctx(rel, fm, first_line, problems)
    if kind == "auto":
        kind = looks_like(data)
        if kind == "page":
            return Parsed("page", None, body_image_problems(body, rel, body_line))
    if kind == "authors":
        return Parsed("authors", parse_authors(data, ctx), problems)
    if kind == "episode":
        hub = is_yaml and ("publishDate" in data or "segmentType" in data or "episode" not in data)
        if hub:
            item: Episode | Recap | None = parse_hub_episode(data, ctx, stem, series, speaker)
        else:
            item = parse_native_episode(data, body, body_line, ctx, stem, series)
        return Parsed("episode", item, problems)
    return Parsed("recap", parse_recap(data, body, body_line, ctx, stem, series), problems)


def parse_bytes(
    raw: bytes,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    problems: list[Problem] = []
    text = decode(raw, rel, problems)
    if text is None:
        return Parsed("ignored", None, problems)
    try:
        return parse_text(text, rel, kind, series, speaker, pages=pages)
    except Exception as exc:
        return Parsed(
            "ignored",
            None,
            [
                Problem(
                    rel,
                    None,
                    "error",
                    f"could not load this file: {type(exc).__name__}: {exc}",
                    "internal",
                )
            ],
        )


def _capped(parsed: Parsed) -> Parsed:
    """At most MAX_PROBLEMS_PER_FILE problems a file: 10,000 unknown fields or broken
    images are one mistake repeated, and a flood would bury every other file's report."""
    problems = parsed.problems
    if len(problems) > MAX_PROBLEMS_PER_FILE:
        rest = len(problems) - MAX_PROBLEMS_PER_FILE
        worst = "error" if any(p.severity == "error" for p in problems) else "warning"
        parsed.problems = [
            *problems[:MAX_PROBLEMS_PER_FILE],
            Problem(
                problems[0].path,
                None,
                worst,  # type: ignore[arg-type]
                f"{rest} more problem{'s' if rest != 1 else ''} in this file not shown",
                "too-many-problems",
            ),
        ]
    return parsed


def load_speakers(folder: Path) -> dict[str, tuple[str, str]]:
    """A hub `speakers/` folder -> id: (display name, role). A file that cannot be read is
    skipped: the episodes that name it show the id instead."""
    out: dict[str, tuple[str, str]] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return out
    for path in entries:
        if path.suffix not in (".yaml", ".yml") or path.is_symlink():
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        text = decode(raw, path.name, [])
        if text is None:
            continue
        try:
            data = load_yaml(text, 1)
        except Refused:
            continue
        if isinstance(data.get("name"), str):
            out[str(data.get("id") or path.stem)] = (
                data["name"].strip(),
                str(data.get("role") or "guest"),
            )
    return out


__all__ = [
    "MAX_FILE_BYTES",
    "NO_FRONTMATTER",
    "Parsed",
    "check_schedule_page",
    "decode",
    "load_speakers",
    "parse_bytes",
    "parse_code",
    "parse_text",
]
