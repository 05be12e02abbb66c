"""The organisers' status page (`/status`): what the bot will do this coming week and what it
did lately, as plain data the web page lays out (bot/web/status.py renders any such page:
a title, facts, and sections of rows whose cells are text or links).

The outbox is summarised by `plan_report` (the one summary, `amabot plan`'s too); this adds
the week's events and AMA sessions, links to the sent messages and the lease's holder. Times
are in the series' zone. Every series is shown (each row names its series when there are
several). Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
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


Show = tuple[Settings, ContentIndex, Store]  # a series' view, its index, the store as it sees it


async def status_view(
    settings: Settings,
    store: Store,
    index: ContentIndex,
    now: datetime,
    *,
    lease_holder: str | None = None,
    shows: Sequence[Show] | None = None,
) -> dict[str, Any]:
    """The page's data as of `now`. `lease_holder` is this process's lease id, to say whether
    the holder the store names is this process. `shows`: every series (its settings view,
    index and store view), in the config's order; None: the one series `settings` and
    `index` are. With several, each row names its series (a last column) and its times are
    in that series' zone; with one, the page is as it always was."""
    shows = list(shows) if shows else [(settings, index, store)]
    several = len(shows) > 1
    reports = [await plan_report(v, st, i, now, days=WEEK) for v, i, st in shows]
    report = reports[0]  # the outbox's counts, recent posts and events: the whole store's
    zone = settings.series.timezone
    horizon = now + timedelta(days=WEEK)
    guild = settings.discord.guild_id
    names = {view.series.id: view.series.name for view, _, _ in shows}
    series_of_pending = {p.key: p.series for p in await store.outbox.pending()}
    first_id = shows[0][0].series.id

    def listed_under(key: str) -> str:
        """The series whose rows list a pending post: its own, else (a note to all, or a
        series no longer configured) the first."""
        series = series_of_pending.get(key, first_id)
        return series if series in names else first_id

    def tag(row: list[Cell], series: str) -> list[Cell]:
        return [*row, names.get(series, series or "—")] if several else row

    week: list[tuple[datetime, list[Cell]]] = []
    for (view, view_index, _), view_report in zip(shows, reports, strict=True):
        sid = view.series.id
        for episode in view_index.episodes():
            for kind, _event, start in episode.timed_events():
                if now <= start <= horizon:
                    what = f"{episode.code} {episode.title}".strip()
                    row: list[Cell] = [local_time(start, view), "event", kind, what]
                    week.append((start, tag(row, sid)))
        for post in view_report["pending"]:
            if several and listed_under(post["key"]) != sid:
                continue  # every report lists the whole outbox: each row once
            due = datetime.fromisoformat(post["due_utc"])
            note = post["now"] or "pending"
            row = [post["due_local"], "post", post["kind"], f"{post['key']} ({note})"]
            week.append((due, tag(row, series_of_pending.get(post["key"], sid))))
        for post in view_report["to_plan"]:
            due = datetime.fromisoformat(post["due_utc"])
            what = f"{post['key']} (planned on the next content change)"
            week.append((due, tag([post["due_local"], "post", post["kind"], what], sid)))
        for session in await store.ama.sessions(series=sid):
            if session.state in (SessionState.CLOSED, SessionState.PUBLISHED):
                continue
            for label, at in (
                ("questions open", session.times.opens_at),
                ("AMA starts", session.times.starts_at),
                ("questions close", session.times.closes_at),
            ):
                if now <= at <= horizon:
                    what = f"{session.key.episode_id}: {label} ({session.state})"
                    row = [local_time(at, view), "AMA session", "ama", what]
                    week.append((at, tag(row, sid)))
    week.sort(key=lambda item: item[0])

    recent = report["recent"]
    series_of_recent: dict[str, str] = {}
    if several:
        for post in (p for rows in recent.values() for p in rows):
            stored = await store.outbox.get(post["key"])
            series_of_recent[post["key"]] = stored.series if stored is not None else ""
    sent = [
        tag(
            [
                p["at_local"] or "",
                p["kind"],
                p["key"],
                message_link(guild, p["channel_id"], p["message_id"]),
            ],
            series_of_recent.get(p["key"], ""),
        )
        for p in recent.get("sent", [])
    ]
    # The newest first, across the three statuses (ISO UTC texts sort as times do).
    latest = sorted(
        (p for status in ("failed", "skipped", "cancelled") for p in recent.get(status, [])),
        key=lambda p: p["at_utc"] or "",
        reverse=True,
    )
    troubles: list[list[Cell]] = [
        tag(
            [
                p["at_local"] or "",
                p["status"],
                p["kind"],
                p["key"],
                p["reason"] or p["last_error"] or "",
            ],
            series_of_recent.get(p["key"], ""),
        )
        for p in latest
    ]
    events = report["events"]
    if events.get("permission_error"):
        troubles.insert(0, tag(["", "events", "event", "", str(events["permission_error"])], ""))

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
    errors = sum(r["content_errors"] for r in reports)
    title = ", ".join(view.series.name for view, _, _ in shows)
    facts: list[tuple[str, Cell]] = [
        ("As of", now.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")),
        ("Times in", zone),
    ]
    if several:
        facts = [
            facts[0],
            *(
                (f"Series {view.series.name}", f"times in {view.series.timezone}")
                for view, _, _ in shows
            ),
        ]
    more = ["Series"] if several else []
    return {
        "title": f"{title}: status",
        "facts": [
            *facts,
            ("Lease holder", holder),
            ("Outbox", counts),
            ("Content files with errors", str(errors)),
        ],
        "sections": [
            {
                "id": "week",
                "heading": "The coming week",
                "columns": ["When", "What", "Kind", "Details", *more],
                "rows": [row for _, row in week],
                "empty": "Nothing in the coming week.",
            },
            {
                "id": "sent",
                "heading": "Recently sent",
                "columns": ["When", "Kind", "Key", "Message", *more],
                "rows": sent,
                "empty": "Nothing sent yet.",
            },
            {
                "id": "troubles",
                "heading": "Failures and skips",
                "columns": ["When", "Status", "Kind", "Key", "Reason", *more],
                "rows": troubles,
                "empty": "None.",
            },
        ],
    }
