"""`amabot ama export EPISODE`: the AMA's record as the bot writes it back, printed."""

from __future__ import annotations

import asyncio
import sys

from bot.config import Settings
from bot.plan.ama import AmaKey
from bot.services.ama import session_record
from bot.store import open_store


async def _export(settings: Settings, episode_id: str, series: str) -> str | None:
    async with await open_store(
        settings.storage.database, password_env=settings.storage.password_env
    ) as store:
        session = await store.ama.session_of(AmaKey(series, episode_id))
        if session is None:
            return None
        return await session_record(store, session.id)


def run_export(settings: Settings, episode_id: str, *, series: str | None = None) -> int:
    """Print the record of `episode_id`'s AMA (exit 0), or say there is none (exit 1)."""
    series_id = series or settings.series.id
    markdown = asyncio.run(_export(settings, episode_id, series_id))
    if markdown is None:
        print(f"no AMA of {series_id}/{episode_id} in {settings.storage.database}", file=sys.stderr)
        return 1
    sys.stdout.write(markdown)
    return 0
