"""The organisers' status page (`/status`): what the bot will do this coming week and what it
did lately, as plain data the web page lays out (bot/web/status.py renders any such page:
a title, facts, and sections of rows whose cells are text or links).

The outbox is summarised by `plan_report` (the one summary, `amabot plan`'s too); this adds
the week's events and AMA sessions, links to the sent messages and the lease's holder. Times
are in the series' zone. Read-only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.content.index import ContentIndex
from bot.plan.ama import SessionState
from bot.services.plan_report import local_time, plan_report
from bot.store import Store

WEEK = 7

Cell = str | dict[str, str]  # text, or {"text": ..., "href": ...}


def message_link(guild_id: int, channel_id: int | None, message_id: int | None) -> Cell:
    """A link to a message in Discord, or a dash when it has none."""
    if not channel_id or not message_id:
        return "—"
    return {
        "text": f"message {message_id}",
        "href": f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}",
    }


async def status_view(
    settings: Settings,
    store: Store,
    index: ContentIndex,
    now: datetime,
    *,
    lease_holder: str | None = None,
) -> dict[str, Any]:
    """The page's data as of `now`. `lease_holder` is this process's lease id, to say whether
    the holder the store names is this process."""
    report = await plan_report(settings, store, index, now, days=WEEK)
    zone = settings.series.timezone
    horizon = now + timedelta(days=WEEK)
    guild = settings.discord.guild_id

    week: list[tuple[datetime, list[Cell]]] = []
    for episode in index.episodes():
        for kind, _event, start in episode.timed_events():
            if now <= start <= horizon:
                what = f"{episode.code} {episode.title}".strip()
                week.append((start, [local_time(start, settings), "event", kind, what]))
    for post in report["pending"]:
        due = datetime.fromisoformat(post["due_utc"])
        note = post["now"] or "pending"
        week.append((due, [post["due_local"], "post", post["kind"], f"{post['key']} ({note})"]))
    for post in report["to_plan"]:
        due = datetime.fromisoformat(post["due_utc"])
        what = f"{post['key']} (planned on the next content change)"
        week.append((due, [post["due_local"], "post", post["kind"], what]))
    for session in await store.ama.sessions(series=settings.series.id):
        if session.state in (SessionState.CLOSED, SessionState.PUBLISHED):
            continue
        for label, at in (
            ("questions open", session.times.opens_at),
            ("AMA starts", session.times.starts_at),
            ("questions close", session.times.closes_at),
        ):
            if now <= at <= horizon:
                what = f"{session.key.episode_id}: {label} ({session.state})"
                week.append((at, [local_time(at, settings), "AMA session", "ama", what]))
    week.sort(key=lambda item: item[0])

    recent = report["recent"]
    sent = [
        [
            p["at_local"] or "",
            p["kind"],
            p["key"],
            message_link(guild, p["channel_id"], p["message_id"]),
        ]
        for p in recent.get("sent", [])
    ]
    # The newest first, across the three statuses (ISO UTC texts sort as times do).
    latest = sorted(
        (p for status in ("failed", "skipped", "cancelled") for p in recent.get(status, [])),
        key=lambda p: p["at_utc"] or "",
        reverse=True,
    )
    troubles: list[list[Cell]] = [
        [
            p["at_local"] or "",
            p["status"],
            p["kind"],
            p["key"],
            p["reason"] or p["last_error"] or "",
        ]
        for p in latest
    ]
    events = report["events"]
    if events.get("permission_error"):
        troubles.insert(0, ["", "events", "event", "", str(events["permission_error"])])

    lease = await store.leases.get()
    if lease is None:
        holder = "nobody holds the lease"
    else:
        mine = " (this process)" if lease.holder == lease_holder else ""
        holder = (
            f"{lease.holder}{mine}, since {local_time(lease.acquired_at, settings)}, "
            f"renewed {local_time(lease.renewed_at, settings)}"
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report["counts"].items())) or "empty"
    return {
        "title": f"{settings.series.name}: status",
        "facts": [
            ("As of", now.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")),
            ("Times in", zone),
            ("Lease holder", holder),
            ("Outbox", counts),
            ("Content files with errors", str(report["content_errors"])),
        ],
        "sections": [
            {
                "id": "week",
                "heading": "The coming week",
                "columns": ["When", "What", "Kind", "Details"],
                "rows": [row for _, row in week],
                "empty": "Nothing in the coming week.",
            },
            {
                "id": "sent",
                "heading": "Recently sent",
                "columns": ["When", "Kind", "Key", "Message"],
                "rows": sent,
                "empty": "Nothing sent yet.",
            },
            {
                "id": "troubles",
                "heading": "Failures and skips",
                "columns": ["When", "Status", "Kind", "Key", "Reason"],
                "rows": troubles,
                "empty": "None.",
            },
        ],
    }
