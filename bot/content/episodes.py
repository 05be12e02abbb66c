"""Episode files -> `Episode`: our native Markdown episodes (`content/episodes/*.md`) and
the model-mondays-hub YAML records (dates only, speakers by id)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.config import SeriesSettings
from bot.content.fields import (
    MAX_TITLE,
    TBD_WORDS,
    URL,
    Ctx,
    body_image_problems,
    check_fields,
    check_next_line_values,
    did_you_mean,
    long_title,
    text_field,
    text_list,
    to_utc,
    zone,
)
from bot.content.models import Episode, EpisodeStatus, ShowEvent
from bot.durations import read_duration

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

_HUB_STATUS = {
    "published": EpisodeStatus.PUBLISHED,
    "scheduled": EpisodeStatus.SCHEDULED,
    "placeholder": EpisodeStatus.TBD,
}


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7 or 7)


def _zone_or_default(
    ctx: Ctx, data: Mapping[str, Any], series: SeriesSettings
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
    ctx: Ctx,
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
        check_fields(ctx, raw, EVENT_FIELDS, "an event", kind)
    default_time = series.livestream_time if kind == "livestream" else series.ama_time
    default_duration = series.livestream_duration if kind == "livestream" else series.ama_duration
    raw_start = raw.get("start")
    start = None
    if raw_start is None or (isinstance(raw_start, str) and raw_start.strip().lower() in TBD_WORDS):
        ctx.warn(f"{kind} time is TBD", "tbd-time", kind, "start" if "start" in raw else None)
    else:
        start, _ = to_utc(ctx, raw_start, tz, default_time, kind, "start")
    duration = default_duration
    if raw.get("duration") is not None:
        parsed = read_duration(raw["duration"])
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
    if url is not None and not (isinstance(url, str) and URL.match(url.strip())):
        ctx.error(f"{kind}.url is not a web address: {url!r}", "bad-url", kind, "url")
        url = None
    return ShowEvent(kind, start, duration, url.strip() if url else None, tz_name), True


def _check_event_order(
    ctx: Ctx, livestream: ShowEvent | None, ama: ShowEvent | None, ama_key: str | None = "ama"
) -> None:
    if livestream and ama and livestream.start and ama.start and ama.start < livestream.start:
        ctx.error(
            f"the AMA ({ama.start:%Y-%m-%d %H:%M} UTC) is before the livestream "
            f"({livestream.start:%Y-%m-%d %H:%M} UTC)",
            "ama-before-livestream",
            ama_key,
            "start" if ama_key else None,
        )


def _int(ctx: Ctx, data: Mapping[str, Any], key: str, *, required: bool) -> int | None:
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


def _links(ctx: Ctx, data: Mapping[str, Any]) -> Mapping[str, str]:
    raw = data.get("links")
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        ctx.error("`links` must be a mapping such as `replay: https://…`", "bad-type", "links")
        return MappingProxyType({})
    out: dict[str, str] = {}
    for name, url in raw.items():
        if isinstance(url, str) and URL.match(url.strip()):
            out[str(name)] = url.strip()
        elif url is not None:
            ctx.error(f"links.{name} is not a web address: {url!r}", "bad-url", "links", str(name))
    return MappingProxyType(out)


def parse_native_episode(
    data: Mapping[str, Any],
    body: str,
    body_line: int,
    ctx: Ctx,
    stem: str,
    series: SeriesSettings,
) -> Episode | None:
    check_fields(ctx, data, NATIVE_EPISODE_FIELDS, "an episode")
    check_next_line_values(ctx)
    episode_id = text_field(ctx, data, "id")
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
    title = text_field(ctx, data, "title", required=True)
    summary = text_field(ctx, data, "summary") or text_field(ctx, data, "description")
    tz_name, tz = _zone_or_default(ctx, data, series)
    livestream, _ = _event(ctx, data, "livestream", tz_name, tz, series)
    ama, ama_given = _event(ctx, data, "ama", tz_name, tz, series)
    if not ama_given and livestream is not None and livestream.start is not None:
        ama = _default_ama(livestream.start, tz, tz_name, series)
    _check_event_order(ctx, livestream, ama)
    status = _status(ctx, data, livestream, ama)
    image = text_field(ctx, data, "image") or None
    ctx.problems.extend(body_image_problems(body, ctx.rel, body_line))
    if not title:
        return None
    if len(title) > MAX_TITLE:
        ctx.warn(long_title(title), "too-long", "title")
    return Episode(
        id=episode_id,
        path=ctx.rel,
        season=season,
        number=number,
        title=title,
        summary=summary,
        body=body.strip(),
        guests=text_list(ctx, data, "guests"),
        hosts=text_list(ctx, data, "hosts"),
        tags=text_list(ctx, data, "tags"),
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
    ctx: Ctx, data: Mapping[str, Any], livestream: ShowEvent | None, ama: ShowEvent | None
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
            + did_you_mean(str(raw).lower(), names),
            "bad-status",
            "status",
        )
        return EpisodeStatus.TBD


_HUB_ID = re.compile(r"^s(\d+)-e(\d+)", re.IGNORECASE)


def parse_hub_episode(
    data: Mapping[str, Any],
    ctx: Ctx,
    stem: str,
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None],
) -> Episode | None:
    """A model-mondays-hub `data/episodes/*.yaml` record: dates only, speakers by id."""
    check_fields(ctx, data, HUB_EPISODE_FIELDS, "a hub episode")
    episode_id = text_field(ctx, data, "id") or stem
    title = text_field(ctx, data, "title", required=True)
    season, number = _hub_season_and_number(ctx, data, episode_id, stem)
    raw_status = str(data.get("status") or "placeholder").strip().lower()
    status = _HUB_STATUS.get(raw_status)
    if status is None:
        ctx.error(
            f"unknown status {raw_status!r}: use placeholder, scheduled or published",
            "bad-status",
            "status",
        )
        status = EpisodeStatus.TBD
    livestream, ama = _hub_events(ctx, data, raw_status, title or episode_id, series)
    guests: list[str] = []
    hosts: list[str] = []
    for sid in text_list(ctx, data, "speakers"):
        found = speaker(sid)
        name, role = found if found is not None else (sid.replace("-", " ").title(), "guest")
        (hosts if role == "host" else guests).append(name)
    links: dict[str, str] = {}
    url = data.get("youtubeUrl")
    if isinstance(url, str) and url.startswith("http"):
        links["replay"] = url
    description = text_field(ctx, data, "description")
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
        tags=text_list(ctx, data, "tags"),
        status=status,
        timezone=series.timezone,
        livestream=livestream,
        ama=ama,
        links=MappingProxyType(links),
        image=None,
        line=1,
    )


def _hub_season_and_number(
    ctx: Ctx, data: Mapping[str, Any], episode_id: str, stem: str
) -> tuple[int | None, int | None]:
    """`season: season-2` (or a number), and the episode number from the id ``s2-e05-…``
    (or the file name), which also gives the season when `season` does not."""
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
    return season, number


def _hub_events(
    ctx: Ctx, data: Mapping[str, Any], raw_status: str, name: str, series: SeriesSettings
) -> tuple[ShowEvent | None, ShowEvent | None]:
    """(livestream, ama): a placeholder's are TBD; else the livestream at `publishDate`
    (the series' time when it is a date) and the AMA on the series' default day."""
    raw_date = data.get("publishDate")
    if raw_status == "placeholder":
        ctx.warn(f"placeholder episode ({name}): its times are TBD", "placeholder", "status")
        return (
            ShowEvent("livestream", None, series.livestream_duration, None, series.timezone),
            ShowEvent("ama", None, series.ama_duration, None, series.timezone),
        )
    if raw_date is None:
        ctx.error("missing required field `publishDate`", "missing-field")
        return None, None
    tz = zone(series.timezone) or ZoneInfo("UTC")
    start, _ok = to_utc(ctx, raw_date, tz, series.livestream_time, "publishDate", None)
    if start is None:
        return None, None
    return (
        ShowEvent("livestream", start, series.livestream_duration, None, series.timezone),
        _default_ama(start, tz, series.timezone, series),
    )
