"""Guild scheduled event routes for the EventReconciler (bot/plan/scheduled_events.py).

Requests go through discord.py's client, so its rate limiting and retries apply; Discord's
refusals come back as EventsApiError with the status and JSON code, which the reconciler
records (a 403 is the missing Manage Events permission).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

import aiohttp
import discord
from discord.http import Route

from bot.plan.auto_start import StagePresence
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

    def stage_presence(self, channel_id: int, host_role_ids: Iterable[int]) -> StagePresence:
        """Who is in the stage or voice channel, from the gateway's voice states (the bot asks
        for the non-privileged voice states intent when `[events] auto_start` is on)."""
        channel = self._client.get_channel(channel_id)
        states = getattr(channel, "voice_states", None) or {}
        guild = getattr(channel, "guild", None)
        hosts_roles = set(host_role_ids)
        hosts = 0
        for user_id in states:
            member = guild.get_member(user_id) if guild is not None else None
            if member is not None and hosts_roles & {r.id for r in member.roles}:
                hosts += 1
        return StagePresence(hosts=hosts, people=len(states))

    def bot_user_id(self) -> int:
        """Our own user id: the events whose creator it is are the bot's."""
        user = self._client.user
        return user.id if user is not None else 0

    async def list_events(self) -> list[dict[str, Any]]:
        """Every scheduled event of the guild, people's included (bot/services/event_sync)."""
        route = Route("GET", "/guilds/{guild_id}/scheduled-events", guild_id=self._guild_id)
        return await self._get(route, {"with_user_count": "false"})

    async def event_users(self, event_id: int, *, after: int = 0) -> list[dict[str, Any]]:
        """One page (at most 100) of the users "Interested" in an event, ids above `after`."""
        route = Route(
            "GET",
            "/guilds/{guild_id}/scheduled-events/{event_id}/users",
            guild_id=self._guild_id,
            event_id=event_id,
        )
        params: dict[str, Any] = {"limit": 100}
        if after:
            params["after"] = str(after)
        return await self._get(route, params)

    async def _get(self, route: Route, params: dict[str, Any]) -> list[dict[str, Any]]:
        # Both GET routes answer a JSON array of objects.
        return cast(list[dict[str, Any]], await self._call(route, params=params))

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
        # POST and PATCH answer the event object.
        return cast(dict[str, Any], await self._call(route, json=body))

    async def _call(self, route: Route, **kwargs: Any) -> Any:
        """One request; Discord's refusal as an EventsApiError with its status and code."""
        try:
            return await self._client.http.request(route, **kwargs)
        except discord.HTTPException as exc:
            raise EventsApiError(
                f"{exc.status} {exc.text or ''}".strip(), status=exc.status, code=exc.code or None
            ) from exc
