"""The series of the config bound to a database at start-up.

One series owns the bare key namespace (``recap:s2-e05``): the one series of a database made
before several series existed, else the first series of the file when the database is new.
The store records it (`claim_home_series`, which also gives it every row of no series);
every other series' keys carry ``<series>/`` (`bot.plan.kinds.scoped_id`). Old keys keep
working and nothing is rewritten.

Also here: each series' own first start (a series added to a running deployment records its
old recaps as backlog instead of announcing them), the pending posts of a series removed
from the config (cancelled, with the reason; the history stays), and `series_store`, the
store as one series sees it (its outbox reconciles, events and members' choices are its own).

The decisions are pure (`key_prefix`, `bind_settings`, `removed_series`); `bind_series` is
the start-up step that reads and writes the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from bot.config import Settings
from bot.store import Store

log = logging.getLogger("amabot.series")


# -- pure ---------------------------------------------------------------------------------


def key_prefix(series_id: str, home: str) -> str:
    """ "" for the series owning the bare key namespace, ``<id>/`` for every other."""
    return "" if series_id == home else f"{series_id}/"


def bind_settings(settings: Settings, home: str) -> Settings:
    """`settings` with every series view's `key_prefix` set for `home`; the top-level
    sections stay the first series' (a one-`[series]` file stays one view, no lineup)."""
    views = [
        replace(v, series=replace(v.series, key_prefix=key_prefix(v.series.id, home)))
        for v in settings.shows()
    ]
    if not settings.lineup:
        return views[0]
    return replace(views[0], lineup=tuple(views))


def removed_series(with_pending: Iterable[str], configured: Iterable[str]) -> list[str]:
    """The series that still have pending posts but are no longer in the config ("" = rows
    of no series, e.g. an organiser's note to all: never "removed")."""
    known = set(configured)
    return sorted(s for s in set(with_pending) if s and s not in known)


def removed_reason(series_id: str) -> str:
    return f"series {series_id} removed from the config"


def first_start_key(series_id: str) -> str:
    """The state key recording that a series (other than the home one, which keeps the
    store's own flag) has done its first start."""
    return f"series.{series_id}.initialised_at"


# -- the start-up step -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    """What `bind_series` found: the settings with their key prefixes, the home series,
    each series' first-start flag, and what a removed series left pending (cancelled)."""

    settings: Settings
    home: str
    first_start: dict[str, bool] = field(default_factory=dict)
    cancelled: dict[str, list[str]] = field(default_factory=dict)


async def bind_series(settings: Settings, store: Store, now: datetime) -> Binding:
    """Record (once) or read the home series, set every view's key prefix, find each
    series' first start, and cancel what removed series left pending."""
    views = settings.shows()
    home = await store.claim_home_series(views[0].series.id, now)
    bound = bind_settings(settings, home)
    first: dict[str, bool] = {}
    for view in bound.shows():
        sid = view.series.id
        if sid == home:
            first[sid] = store.first_start
        else:
            first[sid] = await store.state.get(first_start_key(sid)) is None
    cancelled: dict[str, list[str]] = {}
    ids = [v.series.id for v in views]
    for gone in removed_series(await store.outbox.series_with_pending(), ids):
        keys = await store.outbox.cancel_series(gone, removed_reason(gone), now)
        cancelled[gone] = keys
        log.warning(
            "series %s is no longer in the config: %d pending posts cancelled", gone, len(keys)
        )
    if home not in ids:
        log.warning(
            "the series %s, which owns this database's bare keys, is not in the config", home
        )
    return Binding(settings=bound, home=home, first_start=first, cancelled=cancelled)


# -- the store as one series sees it ---------------------------------------------------------


class _Scoped:
    """Delegates everything to `inner`, but the methods overridden below."""

    def __init__(self, inner: Any, series: str):
        self._inner = inner
        self._series = series

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _SeriesOutbox(_Scoped):
    async def reconcile(self, planned: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("series", self._series)
        return await self._inner.reconcile(planned, **kwargs)

    async def insert_skipped(self, planned: Any, reason: str, now: datetime) -> list[str]:
        posts = [planned] if not isinstance(planned, list | tuple) else planned
        posts = [p if p.series else replace(p, series=self._series) for p in posts]
        return cast(list[str], await self._inner.insert_skipped(posts, reason, now))

    async def unsent_or_sent_since(self, prefix: str, since: datetime) -> Any:
        return await self._inner.unsent_or_sent_since(prefix, since, series=self._series)

    async def sent_with_event_after(self, prefix: str, after: datetime) -> Any:
        return await self._inner.sent_with_event_after(prefix, after, series=self._series)


class _SeriesEvents(_Scoped):
    async def all(self) -> Any:
        return await self._inner.all(series=self._series)

    async def upsert(self, key: str, **kwargs: Any) -> None:
        await self._inner.upsert(key, series=self._series, **kwargs)

    async def mark_error(self, key: str, error: str, now: datetime, **kwargs: Any) -> None:
        await self._inner.mark_error(key, error, now, series=self._series, **kwargs)


class _SeriesOptin(_Scoped):
    async def set_pref(self, *args: Any, **kwargs: Any) -> Any:
        return await self._inner.set_pref(*args, series=self._series, **kwargs)

    async def opt_out(self, *args: Any, **kwargs: Any) -> None:
        await self._inner.opt_out(*args, series=self._series, **kwargs)

    async def pref(self, *args: Any, **kwargs: Any) -> Any:
        return await self._inner.pref(*args, series=self._series, **kwargs)

    async def prefs_of(self, member_id: int) -> Any:
        return await self._inner.prefs_of(member_id, series=self._series)

    async def prefs(self) -> Any:
        return await self._inner.prefs(series=self._series)

    async def add_interest(self, member_id: int, event_key: str, now: datetime) -> bool:
        return bool(await self._inner.add_interest(member_id, event_key, now, series=self._series))

    async def interested(self) -> Any:
        return await self._inner.interested(series=self._series)


class _SeriesStore(_Scoped):
    """The store as one series' planning sees it: its outbox reconciles, scheduled events
    and members' choices are that series' alone; its first start is its own."""

    def __init__(self, inner: Store, series: str, *, home: bool, first_start: bool):
        super().__init__(inner, series)
        self.outbox = _SeriesOutbox(inner.outbox, series)
        self.events = _SeriesEvents(inner.events, series)
        self.optin = _SeriesOptin(inner.optin, series)
        self._home = home
        self._first = first_start

    @property
    def first_start(self) -> bool:
        return self._first

    async def mark_initialised(self, now: datetime | None = None) -> None:
        if self._home:
            await self._inner.mark_initialised(now)
        else:
            when = now or self._inner.clock()
            await self._inner.state.set(first_start_key(self._series), when.isoformat())
        self._first = False


def series_store(store: Store, series: str, binding: Binding | None = None) -> Store:
    """`store` as the series `series` sees it (see `_SeriesStore`). Without `binding` (a
    single series never bound, e.g. a test's): the series is the home one."""
    home = binding is None or binding.home == series
    first = store.first_start if binding is None else binding.first_start.get(series, True)
    return cast(Store, _SeriesStore(store, series, home=home, first_start=first))
