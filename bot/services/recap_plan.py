"""The recap announcement plan, kept up to date incrementally (issue 15, item 7).

A merge that changes k files must cost O(k), not O(corpus): after one full plan (start-up, a
rescan, an authors change), each pull re-plans only the recaps it touched: the files it
changed, the recaps of the episodes it changed (their title is in the announcement), the
recaps sharing an id with those (the first file by path holds an id), and the recaps whose
publication time has come since the last pass (a heap of future times, so "a recap dated
today becomes due" costs nothing until it does). The outbox then reconciles just those keys.

`IncrementalRecapPlan` does no I/O. `RecapPlanner` is the posting service's recap planning
around it: the full plan remembered by its inputs, what each reload touched, and the aliases
of renamed recaps (kept in the store's state); bot/services/reconcile.py writes its plan into
the outbox.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.config import Settings
from bot.content.identity import announcement_ids, has_explicit_id, new_aliases, renamed
from bot.content.models import Episode, Recap, utc
from bot.plan.kinds import recap_key, scoped_id
from bot.plan.posts import PlannedPost
from bot.plan.recaps import plan_recap_announcements

log = logging.getLogger("amabot.posting")

PlanOne = Callable[[Recap, str], PlannedPost]


class RecapIndex(Protocol):
    """What the plan reads of the content index."""

    def recap_at(self, rel: str) -> Recap | None: ...

    def recap(self, recap_id: str) -> Recap | None: ...


@dataclass(slots=True)
class RecapPlanState:
    key_of: dict[str, str] = field(default_factory=dict)  # path -> planned key
    owner: dict[str, str] = field(default_factory=dict)  # planned key -> path
    recap_id: dict[str, str] = field(default_factory=dict)  # path -> recap id, last seen
    episode_of: dict[str, str] = field(default_factory=dict)  # path -> episode id (lower)
    by_episode: dict[str, set[str]] = field(default_factory=dict)  # episode id -> paths
    future: list[tuple[datetime, str]] = field(default_factory=list)  # heap: not yet published

    def _link(self, path: str, recap: Recap | None) -> None:
        old = self.episode_of.pop(path, None)
        if old is not None:
            self.by_episode.get(old, set()).discard(path)
        self.recap_id.pop(path, None)
        if recap is None:
            return
        self.recap_id[path] = recap.id
        if recap.episode_id:
            eid = recap.episode_id.lower()
            self.episode_of[path] = eid
            self.by_episode.setdefault(eid, set()).add(path)


class IncrementalRecapPlan:
    def __init__(self) -> None:
        self.state: RecapPlanState | None = None  # None: the next pass must be a full one

    def invalidate(self) -> None:
        self.state = None

    def rebuild(
        self, recaps: Iterable[Recap], planned: Iterable[tuple[str, PlannedPost]], now: datetime
    ) -> None:
        """Remember a full plan: `recaps` are the index's live recaps, `planned` the
        (path, announcement) pairs planned from them."""
        now = utc(now)
        st = RecapPlanState()
        for recap in recaps:
            st._link(recap.path, recap)
            if not recap.draft and recap.release_at > now:
                st.future.append((recap.release_at, recap.path))
        heapq.heapify(st.future)
        for path, post in planned:
            st.key_of[path] = post.key
            st.owner[post.key] = path
        self.state = st

    def update(
        self,
        *,
        index: RecapIndex,
        paths: Iterable[str],
        episode_ids: Iterable[str],
        now: datetime,
        aliases: Mapping[str, str],
        plan_one: PlanOne,
        key_for: Callable[[str], str] = recap_key,
    ) -> tuple[list[PlannedPost], set[str]]:
        """Re-plan what `paths` and `episode_ids` touched, and what fell due by `now`.
        Returns the planned posts and every key looked at (planned or no longer planned)."""
        st = self.state
        if st is None:
            raise RuntimeError("no full plan to update")
        now = utc(now)
        affected = sorted(_affected(st, index, paths, episode_ids, now))
        touched: set[str] = set()
        for path in affected:
            old = st.key_of.pop(path, None)
            if old is not None:
                touched.add(old)
                if st.owner.get(old) == path:
                    del st.owner[old]
        planned: list[PlannedPost] = []
        for path in affected:
            post = _replan(st, index, path, now, aliases, plan_one, key_for)
            if post is not None:
                touched.add(post.key)
                planned.append(post)
        planned.sort(key=lambda p: (p.due_at, p.key))
        return planned, touched


def _affected(
    st: RecapPlanState,
    index: RecapIndex,
    paths: Iterable[str],
    episode_ids: Iterable[str],
    now: datetime,
) -> set[str]:
    """The recap files to re-plan: those changed, those of the changed episodes, those
    fallen due, and those sharing an id with any of them."""
    affected = set(paths)
    for eid in episode_ids:
        affected |= st.by_episode.get(eid.lower(), set())
    while st.future and st.future[0][0] <= now:
        affected.add(heapq.heappop(st.future)[1])
    # A recap id held by two files belongs to the first by path: when one of them
    # changes, the other may take over (or give up) the id.
    for path in list(affected):
        ids = {st.recap_id.get(path)}
        current = index.recap_at(path)
        if current is not None:
            ids.add(current.id)
        for rid in ids - {None}:
            live = index.recap(rid)  # type: ignore[arg-type]
            if live is not None:
                affected.add(live.path)
    return affected


def _replan(
    st: RecapPlanState,
    index: RecapIndex,
    path: str,
    now: datetime,
    aliases: Mapping[str, str],
    plan_one: PlanOne,
    key_for: Callable[[str], str] = recap_key,
) -> PlannedPost | None:
    """The announcement of the recap at `path` now, if it has one (remembered in `st`)."""
    recap = index.recap_at(path)
    st._link(path, recap)
    if recap is None or recap.draft:
        return None
    live = index.recap(recap.id)
    if live is None or live.path != path:
        return None  # a duplicate id: the other file is that recap
    if recap.release_at > now:
        heapq.heappush(st.future, (recap.release_at, path))
        return None
    rid = recap.id
    if not has_explicit_id(recap) and recap.id in aliases:
        rid = aliases[recap.id]
    elif (key := key_for(rid)) in st.owner and st.owner[key] != path:
        rid = f"{rid}~{path}"
    post = plan_one(recap, rid)
    st.key_of[path] = post.key
    st.owner[post.key] = path
    return post


RECAP_ALIAS_PREFIX = "recap.alias:"  # state rows: file-name id of a renamed recap -> its old id


class RecapPlanner:
    """The recap announcements, planned from the content for the posting service: a full plan
    remembered by its inputs, then updated by what each content change touched
    (`IncrementalRecapPlan`); a recap renamed to a new path keeps its announcement id
    (bot/content/identity, the aliases kept in the store's state)."""

    def __init__(self, *, settings: Settings, index: Any):
        self.settings = settings
        self.index = index
        self._recap_cache: dict[tuple[Recap, Episode | None, str], PlannedPost] = {}
        self._cache_authors: dict[str, Any] | None = None
        self.aliases: dict[str, str] = {}
        # Incremental planning: what the content changes since the last pass touched.
        self._recap_plan = IncrementalRecapPlan()
        self._changed_paths: set[str] = set()
        self._changed_episodes: set[str] = set()

    async def load_aliases(self, state: Any) -> None:
        # Another series' aliases are kept under its key prefix (`<series>/`).
        self.aliases = await state.with_prefix(self._alias_prefix)

    @property
    def _alias_prefix(self) -> str:
        return RECAP_ALIAS_PREFIX + self.settings.series.key_prefix

    def recaps_at(self, paths: tuple[str, ...] | None) -> dict[str, Recap]:
        rels = self.index.recap_paths() if paths is None else paths
        return {rel: r for rel in rels if (r := self.index.recap_at(rel)) is not None}

    async def follow_renames(
        self, before: Mapping[str, Recap], report: Any, renames: Any, state: Any
    ) -> None:
        """A recap that moved to a new path keeps its announcement id (bot/content/identity)."""
        gone = {rel: r for rel, r in before.items() if self.index.recap_at(rel) is None}
        if not gone:
            return
        arrived = {
            rel: r
            for rel in (*report.added, *report.changed)
            if rel not in before and (r := self.index.recap_at(rel)) is not None
        }
        pairs = renamed(gone, arrived, renames)
        for new_id, old_id in new_aliases(pairs, self.aliases).items():
            await state.set(self._alias_prefix + new_id, old_id)
            self.aliases[new_id] = old_id
            log.info("recap %s was renamed: it keeps the announcement of %s", new_id, old_id)

    def note_reload(self, paths: tuple[str, ...] | None, report: Any) -> None:
        """What a reload touched, for the next incremental pass."""
        if paths is None:
            self._recap_plan.invalidate()  # a rescan: the next pass plans everything
        else:
            self._changed_paths |= report.added | report.changed | report.removed
            self._changed_episodes |= report.episodes_changed

    def can_update(self) -> bool:
        """Whether a pass may re-plan only what changed: there is a full plan to update, made
        with the same authors (their names are in every announcement)."""
        return self._recap_plan.state is not None and self.index.authors == self._cache_authors

    def take_changes(self) -> tuple[set[str], set[str]]:
        """The paths and episode ids changed since the last pass, forgotten here. On the
        event loop: a reload noted while a plan is made in a thread is kept for the next."""
        changes = self._changed_paths, self._changed_episodes
        self._changed_paths, self._changed_episodes = set(), set()
        return changes

    def plan_all(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> list[tuple[str, PlannedPost]]:
        """plan_recap_announcements, remembering each announcement by its inputs; (path,
        announcement) pairs, and the incremental plan rebuilt from them.

        Planning is pure, so an unchanged (recap, episode) pair renders the same payload: a
        pull that changed one file re-renders one announcement, not 10,000. Keys compare by
        value, so a reloaded but identical file is a hit too."""
        authors = self.index.authors
        if authors != self._cache_authors:
            self._recap_cache = {}
            self._cache_authors = dict(authors)
        previous, kept = self._recap_cache, {}
        planned: list[tuple[str, PlannedPost]] = []
        recaps = self.index.recaps()
        ids = announcement_ids(recaps, self.aliases) if self.aliases else None
        for recap in recaps:
            if not recap.is_published(now):
                continue
            episode = episodes.get(recap.episode_id) if recap.episode_id else None
            rid = ids.get(recap.path, recap.id) if ids is not None else recap.id
            found = (recap, episode, rid)
            key: tuple[Recap, Episode | None, str] | None = found
            try:
                post = previous.get(found)
            except TypeError:  # an unhashable field somewhere: just render it
                key, post = None, None
            if post is None:
                post = plan_recap_announcements(
                    [recap],
                    episodes=episodes,
                    authors=authors,
                    settings=self.settings,
                    now=now,
                    ids={recap.path: rid},
                )[0]
            if key is not None:
                kept[key] = post
            planned.append((recap.path, post))
        self._recap_cache = kept
        planned.sort(key=lambda pair: (pair[1].due_at, pair[1].key))
        self._recap_plan.rebuild(recaps, planned, now)
        return planned

    def plan_changed(
        self, episodes: Mapping[str, Episode], now: datetime
    ) -> tuple[list[PlannedPost], set[str]]:
        """Re-plan only what the content changes since the last pass touched: the planned
        posts, and every key looked at (planned or no longer planned)."""
        paths, episode_ids = self.take_changes()

        def plan_one(recap: Recap, rid: str) -> PlannedPost:
            return plan_recap_announcements(
                [recap],
                episodes=episodes,
                authors=self.index.authors,
                settings=self.settings,
                now=now,
                ids={recap.path: rid},
            )[0]

        return self._recap_plan.update(
            index=self.index,
            paths=paths,
            episode_ids=episode_ids,
            now=now,
            aliases=self.aliases,
            plan_one=plan_one,
            key_for=lambda rid: recap_key(scoped_id(self.settings, rid)),
        )
