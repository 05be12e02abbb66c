"""Read what `bot/plan/doctor.py` checks from Discord's REST API: the application, the bot's
member and roles, the server's channels. REST only (no gateway), through discord.py's
HTTPClient: `amabot doctor` logs one in with the token; the running bot passes its own
(`bot.http`), so rate limits are shared with everything else it does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import discord

from bot.config import Settings
from bot.plan.doctor import ChannelFacts, DiscordFacts, RoleFacts, configured_channels
from bot.plan.permissions import Overwrite


def _describe(exc: discord.HTTPException) -> str:
    text = exc.text or (exc.response.reason if exc.response is not None else "") or ""
    return f"{exc.status} {text}".strip()


def _channel(data: Mapping[str, Any], guild_id: int) -> ChannelFacts:
    return ChannelFacts(
        id=int(data["id"]),
        name=str(data.get("name") or data["id"]),
        type=int(data.get("type", 0)),
        guild_id=int(data.get("guild_id") or guild_id),
        overwrites=tuple(
            Overwrite(int(o["id"]), int(o.get("type", 0)), int(o["allow"]), int(o["deny"]))
            for o in data.get("permission_overwrites") or []
        ),
    )


async def read_facts(
    http: discord.http.HTTPClient, settings: Settings, *, bot_id: int
) -> DiscordFacts:
    """Everything the checks need, in a handful of requests. A refusal becomes a fact
    (`guild_error`, `channel_errors`), never an exception: the table shows it."""
    guild_id = settings.discord.guild_id
    try:
        app = await http.application_info()
        app_id, app_name, app_error = int(app["id"]), str(app.get("name", "")), None
    except discord.HTTPException as exc:
        app_id, app_name, app_error = 0, "", _describe(exc)
    base = DiscordFacts(
        application_id=app_id,
        application_name=app_name,
        application_error=app_error,
        bot_id=bot_id,
        guild_id=guild_id,
    )
    if not guild_id:
        return base
    try:
        roles, channels, member = await asyncio.gather(
            http.get_roles(guild_id),
            http.get_all_guild_channels(guild_id),
            http.get_member(guild_id, bot_id),
        )
    except discord.HTTPException as exc:
        return DiscordFacts(**{**_fields(base), "guild_error": _describe(exc)})
    found = {int(c["id"]): _channel(c, guild_id) for c in channels}
    errors: dict[int, str] = {}
    for ch in configured_channels(settings):
        if ch.id in found or ch.id in errors:
            continue
        # Not listed: deleted, in another server, or hidden from the bot; ask for it alone.
        try:
            found[ch.id] = _channel(await http.get_channel(ch.id), guild_id)
        except discord.Forbidden as exc:
            errors[ch.id] = f"no access ({_describe(exc)})"
        except discord.HTTPException as exc:
            errors[ch.id] = _describe(exc)
    return DiscordFacts(
        **{
            **_fields(base),
            "roles": {
                int(r["id"]): RoleFacts(
                    id=int(r["id"]),
                    name=str(r.get("name", "")),
                    position=int(r.get("position", 0)),
                    permissions=int(r.get("permissions", 0)),
                    managed=bool(r.get("managed")),
                    mentionable=bool(r.get("mentionable")),
                )
                for r in roles
            },
            "bot_roles": tuple(int(r) for r in member.get("roles", [])),
            "channels": found,
            "channel_errors": errors,
        }
    )


def _fields(facts: DiscordFacts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in DiscordFacts.__dataclass_fields__}


async def read_facts_with_token(settings: Settings, token: str) -> DiscordFacts:
    """`amabot doctor`: log in over REST alone (no gateway, no IDENTIFY) and read."""
    from bot.discord.app import point_discord_at

    point_discord_at(settings.discord)
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        try:
            me = await http.static_login(token)
        except discord.LoginFailure as exc:
            return DiscordFacts(token_error=str(exc) or "401 Unauthorized")
        except discord.HTTPException as exc:
            return DiscordFacts(token_error=_describe(exc))
        return await read_facts(http, settings, bot_id=int(me["id"]))
    finally:
        await http.close()


async def application_id_with_token(settings: Settings, token: str) -> int:
    """`amabot invite` without --application-id: ask Discord which application the token is."""
    from bot.discord.app import point_discord_at

    point_discord_at(settings.discord)
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        return int((await http.application_info())["id"])
    finally:
        await http.close()
