"""`amabot plan` as a real process, against the database a real bot run left behind.

The bot (discord.py against the stand-in, real git, real SQLite) announces one recap, is refused
another (403), records the sample recaps as backlog and plans reminders for an episode next
week; then `amabot plan` must show all of it, in text and JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.builders import episode_md
from tests.e2e.episodes import rk
from tests.e2e.test_recaps import announced, merge_and_push, recap_md, started

ROOT = Path(__file__).resolve().parents[2]
LA = ZoneInfo("America/Los_Angeles")


async def amabot_plan(config: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "AMABOT_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "plan",
        "--config",
        str(config),
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert not err.strip(), err.decode()
    return out.decode()


async def test_plan_shows_pending_in_both_zones_and_the_last_outcomes_with_reasons(harness):
    h = harness
    await started(h)
    # Next week, 10:30 wall-clock in Los Angeles: the series zone of the sample config.
    start_local = (datetime.now(LA) + timedelta(days=3)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    await merge_and_push(
        h,
        {
            "recaps/ok.md": recap_md("ok", "Announced"),
            "episodes/s9-e02.md": episode_md(
                "s9-e02",
                number=2,
                title="Planning Ahead",
                summary="",
                guests=(),
                hosts=(),
                livestream=start_local.strftime("%Y-%m-%dT%H:%M"),
                livestream_url="https://example.org/live/",
                ama=None,
            ),
        },
        "A recap and next week's episode",
    )
    message = await announced(h, "Announced")
    await h.sandbox.deny_channel(h.announcements)
    await merge_and_push(h, {"recaps/no.md": recap_md("no", "Refused")}, "Another recap")
    await h.sandbox.wait_for(lambda: h.posting.dispatcher.stats.failed == 1)
    await h.stop_bot()

    data = json.loads(await amabot_plan(h.config_path, "--format", "json", "--days", "7"))
    assert data["timezone"] == "America/Los_Angeles"
    pending = {p["key"]: p for p in data["pending"]}
    one_hour = pending[rk("reminder:s9-e02:livestream:1h", start_local)]
    due = start_local - timedelta(hours=1)
    assert one_hour["due_utc"] == due.astimezone(UTC).isoformat()
    assert one_hour["due_local"] == due.strftime("%a %Y-%m-%d %H:%M %Z")
    assert one_hour["kind"] == "reminder"
    assert one_hour["channel_id"] == h.reminders.id
    assert data["to_plan"] == []  # the bot already holds every row it plans

    sent = {p["key"]: p for p in data["recent"]["sent"]}
    assert sent["recap:ok"]["message_id"] == int(message["id"])
    skipped = {p["key"]: p["reason"] for p in data["recent"]["skipped"]}
    assert skipped["recap:s2-e05"] == "backlog"
    failed = {p["key"]: p["reason"] for p in data["recent"]["failed"]}
    assert "403" in failed["recap:no"] and "Missing Permissions" in failed["recap:no"]
    assert data["counts"]["failed"] == 1 and data["counts"]["sent"] == 1

    text = await amabot_plan(h.config_path, "--days", "7")
    line = next(
        ln for ln in text.splitlines() if rk("reminder:s9-e02:livestream:1h", start_local) in ln
    )
    assert due.strftime("%a %Y-%m-%d %H:%M %Z") in line
    assert due.astimezone(UTC).isoformat() in line
    assert f"channel {h.reminders.id}" in line
    sections = text.split("\n\n")
    failed_text = next(s for s in sections if s.startswith("Last failed"))
    assert "recap:no" in failed_text and "Missing Permissions" in failed_text
    skipped_text = next(s for s in sections if s.startswith("Last skipped"))
    assert "recap:s2-e05" in skipped_text and "backlog" in skipped_text
    sent_text = next(s for s in sections if s.startswith("Last sent"))
    assert "recap:ok" in sent_text and message["id"] in sent_text
