"""The outbox summarised as the bot would act on it now: pending posts (in the series' zone
and UTC), what the next reconcile would add, the Discord events' next pass, the last sent,
skipped and failed posts with their reasons. One summary, two readers: `amabot plan`
(bot/cli/plan.py, over a store it opens) and the running bot's `/status` page
(bot/services/status.py, over its own). It writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.content.identity import announcement_ids
from bot.content.index import ContentIndex
from bot.content.models import Episode
from bot.plan.late import Action, late_decision
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.plan.recaps import backlog_cutoff, plan_recap_announcements
from bot.plan.reminders import plan_reminders
from bot.plan.scheduled_events import Op, diff_events, plan_guild_events
from bot.services.posting import RECAP_ALIAS_PREFIX
from bot.store import Store

RECENT = 10


async def plan_report(
    settings: Settings, store: Store, index: ContentIndex, now: datetime, *, days: int
) -> dict[str, Any]:
    """The summary, from a loaded content index and an open store, as of `now`."""
    episodes = {e.id: e for e in index.episodes()}
    would_add = await _would_add(store, index, episodes, settings, now)
    pending = await store.outbox.pending()
    recent = {
        status.value: [_post_dict(p, settings) for p in await store.outbox.recent([status], RECENT)]
        for status in (
            PostStatus.SENT,
            PostStatus.SKIPPED,
            PostStatus.FAILED,
            PostStatus.CANCELLED,
        )
    }
    counts = {str(k): v for k, v in (await store.outbox.counts()).items()}
    events = await _events_report(store, settings, episodes.values(), now)
    problems = [p for p in index.problems if p.severity == "error"]
    horizon = now + timedelta(days=days)
    return {
        "now": now.isoformat(),
        "timezone": settings.series.timezone,
        "pending": [
            {**_post_dict(p, settings), "now": _what_now(p, now)}
            for p in pending
            if p.due_at <= horizon
        ],
        "to_plan": [
            {
                "key": p.key,
                "kind": p.kind,
                "due_utc": p.due_at.isoformat(),
                "due_local": local_time(p.due_at, settings),
                "channel_id": p.channel_id,
            }
            for p in sorted(would_add, key=lambda p: p.due_at)
            if p.due_at <= horizon
        ],
        "recent": recent,
        "counts": counts,
        "content_errors": len(problems),
        "events": events,
    }


async def _would_add(
    store: Store,
    index: ContentIndex,
    episodes: Mapping[str, Episode],
    settings: Settings,
    now: datetime,
) -> list[PlannedPost]:
    """Posts the bot would add on its next reconcile, shown as pending-to-be."""
    aliases = await store.state.with_prefix(RECAP_ALIAS_PREFIX)
    recap_plan = plan_recap_announcements(
        index.recaps(),
        episodes=episodes,
        authors=index.authors,
        settings=settings,
        now=now,
        ids=announcement_ids(index.recaps(), aliases),
    )
    reminder_plan = plan_reminders(episodes.values(), settings, now)
    known = {p.key for p in await store.outbox.all()}
    cutoff = backlog_cutoff(settings, now)
    first_start = store.first_start
    return [
        p
        for p in (*recap_plan, *reminder_plan)
        if p.key not in known and not (first_start and p.kind == "recap" and p.due_at < cutoff)
    ]


async def _events_report(
    store: Store, settings: Settings, episodes: Iterable[Episode], now: datetime
) -> dict:
    """The Discord scheduled events: what the next pass would do, and what went wrong."""
    out: dict[str, Any] = {
        "enabled": settings.events.enabled,
        "permission_error": await store.events.permission_error(),
        "errors": await store.events.errors(),
        "actions": [],
    }
    if not settings.events.enabled:
        return out
    stored = await store.events.all()
    cfg = settings.events
    actions = diff_events(
        plan_guild_events(episodes, settings, now),
        stored,
        now,
        auto_start=cfg.auto_start,
        create_ahead=cfg.create_ahead,
    )
    out["actions"] = [
        {
            "op": str(a.op),
            "key": a.key,
            "discord_id": a.discord_id,
            "fields": sorted(a.body),
            "reason": a.reason,
        }
        for a in actions
        if a.op is not Op.NONE
    ]
    out["made"] = sum(1 for st in stored.values() if st.discord_id is not None)
    return out


def local_time(dt: datetime, settings: Settings) -> str:
    """`dt` in the series' time zone, as `amabot plan` and `/status` show it."""
    return dt.astimezone(ZoneInfo(settings.series.timezone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _what_now(post: Post, now: datetime) -> str | None:
    """What delivery would do with a pending post if it looked at it now (None: not due)."""
    if post.next_attempt_at is not None and post.next_attempt_at > now:
        return f"retry at {post.next_attempt_at.isoformat()}"
    if post.due_at > now:
        return None
    decision = late_decision(post, now)
    if decision.action is Action.SKIP:
        return f"would be skipped: {decision.reason}"
    if decision.action is Action.SEND:
        return "due now"
    return f"due now ({decision.action.value.replace('_', ' ')})"


def _post_dict(post: Post, settings: Settings) -> dict[str, Any]:
    # When it reached its status: the send for sent posts, the last change otherwise.
    at = post.sent_at or post.updated_at
    return {
        "key": post.key,
        "kind": post.kind,
        "status": str(post.status),
        "due_utc": post.due_at.isoformat(),
        "due_local": local_time(post.due_at, settings),
        "at_utc": at.isoformat() if at else None,
        "at_local": local_time(at, settings) if at else None,
        "channel_id": post.channel_id,
        "attempts": post.attempts,
        "reason": post.reason,
        "last_error": post.last_error,
        "message_id": post.message_id,
    }
