"""`amabot plan`: the outbox as the bot would act on it now.

It reads the outbox and plans the content exactly as the bot does at start-up, and shows
both: the rows the bot holds and the rows its next reconcile would add. It writes no row,
connects to nothing and never reads a secret, so it is safe to run beside a live bot.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, TextIO

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.services.plan_report import plan_report
from bot.store import open_store


async def collect_plan(
    settings: Settings, *, days: int, clock: Clock = system_clock
) -> dict[str, Any]:
    """What `amabot plan` shows, read from the content and the database; writes nothing."""
    now = clock()
    index = ContentIndex(settings.content.path, settings)
    await asyncio.to_thread(index.reload)
    async with await open_store(
        settings.storage.database, clock=clock, password_env=settings.storage.password_env
    ) as store:
        return await plan_report(settings, store, index, now, days=days)


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
