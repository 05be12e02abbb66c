"""`amabot plan`: the outbox as the bot would act on it now.

It reads the outbox and plans the content exactly as the bot does at start-up, and shows
both: the rows the bot holds and the rows its next reconcile would add. It writes no row,
connects to nothing and never reads a secret, so it is safe to run beside a live bot.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.clock import Clock, system_clock
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
from bot.store import Store, open_store

RECENT = 10


async def collect_plan(
    settings: Settings, *, days: int, clock: Clock = system_clock
) -> dict[str, Any]:
    """What `amabot plan` shows, read from the content and the database; writes nothing."""
    now = clock()
    index = ContentIndex(settings.content.path, settings)
    await asyncio.to_thread(index.reload)
    async with await open_store(settings.storage.database, clock=clock) as store:
        episodes = {e.id: e for e in index.episodes()}
        would_add = await _would_add(store, index, episodes, settings, now)
        pending = await store.outbox.pending()
        recent = {
            status.value: [
                _post_dict(p, settings) for p in await store.outbox.recent([status], RECENT)
            ]
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
                "due_local": _local(p.due_at, settings),
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


def _local(dt: datetime, settings: Settings) -> str:
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
        "due_local": _local(post.due_at, settings),
        "at_utc": at.isoformat() if at else None,
        "at_local": _local(at, settings) if at else None,
        "channel_id": post.channel_id,
        "attempts": post.attempts,
        "reason": post.reason,
        "last_error": post.last_error,
        "message_id": post.message_id,
    }


def render_text(plan: dict[str, Any]) -> str:
    lines = [f"amabot plan as of {plan['now']} (times in {plan['timezone']} and UTC)", ""]
    lines.append(f"Pending ({len(plan['pending'])}):")
    for p in plan["pending"]:
        note = f"  [attempt {p['attempts']}: {p['last_error']}]" if p["last_error"] else ""
        if p.get("now"):
            note += f"  [{p['now']}]"
        lines.append(
            f"  {p['due_local']}  ({p['due_utc']})  {p['kind']:<8} {p['key']}  "
            f"-> channel {p['channel_id']}{note}"
        )
    if not plan["pending"]:
        lines.append("  nothing")
    if plan["to_plan"]:
        lines.append("")
        lines.append(f"New on the bot's next start or content change ({len(plan['to_plan'])}):")
        for p in plan["to_plan"]:
            lines.append(
                f"  {p['due_local']}  ({p['due_utc']})  {p['kind']:<8} {p['key']}  "
                f"-> channel {p['channel_id']}"
            )
    for status in ("failed", "skipped", "cancelled", "sent"):
        posts = plan["recent"].get(status, [])
        if not posts:
            continue
        lines.append("")
        lines.append(f"Last {status} (when, then the due time in brackets):")
        for p in posts:
            why = p["reason"] or (f"message {p['message_id']}" if p["message_id"] else "")
            lines.append(
                f"  {p['at_local']}  [{p['due_local']}]  {p['kind']:<8} {p['key']}  "
                f"-> channel {p['channel_id']}: {why}"
            )
    events = plan.get("events") or {}
    if events.get("enabled") or events.get("permission_error") or events.get("errors"):
        lines.append("")
        lines.append(f"Discord events ({events.get('made', 0)} made by the bot):")
        if events.get("permission_error"):
            lines.append(f"  ERROR: {events['permission_error']}")
        for key, error in sorted((events.get("errors") or {}).items()):
            if error != events.get("permission_error"):
                lines.append(f"  error {key}: {error}")
        for a in events.get("actions", []):
            what = ", ".join(a["fields"])
            why = f" ({a['reason']})" if a["reason"] else ""
            lines.append(f"  next pass: {a['op']:<6} {a['key']}  [{what}]{why}")
        if not events.get("actions"):
            lines.append("  next pass: nothing to do")
    lines.append("")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan["counts"].items())) or "empty"
    lines.append(f"Outbox: {counts}. Content files with errors: {plan['content_errors']}.")
    return "\n".join(lines)


def run_plan(
    settings: Settings,
    *,
    days: int = 14,
    fmt: str = "text",
    out: TextIO | None = None,
    clock: Clock = system_clock,
) -> int:
    out = out or sys.stdout
    plan = asyncio.run(collect_plan(settings, days=days, clock=clock))
    if fmt == "json":
        out.write(json.dumps(plan, indent=2) + "\n")
    else:
        out.write(render_text(plan) + "\n")
    return 0
