"""Shared by the end-to-end suites: a week of episode files (tests/builders.py writes them),
a harness that runs them, and config sections that name the sandbox's channels and roles."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bot.config import load_settings
from bot.plan.reminders import instant_label
from testkit.harness import Harness
from tests.builders import LA, episode_md

# Monday 2025-07-14 10:30 PDT = 17:30 UTC; Friday 2025-07-18 10:30 PDT = 17:30 UTC.
LS_START = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
AMA_START = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
SUNDAY = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def weekly_episodes(count: int) -> dict[str, str]:
    """`count` episodes a week apart, from the week of SUNDAY."""
    out = {}
    for n in range(1, count + 1):
        monday = (LS_START + (n - 1) * WEEK).astimezone(ZoneInfo(LA)).date()
        friday = monday + timedelta(days=4)
        out[f"s9-e{n:02d}"] = episode_md(
            id=f"s9-e{n:02d}",
            number=n,
            livestream=f"{monday.isoformat()}T10:30",
            ama=f"{friday.isoformat()}T10:30",
            title=f"Episode {n}",
        )
    return out


@contextlib.asynccontextmanager
async def world(
    base: Path,
    *,
    clock: Any,
    episodes: Mapping[str, str],
    configure: Callable[[Harness], Mapping[str, Mapping[str, Any]]] | None = None,
    before_start: Callable[[Harness], Any] | None = None,
) -> AsyncIterator[Harness]:
    content = base / "content-src"
    (content / "episodes").mkdir(parents=True)
    for name, text in episodes.items():
        (content / "episodes" / f"{name}.md").write_text(text, encoding="utf-8")
    h = Harness(base / "world", clock=clock, content_source=content)
    await h.start()
    try:
        sections: dict[str, dict[str, Any]] = {"reminders": {"offsets": ["1h"]}}
        for section, values in (configure(h) if configure else {}).items():
            sections.setdefault(section, {}).update(values)
        h.overrides = sections
        h.settings = load_settings(h.write_config(), environ=h.environ)
        if before_start is not None:
            before_start(h)
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


def events_on(h: Harness, **extra: Any) -> dict[str, dict[str, Any]]:
    return {"events": {"enabled": True, "ama_stage_channel_id": h.stage.id, **extra}}


def ours(h: Harness) -> list[dict[str, Any]]:
    """The scheduled events the bot made in the sandbox guild, by start time."""
    bot_id = str(h.sandbox.bot_user.id)
    events = [e for e in h.sandbox.scheduled_events(h.guild) if e["creator_id"] == bot_id]
    return sorted(events, key=lambda e: e["scheduled_start_time"])


async def http_get(url: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), dict(response.headers)


def webhook_url(h: Harness) -> str:
    assert h.bot.webhook is not None
    return h.bot.webhook.url


def rk(key: str, start: datetime) -> str:
    """A reminder key with the instant of its event: ``rk("reminder:s9-e01:ama:1h", AMA_START)``."""
    return f"{key}@{instant_label(start)}"


def livestream_role_config(h: Harness) -> dict:
    """`configure=` for `world`: a mentionable "Livestream pings" role (h.ls_role), both the
    opt-in role members give themselves and the role livestream reminders ping."""
    h.ls_role = h.sandbox.add_role(h.guild, "Livestream pings", mentionable=True)
    return {
        "optin": {"livestream_role_id": h.ls_role.id},
        "reminders": {"livestream_role_id": h.ls_role.id},
    }
