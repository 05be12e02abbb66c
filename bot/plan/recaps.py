"""Recap announcements: one per published recap, due at its publication time. Pure.

They have no deadline: a late one still goes out. On the very first start, recaps published
before `backlog_cutoff` are recorded as skipped ``backlog`` (no flood of old posts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from bot.config import Settings
from bot.content.models import Author, Episode, Recap, utc
from bot.plan.kinds import channel_for, recap_key, scoped_id
from bot.plan.posts import PlannedPost
from bot.render.messages import (
    recap_announcement,
    recap_url_for,
)


def recap_role(settings: Settings) -> int:
    """`[announcements] role_id`, else the recaps opt-in role."""
    return settings.announcements.role_id or settings.optin.recaps_role_id


def plan_recap_announcements(
    recaps: Iterable[Recap],
    *,
    episodes: Mapping[str, Episode],
    authors: Mapping[str, Author],
    settings: Settings,
    now: datetime,
    ids: Mapping[str, str] | None = None,
) -> list[PlannedPost]:
    """One announcement per published recap, oldest first; due at its publication time.

    `ids` (recap path -> announcement id, from bot/content/identity.py) keeps a renamed
    recap's key; without it the key is the recap's id."""
    now = utc(now)
    planned: list[PlannedPost] = []
    for recap in recaps:
        if not recap.is_published(now):
            continue
        episode = episodes.get(recap.episode_id) if recap.episode_id else None
        url = recap_url_for(recap, settings)
        rid = ids.get(recap.path, recap.id) if ids is not None else recap.id
        planned.append(
            PlannedPost(
                key=recap_key(scoped_id(settings, rid)),
                kind="recap",
                due_at=utc(recap.release_at),
                channel_id=channel_for("recap", settings),
                payload=recap_announcement(
                    recap,
                    episode=episode,
                    authors=authors,
                    recap_url=url,
                    role_id=recap_role(settings),
                    images_url=settings.site.images_url,
                ),
                subject=rid,
                fingerprint=json.dumps(
                    [
                        recap.title,
                        recap.summary,
                        url,
                        recap.image,
                        episode.code if episode else None,
                        episode.title if episode else None,
                    ]
                ),
            )
        )
    planned.sort(key=lambda p: (p.due_at, p.key))
    return planned


def backlog_cutoff(settings: Settings, now: datetime) -> datetime:
    """On the first start, recaps published before this are recorded as skipped ``backlog``."""
    return utc(now) - timedelta(days=max(settings.announcements.backlog_days, 0))
