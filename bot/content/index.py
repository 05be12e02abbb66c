"""The content index: everything the bot knows about episodes, recaps and authors.

`ContentIndex.reload()` brings it in line with the folder, re-parsing only files whose
size or mtime changed (or, with ``rehash=True``, whose bytes changed), and reports what
changed. Lookups and search are in memory and never touch the disk. Nothing here raises on
bad content: problems are collected and kept in `problems`.

The index is its catalogue (the storage and lookups, `bot.content.catalogue`) with three
parts kept in step with it one file at a time: the scan and the reload pass
(`bot.content.scan`, `bot.content.reload`), the sorted views (`bot.content.views`) and the
search (`bot.content.search`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from bot.config import Settings
from bot.content.ama_records import AmaRecord, load_records
from bot.content.catalogue import Catalogue, problem_sort_key
from bot.content.models import Episode, Problem, Recap, ShowEvent
from bot.content.parallel import PARALLEL_MIN_FILES, Speakers, default_workers
from bot.content.reload import Reload, ReloadReport
from bot.content.scan import Scanner
from bot.content.search import ContentSearch, SearchIndex
from bot.content.text import parse_code
from bot.content.views import SortedViews

__all__ = ["ContentIndex", "ReloadReport", "parse_code", "problem_sort_key"]


class ContentIndex(Catalogue):
    """The content folder as typed data: load it, look things up, list them in order,
    search them. A facade over the parts named in this module's docstring."""

    def __init__(
        self,
        root: Path | str,
        settings: Settings | None = None,
        *,
        only: Path | str | None = None,
        workers: int | None = None,
        content_root: bool | None = None,
    ):
        self.settings = settings or Settings()
        root = Path(root)
        self._scanner = Scanner(
            root, self.settings, Path(only) if only is not None else None, content_root
        )
        super().__init__(root, self._scanner)
        self._views = SortedViews(self)
        self._search = ContentSearch(self, self._views)
        self._parts += [self._views, self._search]
        self._speakers = Speakers()
        # A cold load of `parallel_min_files` files or more is parsed by `workers` processes
        # (`bot.content.parallel`); 1 parses everything in this process.
        self.workers = default_workers() if workers is None else max(1, workers)
        self.parallel_min_files = PARALLEL_MIN_FILES
        self.last_load_workers = 1  # processes that parsed the last reload
        self._loaded = False
        self._ama_records: dict[str, AmaRecord] | None = None
        self._ama_problems: list[Problem] = []

    # ================================================================== loading

    @property
    def is_content_root(self) -> bool:
        """A folder with the configured episodes/recaps/authors (else: any folder of files).
        Decided once, on the first reload, so one scan never mixes the two rules."""
        return self._scanner.is_content_root

    def reload(
        self,
        paths: Iterable[str | Path] | None = None,
        *,
        rehash: bool = False,
        search: bool = False,
    ) -> ReloadReport:
        """Bring the index in line with the folder. `paths` (relative to the root, e.g. from
        `git diff --name-only`) limits the scan to those files; ``rehash`` re-reads every file
        and compares bytes, for folders whose mtimes cannot be trusted. ``search`` also does
        `prepare_search`'s work (what the bot wants before it answers anyone): a cold load
        in worker processes then indexes the words of each file while the workers parse the
        next ones, on a core this process would otherwise leave idle. Never raises."""
        # A cold load allocates millions of objects that all live on: the cyclic collector
        # would walk the growing heap again and again (a tenth of the load) to free nothing.
        # Frontmatter and models are acyclic; any garbage cycle waits for the next pass.
        collecting = gc.isenabled()
        gc.disable()
        try:
            report = Reload(self, rehash=rehash, search=search).run(paths)
            self._views.settle()
            folder = self.settings.content.ama.rstrip("/") + "/"
            if paths is None or any(str(p).startswith(folder) for p in paths):
                self._ama_records = None
            if search:
                self._search.flush()
            return report
        finally:
            if collecting:
                gc.enable()

    @property
    def files(self) -> frozenset[str]:
        return frozenset(self._files) | frozenset(self._refused)

    @property
    def generation(self) -> int:
        """Bumped by every reload that changes something: a key for caches of answers."""
        return self._generation

    def prepare_search(self) -> None:
        """Index the words of new or changed files now rather than on first use (loading
        leaves them untokenised until someone searches): the caller runs it off the event
        loop, with the reload. (The sorted lists are always ready.)"""
        collecting = gc.isenabled()
        gc.disable()  # as in reload: everything built here lives on
        try:
            self._search.flush()
        finally:
            if collecting:
                gc.enable()

    # ================================================================== sorted views

    def ama_record(self, episode_id: str) -> AmaRecord | None:
        """The merged AMA record of an episode, if any (records are read on first use after
        a reload that may have changed them: there are a few dozen at most)."""
        return self._records().get(episode_id)

    def ama_problems(self) -> list[Problem]:
        """What is wrong with the AMA records (for `amabot check`)."""
        self._records()
        return list(self._ama_problems)

    def _records(self) -> dict[str, AmaRecord]:
        if self._ama_records is None:
            ids = [e.id for e in self.episodes()]
            self._ama_records, self._ama_problems = load_records(
                self.root, self.settings.content.ama, ids
            )
        return self._ama_records

    def episodes(self) -> list[Episode]:
        return self._views.episodes()

    def recaps(self, include_drafts: bool = False) -> list[Recap]:
        return self._views.recaps(include_drafts)

    def recap_for_episode(self, episode_id: str) -> Recap | None:
        """The (non-draft) recap of an episode; the latest when there are several."""
        ep = self.episode(episode_id) or self.find_episode(episode_id)
        return self._views.recap_for_episode(ep) if ep else None

    def upcoming_events(
        self, now: datetime, season: int | None = None, limit: int = 5
    ) -> list[tuple[Episode, ShowEvent]]:
        """Livestreams and AMAs not yet over (running ones included), by start time."""
        return self._views.upcoming_events(now, season, limit)

    def next_upcoming(self, now: datetime) -> Episode | None:
        """The episode whose livestream or AMA comes next (or is running); not cancelled."""
        for ep, _ev in self._views.upcoming_events(now, limit=1):
            return ep
        return None

    def upcoming_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        return self._views.upcoming_episodes(now, limit)

    def past_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        """Episodes whose first event has started, most recent first."""
        return self._views.past_episodes(now, limit)

    def latest_episode(self, now: datetime) -> Episode | None:
        past = self._views.past_episodes(now, limit=1)
        return past[0] if past else None

    def published_recaps(self, now: datetime) -> list[Recap]:
        return self._views.published_recaps(now)

    def latest_recap(self, now: datetime) -> Recap | None:
        return self._views.latest_recap(now)

    # ================================================================== search

    @property
    def _ep_search(self) -> SearchIndex:
        return self._search.episodes

    @property
    def _recap_search(self) -> SearchIndex:
        return self._search.recaps

    def search_episodes(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Episode]:
        """Exact code or id first; then matches of every word that are still ahead, the
        best and then the soonest first; then the rest by relevance and recency."""
        return self._search.search_episodes(query, now, limit, loose=loose)

    def search_recaps(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Recap]:
        """Published recaps only (never drafts, never future-dated)."""
        return self._search.search_recaps(query, now, limit, loose=loose)

    def did_you_mean(
        self,
        query: str,
        now: datetime,
        kind: Literal["episode", "recap"] = "episode",
        limit: int = 3,
    ) -> list[Episode] | list[Recap]:
        """Close matches for a query that found nothing: looser typos, any word."""
        return self._search.did_you_mean(query, now, kind, limit)
