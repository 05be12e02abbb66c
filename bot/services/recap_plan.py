"""The recap announcement plan, kept up to date incrementally (issue 15, item 7).

A merge that changes k files must cost O(k), not O(corpus): after one full plan (start-up, a
rescan, an authors change), each pull re-plans only the recaps it touched: the files it
changed, the recaps of the episodes it changed (their title is in the announcement), the
recaps sharing an id with those (the first file by path holds an id), and the recaps whose
publication time has come since the last pass (a heap of future times, so "a recap dated
today becomes due" costs nothing until it does). The outbox then reconciles just those keys.

No I/O: the owner (PostingService) reads the index and writes the outbox.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.content.identity import has_explicit_id
from bot.content.models import Recap, utc
from bot.plan.posts import PlannedPost

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
            if not recap.draft and recap.published > now:
                st.future.append((recap.published, recap.path))
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
            post = _replan(st, index, path, now, aliases, plan_one)
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
) -> PlannedPost | None:
    """The announcement of the recap at `path` now, if it has one (remembered in `st`)."""
    recap = index.recap_at(path)
    st._link(path, recap)
    if recap is None or recap.draft:
        return None
    live = index.recap(recap.id)
    if live is None or live.path != path:
        return None  # a duplicate id: the other file is that recap
    if recap.published > now:
        heapq.heappush(st.future, (recap.published, path))
        return None
    rid = recap.id
    if not has_explicit_id(recap) and recap.id in aliases:
        rid = aliases[recap.id]
    elif f"recap:{rid}" in st.owner and st.owner[f"recap:{rid}"] != path:
        rid = f"{rid}~{path}"
    post = plan_one(recap, rid)
    st.key_of[path] = post.key
    st.owner[post.key] = path
    return post
