"""Members' searches across every series of the community: `/episode`, `/recap` and
`/schedule` over a `Lineup` (bot/content/lineup.py), each answer naming its series.

Each series keeps its own index and ranking (bot/content/search.py); across series the
lists are merged by what a member means: an exact id or code first, then answers that cover
every word typed and are still ahead (the soonest first), then the rest (the latest first),
each series' own order kept. With one series nothing is merged: the answers are that
index's, exactly as before several series existed.

A chosen autocomplete value names its series, ``<series id>:<item id>`` (with one series,
the bare id as before), so it resolves to the very item chosen even when two series both
have an ``s1-e01``. Pure, no Discord: the cogs render and reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from bot.config import Settings
from bot.content import lookup
from bot.content.lookup import MAX_QUERY, covers, episode_fields, field_texts, recap_fields
from bot.content.models import Episode, EpisodeStatus, Recap, ShowEvent
from bot.content.text import parse_code

if TYPE_CHECKING:
    from bot.content.index import ContentIndex
    from bot.content.lineup import Lineup

T = TypeVar("T", Episode, Recap)

# Discord's limit on a choice's value (and name).
VALUE_MAX = 100
SEPARATOR = ":"  # between the series id and the item id in a choice's value


@dataclass(frozen=True, slots=True)
class Show:
    """One series as members see it: its id (what values and keys carry), its name (what
    members read), its settings view and its content."""

    id: str
    name: str
    settings: Settings
    index: ContentIndex


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """An episode or recap, and the series it belongs to."""

    show: Show
    item: T

    @property
    def series(self) -> str:
        return self.show.id


class Across:
    """Every series' content, searched and listed as one, in the config file's order."""

    def __init__(self, shows: Sequence[Show]):
        if not shows:
            raise ValueError("a community has at least one series")
        self.shows: tuple[Show, ...] = tuple(shows)
        self._by_id = {s.id: s for s in self.shows}

    @classmethod
    def of(cls, lineup: Lineup, *, first: ContentIndex | None = None) -> Across:
        """The lineup's series; `first` stands in for the first series' index (the bot's
        `bot.index`, which one-series code and tests hold on to)."""
        shows = []
        for n, (view, index) in enumerate(lineup):
            chosen = first if n == 0 and first is not None else index
            shows.append(Show(view.series.id, view.series.name, view, chosen))
        return cls(shows)

    @classmethod
    def serving(cls, settings: Settings, lineup: Lineup | None, index: ContentIndex) -> Across:
        """What the running bot serves: its lineup with `index` (`bot.index`) as the first
        series'; before a lineup is made, `settings`' one series over `index`."""
        return cls.single(settings, index) if lineup is None else cls.of(lineup, first=index)

    @classmethod
    def single(cls, settings: Settings, index: ContentIndex) -> Across:
        """One series, its index given (the bot before a lineup is wired)."""
        return cls([Show(settings.series.id, settings.series.name, settings, index)])

    @property
    def several(self) -> bool:
        """More than one series: answers and choices then name theirs."""
        return len(self.shows) > 1

    @property
    def first(self) -> Show:
        return self.shows[0]

    def show(self, series_id: str) -> Show:
        """KeyError when no series has that id."""
        return self._by_id[series_id]

    # ------------------------------------------------------------------ series option

    def pick_series(self, text: str | None) -> Show | None:
        """The series a member named in the `series` option (`find_series`)."""
        n = find_series([(s.id, s.name) for s in self.shows], text)
        return self.shows[n] if n is not None else None

    def series_choices(self, current: str, limit: int = 25) -> list[tuple[str, str]]:
        """(name, id) of the series matching what is typed (`series_choices`)."""
        return series_choices([(s.id, s.name) for s in self.shows], current, limit)

    def _scope(self, series: Show | None) -> tuple[Show, ...]:
        return (series,) if series is not None else self.shows

    # ------------------------------------------------------------------ choice values

    def choice_value(self, found: Found[Episode] | Found[Recap]) -> str:
        """What a choice sends back (at most 100 characters): the item's id, which resolves
        exactly, prefixed with its series' id when there are several; an episode's code when
        the id is too long."""
        item = found.item
        prefix = f"{found.series}{SEPARATOR}" if self.several else ""
        value = prefix + item.id
        if len(value) <= VALUE_MAX:
            return value
        if isinstance(item, Episode) and item.season is not None and item.number is not None:
            return (prefix + item.code)[:VALUE_MAX]
        return value[:VALUE_MAX]

    def split_value(self, text: str) -> tuple[Show | None, str]:
        """``model-mondays:s2-e05`` -> (Model Mondays, "s2-e05"); anything else (a bare id,
        ``S2:E5``, words) -> (None, the text)."""
        head, sep, rest = text.strip().partition(SEPARATOR)
        if sep and head in self._by_id and rest.strip():
            return self._by_id[head], rest
        return None, text

    # ------------------------------------------------------------------ search

    def search_episodes(
        self,
        query: str,
        now: datetime,
        limit: int = 25,
        *,
        series: Show | None = None,
        loose: bool = False,
    ) -> list[Found[Episode]]:
        """Episodes of every series (or of `series`) for what is typed, best first."""
        return self._search(
            query,
            series,
            limit,
            lambda index, q: index.search_episodes(q, now, limit, loose=loose),
            lambda f: _episode_order(f.item, now),
            _ranked(query, now, _episode_covers),
        )

    def search_recaps(
        self,
        query: str,
        now: datetime,
        limit: int = 25,
        *,
        series: Show | None = None,
        loose: bool = False,
    ) -> list[Found[Recap]]:
        """Published recaps of every series (or of `series`), best first."""
        return self._search(
            query,
            series,
            limit,
            lambda index, q: index.search_recaps(q, now, limit, loose=loose),
            lambda f: (0, 0, -f.item.release_at.timestamp()),
            _ranked(query, now, _recap_covers),
        )

    def _search(
        self,
        query: str,
        series: Show | None,
        limit: int,
        search: Callable[[ContentIndex, str], Sequence[T]],
        unranked: Callable[[Found], tuple[float, ...]],
        ranked: Callable[[Found, int], tuple[float, ...]],
    ) -> list[Found[T]]:
        """One search run in each series in scope, the lists merged: as each series ranks
        them with one series; with several, `ranked` for what is typed, `unranked` for an
        empty query."""
        query = (query or "").strip()[:MAX_QUERY]
        shows = self._scope(series)
        lists = [[Found(s, item) for item in search(s.index, query)] for s in shows]
        if len(shows) == 1:
            return lists[0][:limit]
        if not query:
            return _merged(lists, lambda f, pos: unranked(f), limit)
        return _merged(lists, ranked, limit)

    def did_you_mean(
        self,
        query: str,
        now: datetime,
        kind: Literal["episode", "recap"],
        limit: int = 3,
        *,
        series: Show | None = None,
    ) -> list[Found[Episode]] | list[Found[Recap]]:
        """Close matches for a query that found nothing: looser typos, any word."""
        if kind == "recap":
            return self.search_recaps(query, now, limit, series=series, loose=True)
        return self.search_episodes(query, now, limit, series=series, loose=True)

    # ------------------------------------------------------------------ resolve

    def resolve_episode(
        self, query: str, now: datetime, *, series: Show | None = None
    ) -> Found[Episode] | None:
        """The episode `/episode <query>` shows, or None. A chosen value names its series;
        a code or id found in several series is the one ahead soonest, else the latest."""
        named, query = self.split_value(query)
        shows = self._scope(named or series)
        if len(shows) == 1:
            found = lookup.resolve_episode(shows[0].index, query, now)
            return Found(shows[0], found) if found is not None else None
        exact = [
            Found(s, e) for s in shows if (e := lookup.named_episode(s.index, query)) is not None
        ]
        if exact:
            return min(exact, key=lambda f: _episode_order(f.item, now))
        query = query.strip()[:MAX_QUERY]
        if parse_code(query) is not None:
            return None  # a code no series has: suggestions, not an answer (as in lookup)
        matches = self.search_episodes(query, now, 1, series=named or series)
        if matches and _episode_covers(query, matches[0]):
            return matches[0]
        return None

    def resolve_recap(
        self, query: str, now: datetime, *, series: Show | None = None
    ) -> Found[Recap] | None:
        """The published recap `/recap <query>` shows, or None; across series, an exact id
        or episode found in several is the latest published."""
        named, query = self.split_value(query)
        shows = self._scope(named or series)
        if len(shows) == 1:
            found = lookup.resolve_recap(shows[0].index, query, now)
            return Found(shows[0], found) if found is not None else None
        query = query.strip()[:MAX_QUERY]
        exact = [f for s in shows if (f := _exact_recap(s, query, now)) is not None]
        if exact:
            return max(exact, key=lambda f: f.item.release_at)
        matches = self.search_recaps(query, now, 1, series=named or series)
        if matches and _recap_covers(query, matches[0]):
            return matches[0]
        return None

    # ------------------------------------------------------------------ no query

    def next_or_latest_episode(
        self, now: datetime, *, series: Show | None = None
    ) -> Found[Episode] | None:
        """`/episode` without a query: the episode whose livestream or AMA comes next in any
        series (running ones first), else the one that aired last."""
        coming: list[tuple[datetime, int, Found[Episode]]] = []
        for n, show in enumerate(self._scope(series)):
            ep = show.index.next_upcoming(now)
            start = _next_start(ep, now) if ep is not None else None
            if ep is not None and start is not None:
                coming.append((start, n, Found(show, ep)))
        if coming:
            return min(coming, key=lambda c: (c[0], c[1]))[2]
        latest: list[tuple[datetime, int, Found[Episode]]] = []
        for n, show in enumerate(self._scope(series)):
            aired = show.index.latest_episode(now)
            start = aired.first_start() if aired is not None else None
            if aired is not None and start is not None:
                latest.append((start, -n, Found(show, aired)))
        return max(latest, key=lambda c: (c[0], c[1]))[2] if latest else None

    def latest_recap(self, now: datetime, *, series: Show | None = None) -> Found[Recap] | None:
        """`/recap` without a query: the last recap published in any series."""
        found = [
            (r.release_at, -n, Found(s, r))
            for n, s in enumerate(self._scope(series))
            if (r := s.index.latest_recap(now)) is not None
        ]
        return max(found, key=lambda c: (c[0], c[1]))[2] if found else None

    def upcoming_events(
        self,
        now: datetime,
        *,
        season: int | None = None,
        limit: int = 5,
        series: Show | None = None,
    ) -> list[tuple[Show, list[tuple[Episode, ShowEvent]]]]:
        """`/schedule`: each series' next `limit` livestreams and AMAs, grouped by series,
        in the config file's order."""
        return [
            (show, show.index.upcoming_events(now, season=season, limit=limit))
            for show in self._scope(series)
        ]


# ---------------------------------------------------------------------- the series option


def find_series(named: Sequence[tuple[str, str]], text: str | None) -> int | None:
    """Which of the (id, name) series a `series` option names: its id (what a choice
    sends), else its name, else the one series whose id or name starts with it; None when
    nothing (or more than one) fits. Organisers' commands use it too."""
    wanted = (text or "").strip().casefold()
    if not wanted:
        return None
    for n, (series_id, name) in enumerate(named):
        if wanted in (series_id.casefold(), name.strip().casefold()):
            return n
    starting = [
        n
        for n, (series_id, name) in enumerate(named)
        if series_id.casefold().startswith(wanted) or name.casefold().startswith(wanted)
    ]
    return starting[0] if len(starting) == 1 else None


def series_choices(
    named: Sequence[tuple[str, str]], current: str, limit: int = 25
) -> list[tuple[str, str]]:
    """(name, id) of the (id, name) series matching what is typed: the start of the name or
    id first, then the start of a word, then anywhere; config order within each."""
    typed = (current or "").strip().casefold()
    scored = []
    for n, (series_id, shown) in enumerate(named):
        name = shown.casefold()
        if not typed or name.startswith(typed) or series_id.casefold().startswith(typed):
            rank = 0
        elif any(w.startswith(typed) for w in name.split()):
            rank = 1
        elif typed in name or typed in series_id.casefold():
            rank = 2
        else:
            continue
        scored.append((rank, n, shown, series_id))
    scored.sort(key=lambda r: (r[0], r[1]))
    return [(shown, series_id) for _rank, _n, shown, series_id in scored[:limit]]


# ---------------------------------------------------------------------- ranking


def _episode_covers(query: str, found: Found[Episode]) -> bool:
    return covers(query, field_texts(episode_fields(found.item)))


def _recap_covers(query: str, found: Found[Recap]) -> bool:
    return covers(query, field_texts(recap_fields(found.item, found.show.index.author_name)))


def _next_start(episode: Episode, now: datetime) -> datetime | None:
    """When the episode's running or next livestream or AMA started or starts."""
    starts = [
        e.start
        for e in episode.events()
        if e.start is not None and e.end is not None and e.end > now
    ]
    return min(starts) if starts else None


def _ahead(episode: Episode, now: datetime) -> bool:
    end = episode.last_end()
    return end is not None and end > now and episode.status is not EpisodeStatus.CANCELLED


def _episode_order(episode: Episode, now: datetime) -> tuple[int, int, float]:
    """Ahead first, the soonest first; then the rest, the latest first; undated last."""
    start = episode.first_start()
    if start is None:
        return (2, 0, 0.0)
    if _ahead(episode, now):
        return (0, 0, start.timestamp())
    return (1, 0, -start.timestamp())


def _exact(query: str, item: Episode | Recap) -> bool:
    if item.id.casefold() == query.casefold():
        return True
    code = parse_code(query)
    if code is None:
        return False
    if isinstance(item, Episode):
        return (item.season, item.number) == code
    return lookup.recap_code(item) == code


def _ranked(
    query: str, now: datetime, covering: Callable[[str, Found], bool]
) -> Callable[[Found, int], tuple[float, ...]]:
    """The merge key of a searched item at `pos` in its series' list: exact first, then the
    ones covering every word (ahead before the rest), then the others; each series' order
    kept, ties between series broken by time."""

    def key(found: Found, pos: int) -> tuple[float, ...]:
        item = found.item
        if _exact(query, item):
            tier = 0
        elif covering(query, found):
            tier = 1 if isinstance(item, Episode) and _ahead(item, now) else 2
        else:
            tier = 3
        if isinstance(item, Episode):
            return (tier, pos, *_episode_order(item, now))
        return (tier, pos, -item.release_at.timestamp())

    return key


def _merged(
    lists: Iterable[list[Found]], key: Callable[[Found, int], tuple[float, ...]], limit: int
) -> list:
    keyed = [
        (key(found, pos), n, found)
        for n, items in enumerate(lists)
        for pos, found in enumerate(items)
    ]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [found for _key, _n, found in keyed[:limit]]


def _exact_recap(show: Show, query: str, now: datetime) -> Found[Recap] | None:
    """A series' recap named outright: its id, or the recap of the episode named."""
    index = show.index
    recap = index.recap(query)
    if recap is not None and recap.is_published(now):
        return Found(show, recap)
    episode = index.find_episode(query)
    if episode is not None:
        recap = index.recap_for_episode(episode.id)
        if recap is not None and recap.is_published(now):
            return Found(show, recap)
    return None
