"""The AMA's Discord side besides messages: the public thread on the prompt, the host board's
private thread (found again after a crash, never made twice), members added to it; and our
modal JSON (bot/render/ama.py) as a discord.py modal."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord.http import Route

log = logging.getLogger("amabot.discord.ama")

THREAD_EXISTS = 160004  # "A thread has already been created for this message"
PUBLIC_THREAD, PRIVATE_THREAD = 11, 12
ARCHIVE_AFTER_MINUTES = 10080  # a week: the thread stays open from Monday's livestream on


class DiscordAmaPlaces:
    """`bot.services.ama_sessions.AmaDiscord` over discord.py's HTTP client."""

    def __init__(self, client: discord.Client, guild_id: int):
        self._client = client
        self._guild_id = guild_id

    async def start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        route = Route(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            channel_id=channel_id,
            message_id=message_id,
        )
        body = {"name": name[:100], "auto_archive_duration": ARCHIVE_AFTER_MINUTES}
        try:
            data = await self._client.http.request(route, json=body)
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return message_id  # a thread started on a message has the message's id
            raise
        return int(data["id"])

    async def private_thread(self, channel_id: int, name: str) -> int:
        found = await self._find_thread(channel_id, name)
        if found is not None:
            return found
        route = Route("POST", "/channels/{channel_id}/threads", channel_id=channel_id)
        body = {
            "name": name[:100],
            "type": PRIVATE_THREAD,
            # Its members (the organisers and hosts the bot adds) may add each other; adding
            # to a non-invitable private thread would need Manage Threads.
            "invitable": True,
            "auto_archive_duration": ARCHIVE_AFTER_MINUTES,
        }
        data = await self._client.http.request(route, json=body)
        return int(data["id"])

    async def _find_thread(self, channel_id: int, name: str) -> int | None:
        """A thread of ours with that name in that channel, if a crash lost its record."""
        if not self._guild_id:
            return None
        route = Route("GET", "/guilds/{guild_id}/threads/active", guild_id=self._guild_id)
        data: Any = await self._client.http.request(route)
        me = self._client.user.id if self._client.user else 0
        for thread in data.get("threads", []):
            if (
                int(thread.get("parent_id") or 0) == channel_id
                and thread.get("name") == name[:100]
                and int(thread.get("owner_id") or 0) == me
            ):
                return int(thread["id"])
        return None

    async def add_to_thread(self, thread_id: int, member_id: int) -> None:
        route = Route(
            "PUT",
            "/channels/{channel_id}/thread-members/{user_id}",
            channel_id=thread_id,
            user_id=member_id,
        )
        await self._client.http.request(route)


def modal_from(payload: dict[str, Any]) -> discord.ui.Modal:
    """Our modal JSON as a discord.py modal. Its submission is answered by the AMA cog's
    listener, by custom id, so it works across a restart too."""
    modal = discord.ui.Modal(
        title=payload["title"], custom_id=payload["custom_id"], timeout=15 * 60
    )
    for row in payload["components"]:
        for item in row["components"]:
            modal.add_item(
                discord.ui.TextInput(
                    label=item["label"],
                    custom_id=item["custom_id"],
                    style=discord.TextStyle(item.get("style", 1)),
                    placeholder=item.get("placeholder"),
                    default=item.get("value"),
                    required=item.get("required", True),
                    min_length=item.get("min_length"),
                    max_length=item.get("max_length"),
                )
            )
    return modal


def submitted_fields(data: Any) -> dict[str, str]:
    """A modal submission's values by the inputs' custom ids (rows or labels)."""
    values: dict[str, str] = {}

    def walk(components: Any) -> None:
        for comp in components or []:
            if "component" in comp:
                walk([comp["component"]])
            if "components" in comp:
                walk(comp["components"])
            if comp.get("custom_id") and "value" in comp:
                values[str(comp["custom_id"])] = str(comp["value"] or "")

    walk((data or {}).get("components"))
    return values
