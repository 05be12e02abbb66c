"""`amabot plan`: the outbox as the bot would act on it now.

It reads the outbox and plans the content exactly as the bot does at start-up, and shows
both: the rows the bot holds and the rows its next reconcile would add. It writes no row,
connects to nothing and never reads a secret, so it is safe to run beside a live bot.
With several series, each series is listed on its own (its content, its rows, in its time
zone), then the rows of no series (organisers' notes to everyone).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, TextIO

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.plan.posts import PostStatus
from bot.services.plan_report import plan_report
from bot.store import Store, open_store

_RECENT = (PostStatus.SENT, PostStatus.SKIPPED, PostStatus.FAILED, PostStatus.CANCELLED)


async def collect_plan(
    settings: Settings, *, days: int, clock: Clock = system_clock
) -> dict[str, Any]:
    """What `amabot plan` shows, read from the content and the database; writes nothing.
    With several series: ``{"now", "series": [one report per series, with its "id" and
    "name"], "community": the rows of no series, "counts", "content_errors"}``."""
    now = clock()
    shows = settings.shows()
    indexes = [ContentIndex(view.content.path, view) for view in shows]
    for index in indexes:
        await asyncio.to_thread(index.reload)
    async with await open_store(
        settings.storage.database, clock=clock, password_env=settings.storage.password_env
    ) as store:
        if len(shows) == 1:
            return await plan_report(settings, store, indexes[0], now, days=days)
        owner = await _series_of_rows(store)
        reports, whole = [], None
        for view, index in zip(shows, indexes, strict=True):
            report = await plan_report(view, store, index, now, days=days)
            whole = whole or report  # every held row: the first series' zone and report
            reports.append(
                {"id": view.series.id, "name": view.series.name, **_only(report, owner, view)}
            )
        ids = {view.series.id for view in shows}
        community = _only(whole or {}, owner, None, unknown=ids)
        return {
            "now": now.isoformat(),
            "series": reports,
            "community": {"pending": community["pending"], "recent": community["recent"]},
            "counts": reports[0]["counts"],
            "content_errors": sum(r["content_errors"] for r in reports),
        }


async def _series_of_rows(store: Store) -> dict[str, str]:
    """Each listed row's series ("" for none: an organiser's note to everyone)."""
    posts = [*await store.outbox.pending(), *await store.outbox.recent(_RECENT, 50)]
    return {p.key: getattr(p, "series", "") or "" for p in posts}


def _only(
    report: dict[str, Any],
    owner: dict[str, str],
    view: Settings | None,
    *,
    unknown: set[str] | None = None,
) -> dict[str, Any]:
    """The report's held rows of one series (`view`), or, with `view` None, those of no
    series and of series the config no longer has (`unknown` = the configured ids)."""

    def mine(key: str) -> bool:
        series = owner.get(key, "")
        if view is not None:
            return series == view.series.id
        return series not in (unknown or set())

    return {
        **report,
        "pending": [p for p in report["pending"] if mine(p["key"])],
        "recent": {s: [p for p in ps if mine(p["key"])] for s, ps in report["recent"].items()},
    }


def render_text(plan: dict[str, Any]) -> str:
    if "series" not in plan:
        lines = [f"amabot plan as of {plan['now']} (times in {plan['timezone']} and UTC)", ""]
        lines += _render_rows(plan)
    else:
        lines = [f"amabot plan as of {plan['now']}, {len(plan['series'])} series"]
        for one in plan["series"]:
            lines += ["", f"== {one['name']} ({one['id']}), times in {one['timezone']} and UTC"]
            lines += _render_rows(one)
        community = plan["community"]
        if community["pending"] or any(community["recent"].values()):
            lines += ["", "== Of no series (organisers' notes to everyone), times in UTC"]
            lines += _render_rows({**community, "to_plan": [], "events": {}})
    lines.append("")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan["counts"].items())) or "empty"
    lines.append(f"Outbox: {counts}. Content files with errors: {plan['content_errors']}.")
    return "\n".join(lines)


def _render_rows(plan: dict[str, Any]) -> list[str]:
    """One series' (or the one) pending, new, recent rows and Discord events."""
    lines = [f"Pending ({len(plan['pending'])}):"]
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
    return lines


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
