"""The index's sorted views: episodes in season order, recaps by date, livestreams and AMAs
by time (what /schedule, /latest and autocomplete read).

Each list is kept sorted as items come and go (a bisect and a list insert per changed
file), never re-sorted: a reload of one file costs the same at 100 files or 20,000. Files
that lose an id to another file (a duplicate, rare) are filtered out when read.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.content.models import Episode, EpisodeStatus, Recap, ShowEvent

if TYPE_CHECKING:
    from bot.content.catalogue import Catalogue

_MAX_EVENT = timedelta(hours=24)  # longest event duration the loader accepts

EventRow = tuple[float, float, str, str, str]  # (start, end, kind, episode id lowered, rel)


class _Sorted:
    """Items kept in the order of their keys (each key unique: it ends with the file)."""

    __slots__ = ("items", "keys")

    def __init__(self) -> None:
        self.keys: list[tuple[Any, ...]] = []
        self.items: list[Any] = []

    def add(self, key: tuple[Any, ...], item: Any) -> None:
        # The bot reads while a reload runs in a thread: `keys` is never longer than
        # `items`, so an index found in `keys` is always in `items` (items first here,
        # keys first in `remove`).
        i = bisect.bisect_left(self.keys, key)
        self.items.insert(i, item)
        self.keys.insert(i, key)

    def append(self, key: tuple[Any, ...], item: Any) -> None:
        """Out of order, for a cold load: `sort` before anything reads or removes."""
        self.keys.append(key)
        self.items.append(item)

    def sort(self) -> None:
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        self.keys = [self.keys[i] for i in order]
        self.items = [self.items[i] for i in order]

    def remove(self, key: tuple[Any, ...]) -> None:
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i], self.items[i]

    def live(self, shadowed: set[str]) -> list[Any]:
        """The items whose file (the key's last part) is not shadowed, in order."""
        if not shadowed:
            return self.items
        return [it for k, it in zip(self.keys, self.items, strict=True) if k[-1] not in shadowed]


class SortedViews:
    """Episodes, recaps and events in order, for the catalogue `cat` (a `Part` of it)."""

    def __init__(self, cat: Catalogue) -> None:
        self._cat = cat
        self._episodes = _Sorted()  # (season, number, first start, id, rel)
        self._recaps = _Sorted()  # (published, id, rel), drafts included
        # Without drafts, by the moment each goes out (release_at: a date-only date is
        # out when its day begins anywhere on Earth), then id.
        self._published = _Sorted()
        # Built on first read (a start-up need not pay for it), then kept up to date.
        self._events: list[EventRow] | None = None
        self._key_of: dict[str, tuple[Any, ...]] = {}  # rel -> its key in its list
        # Filtered copies (with duplicates about) and the recap of each episode: per
        # generation of the catalogue, built when first read.
        self._cache: dict[str, Any] = {}
        self._cache_generation = -1
        # The first load appends and sorts once at the end (`settle`): cheaper than
        # 20,000 inserts in order.
        self._bulk = True

    # ------------------------------------------------------------------ updates

    def added(self, rel: str, item: Episode | Recap) -> None:
        if self._bulk:
            self._bulk_add(rel, item)
            return
        if isinstance(item, Episode):
            key: tuple[Any, ...] = _episode_key(rel, item)
            self._episodes.add(key, item)
            if self._events is not None:
                for row in _event_rows(rel, item):
                    bisect.insort(self._events, row)
        else:
            key = (item.published.timestamp(), item.id, rel)
            self._recaps.add(key, item)
            if not item.draft:
                self._published.add(_release_key(rel, item), item)
        self._key_of[rel] = key

    def _bulk_add(self, rel: str, item: Episode | Recap) -> None:
        if isinstance(item, Episode):
            key = _episode_key(rel, item)
            self._episodes.append(key, item)
        else:
            key = (item.published.timestamp(), item.id, rel)
            self._recaps.append(key, item)
            if not item.draft:
                self._published.append(_release_key(rel, item), item)
        self._key_of[rel] = key

    def settle(self) -> None:
        """After a reload: the lists of a first load sorted, once."""
        if self._bulk:
            self._bulk = False
            for part in (self._episodes, self._recaps, self._published):
                part.sort()

    def removed(self, rel: str, item: Episode | Recap) -> None:
        self.settle()
        key = self._key_of.pop(rel)
        if isinstance(item, Episode):
            self._episodes.remove(key)
            events = self._events
            if events is not None:
                for row in _event_rows(rel, item):
                    i = bisect.bisect_left(events, row)
                    if i < len(events) and events[i] == row:
                        del events[i]
        else:
            self._recaps.remove(key)
            self._published.remove(_release_key(rel, item))

    def _cached(self, name: str) -> Any:
        if self._cache_generation != self._cat._generation:
            self._cache, self._cache_generation = {}, self._cat._generation
        return self._cache.get(name)

    # ------------------------------------------------------------------ lists

    def episodes(self) -> list[Episode]:
        return list(self._episodes.live(self._cat.shadowed("_ep_ids")))

    def recaps(self, include_drafts: bool = False) -> list[Recap]:
        # One recap per id, the first file by path (as for episodes): no two kept share
        # an id, so (published, id) orders them completely.
        shadowed = self._cat.shadowed("_recap_ids")
        every = self._recaps.live(shadowed)
        return list(every) if include_drafts else [r for r in every if not r.draft]

    def published(self, t: float) -> tuple[list[Recap], int]:
        """Non-draft recaps by publication time, and how many of them are out at `t`."""
        shadowed = self._cat.shadowed("_recap_ids")
        pub = self._published
        if not shadowed:
            return pub.items, bisect.bisect_right(pub.keys, t, key=_first)
        found = self._cached("published")
        if found is None:
            keys = [k for k in pub.keys if k[-1] not in shadowed]
            found = self._cache["published"] = (pub.live(shadowed), keys)
        recaps, keys = found
        return recaps, bisect.bisect_right(keys, t, key=_first)

    def recap_for_episode(self, episode: Episode) -> Recap | None:
        """The (non-draft) recap of an episode; the latest when there are several."""
        table = self._cached("by_episode")
        if table is None:
            table = {}
            for recap in self.recaps():
                ep = self._cat.episode_for_recap(recap)
                if ep is not None:
                    table[ep.id.lower()] = recap  # recaps are sorted by date: latest wins
            self._cache["by_episode"] = table
        return table.get(episode.id.lower())  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ time

    def _live_events(self) -> list[EventRow]:
        events = self._events
        if events is None:
            eps = self._episodes
            events = [
                row
                for k, ep in zip(eps.keys, eps.items, strict=True)
                for row in _event_rows(k[-1], ep)
            ]
            events.sort()
            self._events = events
        shadowed = self._cat.shadowed("_ep_ids")
        if not shadowed:
            return events
        found = self._cached("events")
        if found is None:
            found = self._cache["events"] = [e for e in events if e[4] not in shadowed]
        return found  # type: ignore[no-any-return]

    def upcoming_events(
        self, now: datetime, season: int | None = None, limit: int = 5
    ) -> list[tuple[Episode, ShowEvent]]:
        """Livestreams and AMAs not yet over (running ones included), by start time."""
        events = self._live_events()
        t = now.timestamp()
        i = bisect.bisect_left(events, (t - _MAX_EVENT.total_seconds(),))
        out: list[tuple[Episode, ShowEvent]] = []
        while i < len(events) and len(out) < limit:
            _start, end, kind, key, _rel = events[i]
            i += 1
            if end <= t:
                continue
            ep = self._cat.episode(key)
            if ep is None or (season is not None and ep.season != season):
                continue
            ev = ep.event(kind)  # type: ignore[arg-type]
            if ev is not None:
                out.append((ep, ev))
        return out

    def upcoming_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        out: dict[str, Episode] = {}
        events = self._live_events()
        t = now.timestamp()
        i = bisect.bisect_left(events, (t - _MAX_EVENT.total_seconds(),))
        while i < len(events) and len(out) < limit:
            _s, end, _k, key, _rel = events[i]
            i += 1
            if end > t and key not in out:
                ep = self._cat.episode(key)
                if ep is not None:
                    out[key] = ep
        return list(out.values())

    def past_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        """Episodes whose first event has started, most recent first."""
        out: dict[str, Episode] = {}
        events = self._live_events()
        i = bisect.bisect_right(events, (now.timestamp(), float("inf"))) - 1
        while i >= 0 and len(out) < limit:
            key = events[i][3]
            i -= 1
            if key not in out:
                ep = self._cat.episode(key)
                if ep is not None:
                    out[key] = ep
        return list(out.values())

    def published_recaps(self, now: datetime) -> list[Recap]:
        recaps, i = self.published(now.timestamp())
        return recaps[:i]

    def latest_recap(self, now: datetime) -> Recap | None:
        recaps, i = self.published(now.timestamp())
        return recaps[i - 1] if i else None


def _release_key(rel: str, recap: Recap) -> tuple[Any, ...]:
    return (recap.release_at.timestamp(), recap.id, rel)


def _first(key: tuple[Any, ...]) -> Any:
    return key[0]


def _episode_key(rel: str, ep: Episode) -> tuple[Any, ...]:
    first = ep.first_start()
    return (
        ep.season if ep.season is not None else 1 << 30,
        ep.number if ep.number is not None else 1 << 30,
        first.timestamp() if first else float("inf"),
        ep.id,
        rel,
    )


def _event_rows(rel: str, ep: Episode) -> list[EventRow]:
    if ep.status is EpisodeStatus.CANCELLED:
        return []
    key = ep.id.lower()
    return [
        (ev.start.timestamp(), ev.end.timestamp(), ev.kind, key, rel)  # type: ignore[union-attr]
        for ev in ep.events()
        if ev.start is not None
    ]
