"""Guild scheduled event routes for the EventReconciler (bot/plan/scheduled_events.py).

Requests go through discord.py's client, so its rate limiting and retries apply; Discord's
refusals come back as EventsApiError with the status and JSON code, which the reconciler
records (a 403 is the missing Manage Events permission).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.plan.scheduled_events import EventsApiError, image_data_uri

log = logging.getLogger("amabot.events")

MAX_COVER_BYTES = 8 * 1024 * 1024
COVER_TIMEOUT = aiohttp.ClientTimeout(total=10)


class DiscordEventsApi:
    def __init__(self, client: discord.Client, guild_id: int):
        self._client = client
        self._guild_id = guild_id

    async def create_event(self, body: dict[str, Any]) -> dict[str, Any]:
        route = Route("POST", "/guilds/{guild_id}/scheduled-events", guild_id=self._guild_id)
        return await self._request(route, body)

    async def edit_event(self, event_id: int, body: dict[str, Any]) -> dict[str, Any]:
        route = Route(
            "PATCH",
            "/guilds/{guild_id}/scheduled-events/{event_id}",
            guild_id=self._guild_id,
            event_id=event_id,
        )
        return await self._request(route, body)

    async def ours(self) -> list[dict[str, Any]]:
        """The guild's scheduled events this bot made (`creator_id`): never anyone else's."""
        route = Route("GET", "/guilds/{guild_id}/scheduled-events", guild_id=self._guild_id)
        try:
            events = await self._client.http.request(route)
        except discord.HTTPException as exc:
            raise EventsApiError(
                f"{exc.status} {exc.text or ''}".strip(), status=exc.status, code=exc.code or None
            ) from exc
        me = self._client.user.id if self._client.user else None
        return [e for e in events if me is not None and int(e.get("creator_id") or 0) == me]

    async def delete_event(self, event_id: int) -> None:
        route = Route(
            "DELETE",
            "/guilds/{guild_id}/scheduled-events/{event_id}",
            guild_id=self._guild_id,
            event_id=event_id,
        )
        try:
            await self._client.http.request(route)
        except discord.HTTPException as exc:
            raise EventsApiError(
                f"{exc.status} {exc.text or ''}".strip(), status=exc.status, code=exc.code or None
            ) from exc

    async def fetch_image(self, url: str) -> str | None:
        """Download a cover (bounded in size and time); None when it cannot be had."""
        try:
            async with (
                aiohttp.ClientSession(timeout=COVER_TIMEOUT) as session,
                session.get(url) as response,
            ):
                if response.status != 200:
                    return None
                data = await response.content.read(MAX_COVER_BYTES + 1)
                if len(data) > MAX_COVER_BYTES:
                    return None
                return image_data_uri(response.headers.get("Content-Type", ""), data)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("no cover image from %s: %s", url, exc)
            return None

    async def _request(self, route: Route, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._client.http.request(route, json=body)
        except discord.HTTPException as exc:
            raise EventsApiError(
                f"{exc.status} {exc.text or ''}".strip(), status=exc.status, code=exc.code or None
            ) from exc
