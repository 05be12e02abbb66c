"""The outbox's Sender for Discord, and the bridge from our payload dicts to discord.py.

Payloads are Discord message JSON made by bot/render/. Outbox posts go out as raw REST
requests through discord.py's HTTP client (so its rate-limit buckets, 429 and 5xx handling
apply) with the key's nonce and `enforce_nonce`. Replies to interactions go through discord.py's
response API, so `payload_kwargs` turns the same dicts into its objects.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.services.delivery import PermanentSendError, TransientSendError

log = logging.getLogger("amabot.sender")


def _describe(exc: discord.HTTPException) -> str:
    text = exc.text or exc.response.reason or ""
    return f"{exc.status} {text}".strip() + (f" (code {exc.code})" if exc.code else "")


class DiscordSender:
    def __init__(self, client: discord.Client):
        self._client = client
        self._channel_types: dict[int, int] = {}
        self._dm_channels: dict[int, int] = {}  # member id -> their DM channel with the bot

    async def open_dm(self, member_id: int) -> int:
        """The DM channel with a member (for ``dm:`` posts), opened once and remembered:
        Discord returns the same channel every time, so one request per member suffices."""
        channel_id = self._dm_channels.get(member_id)
        if channel_id is None:
            route = Route("POST", "/users/@me/channels")
            data = await self._request(route, {"recipient_id": str(int(member_id))})
            channel_id = int(data["id"])
            self._dm_channels[member_id] = channel_id
        return channel_id

    async def find_sent(
        self, channel_id: int, payload: dict[str, Any], *, since: datetime
    ) -> tuple[int, datetime] | None:
        """After a crash mid-send: the bot's own message carrying this payload and when Discord
        took it, if Discord has it (history does not return nonces, so the text is compared)."""
        me = self._client.user
        if me is None:
            return None
        route = Route("GET", "/channels/{channel_id}/messages", channel_id=channel_id)
        try:
            messages = await self._client.http.request(route, params={"limit": 50})
        except discord.HTTPException:
            return None
        for message in messages:
            if int(message.get("author", {}).get("id", 0)) != me.id:
                continue
            created_at = discord.utils.snowflake_time(int(message["id"]))
            if created_at < since - timedelta(minutes=1):
                continue
            if same_post(message, payload):
                return int(message["id"]), created_at
        return None

    async def send(self, channel_id: int, payload: dict[str, Any], *, nonce: str) -> int:
        body = dict(payload)
        body["nonce"] = nonce
        body["enforce_nonce"] = True
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        data = await self._request(route, body)
        return int(data["id"])

    async def edit(self, channel_id: int, message_id: int, payload: dict[str, Any]) -> None:
        route = Route(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            channel_id=channel_id,
            message_id=message_id,
        )
        await self._request(route, dict(payload))

    async def publish(self, channel_id: int, message_id: int) -> None:
        route = Route(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/crosspost",
            channel_id=channel_id,
            message_id=message_id,
        )
        await self._request(route, None)

    async def is_announcement_channel(self, channel_id: int) -> bool:
        if not channel_id or channel_id in self._dm_channels.values():
            return False  # a DM: nothing to publish
        channel = self._client.get_channel(channel_id)
        if channel is None:  # before the gateway's guild data arrives: ask once, remember
            if channel_id not in self._channel_types:
                try:
                    data = await self._client.http.get_channel(channel_id)
                except discord.HTTPException:
                    return False
                self._channel_types[channel_id] = int(data.get("type", 0))
            return self._channel_types[channel_id] == discord.ChannelType.news.value
        return isinstance(channel, discord.TextChannel) and channel.is_news()

    async def _request(self, route: Route, body: dict[str, Any] | None) -> Any:
        try:
            if body is None:
                return await self._client.http.request(route)
            return await self._client.http.request(route, json=body)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise PermanentSendError(_describe(exc)) from exc
        except discord.DiscordServerError as exc:
            raise TransientSendError(_describe(exc)) from exc
        except discord.RateLimited as exc:
            raise TransientSendError("rate limited", exc.retry_after) from exc
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(_describe(exc)) from exc
            # Any other 4xx: the request itself is wrong; sending it again cannot help.
            raise PermanentSendError(_describe(exc)) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientSendError(f"network: {type(exc).__name__}: {exc}") from exc


def allowed_mentions_from(payload: dict[str, Any]) -> discord.AllowedMentions:
    spec = payload.get("allowed_mentions") or {}
    roles = [discord.Object(int(r)) for r in spec.get("roles", [])]
    users = [discord.Object(int(u)) for u in spec.get("users", [])]
    return discord.AllowedMentions(
        everyone=False, users=users or False, roles=roles or False, replied_user=False
    )


def view_from(payload: dict[str, Any]) -> discord.ui.View | None:
    """Rebuild link buttons (and custom-id buttons) from component JSON, row by row."""
    rows = payload.get("components") or []
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(rows):
        for comp in row.get("components", []):
            if comp.get("type") != 2:
                continue
            style = discord.ButtonStyle(comp.get("style", 2))
            emoji = comp.get("emoji")
            button = discord.ui.Button(
                style=style,
                label=comp.get("label"),
                url=comp.get("url") if style is discord.ButtonStyle.link else None,
                custom_id=None if style is discord.ButtonStyle.link else comp.get("custom_id"),
                disabled=comp.get("disabled", False),
                emoji=emoji.get("name") if isinstance(emoji, dict) else emoji,
                row=row_index,
            )
            view.add_item(button)
    # Stopped: discord.py keeps every unfinished view it sends for the life of the process;
    # the button router (cogs/buttons.py) answers the clicks, so none needs keeping.
    view.stop()
    return view


def payload_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """Our payload dict -> keyword arguments for `InteractionResponse.send_message` & co."""
    kwargs: dict[str, Any] = {"allowed_mentions": allowed_mentions_from(payload)}
    if payload.get("content"):
        kwargs["content"] = payload["content"]
    embeds = [discord.Embed.from_dict(e) for e in payload.get("embeds") or []]
    if embeds:
        kwargs["embeds"] = embeds
    view = view_from(payload)
    if view is not None:
        kwargs["view"] = view
    return kwargs


def same_post(message: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether a message in the channel is this payload as sent (maybe marked "(delayed)")."""
    content = (payload.get("content") or "").strip()
    if content and not (message.get("content") or "").startswith(content[:200]):
        return False
    titles = [e.get("title") for e in payload.get("embeds") or []]
    return titles == [e.get("title") for e in message.get("embeds") or []] and bool(
        content or any(titles)
    )
