"""The content as typed data: episodes, their two events, recaps, authors, and problems.

Everything here is plain, immutable data. Times are aware UTC datetimes; each episode keeps
its IANA zone so wall-clock schedules survive daylight-saving changes. Nothing here imports
discord.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal

EventKind = Literal["livestream", "ama"]
EVENT_KINDS: tuple[EventKind, ...] = ("livestream", "ama")  # every episode has these two
Severity = Literal["error", "warning"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class EpisodeStatus(enum.StrEnum):
    TBD = "tbd"
    SCHEDULED = "scheduled"
    LIVE = "live"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ShowEvent:
    """One occurrence of the show: the Monday livestream or the Friday AMA of an episode."""

    kind: EventKind
    start: datetime | None  # aware UTC; None when the time is TBD
    duration: timedelta
    url: str | None = None
    timezone: str = "UTC"  # IANA zone the wall-clock time was given in

    @property
    def end(self) -> datetime | None:
        return None if self.start is None else self.start + self.duration

    @property
    def is_tbd(self) -> bool:
        return self.start is None

    def is_running(self, now: datetime) -> bool:
        return self.start is not None and self.start <= now < self.start + self.duration

    def is_ahead(self, now: datetime) -> bool:
        return self.start is not None and now < self.start


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    path: str  # relative to the content root, with forward slashes
    season: int | None
    number: int | None
    title: str
    summary: str = ""
    body: str = ""
    guests: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    status: EpisodeStatus = EpisodeStatus.TBD
    timezone: str = "UTC"
    livestream: ShowEvent | None = None
    ama: ShowEvent | None = None
    links: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, hash=False
    )  # replay, forum, ...
    image: str | None = None  # URL, or a path relative to the episode file's folder
    line: int = 1  # line of the frontmatter start, for diagnostics

    @property
    def code(self) -> str:
        """The code people write: ``S2:E5``; the id when season or number is unknown."""
        if self.season is None or self.number is None:
            return self.id
        return f"S{self.season}:E{self.number}"

    def event(self, kind: EventKind) -> ShowEvent | None:
        return self.livestream if kind == "livestream" else self.ama

    def events(self) -> tuple[ShowEvent, ...]:
        return tuple(e for e in (self.livestream, self.ama) if e is not None)

    def with_event(self, kind: EventKind, event: ShowEvent | None) -> Episode:
        """A copy of the episode with its `kind` event replaced by `event`."""
        if kind == "livestream":
            return replace(self, livestream=event)
        return replace(self, ama=event)

    def timed_events(self) -> Iterator[tuple[EventKind, ShowEvent, datetime]]:
        """(kind, event, start) for its livestream and AMA that have a time: what can be
        planned. `start` is `event.start`, here known to be set."""
        for kind in EVENT_KINDS:
            event = self.event(kind)
            if event is not None and event.start is not None:
                yield kind, event, event.start

    def first_start(self) -> datetime | None:
        starts = [e.start for e in self.events() if e.start is not None]
        return min(starts) if starts else None

    def last_end(self) -> datetime | None:
        ends = [e.end for e in self.events() if e.end is not None]
        return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class Author:
    key: str
    name: str
    description: str = ""
    avatar: str | None = None


@dataclass(frozen=True, slots=True)
class Recap:
    id: str  # frontmatter `id`, else the file name without extension
    path: str
    title: str
    published: datetime  # aware UTC: `date.created` (or flat `date`) in the series zone
    draft: bool = False
    summary: str = ""
    key_takeaway: str | None = None
    authors: tuple[str, ...] = ()  # keys into the authors file
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    episode_id: str | None = None  # explicit `episode:` or inferred from the title
    url: str | None = None
    image: str | None = None
    body: str = ""
    line: int = 1
    # A date-only `date.created`: the moment that day begins somewhere on Earth (UTC+14), so
    # a recap merged on its day goes out at once wherever its author is. None: `published`.
    release: datetime | None = None

    @property
    def release_at(self) -> datetime:
        """When the recap goes out (announced, listed, found): its date and time as written,
        or, for a date-only date, the first moment of that day anywhere on Earth."""
        return self.release if self.release is not None else self.published

    def is_published(self, now: datetime) -> bool:
        return not self.draft and self.release_at <= now


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One diagnostic a content author can act on: ``path:line: severity: message``."""

    path: str
    line: int | None
    severity: Severity
    message: str
    code: str = ""  # stable machine-readable kind, e.g. "yaml-syntax", "unknown-field"

    def render(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        code = f" [{self.code}]" if self.code else ""
        return f"{where}: {self.severity}: {self.message}{code}"


def utc(dt: datetime) -> datetime:
    """Normalise an aware datetime to UTC; refuse naive ones loudly (they are bugs)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC)
