"""Cog loading and the slash commands' sync: the cogs are imported off the event loop and
loaded in order, then the command definitions are synced to Discord only when they changed
since the last sync (a digest kept in the store's state)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord.ext import commands

log = logging.getLogger("amabot")

# cogs.buttons first: the one router every other cog registers its `amabot:` buttons with.
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "cogs.buttons",
    "cogs.members",
    "cogs.organisers",
    "cogs.notify",
    "cogs.scheduled_events",
    "cogs.selfcheck",
)
STATE_COMMANDS_HASH = "commands.hash"


async def load_extensions(bot: commands.Bot, names: Sequence[str]) -> None:
    """Load the cogs in order."""
    for name in names:
        # Importing a cog's dependencies (APScheduler, icalendar, ...) is a long stretch of
        # work: in a thread, so the loop keeps running; discord.py then runs the cog module.
        await asyncio.to_thread(importlib.import_module, name)
        await bot.load_extension(name)


def command_payloads(tree: discord.app_commands.CommandTree, guild_id: int) -> dict[str, Any]:
    """The command definitions as Discord receives them, global and for the guild."""
    guild = discord.Object(guild_id) if guild_id else None
    payload = {"global": sorted((c.to_dict(tree) for c in tree.get_commands()), key=_name)}
    if guild is not None:
        payload["guild"] = sorted(
            (c.to_dict(tree) for c in tree.get_commands(guild=guild)), key=_name
        )
    return payload


async def sync_commands_if_changed(
    tree: discord.app_commands.CommandTree, application_id: int | None, guild_id: int, state: Any
) -> bool:
    """Sync to Discord only when the command definitions changed since the last sync."""
    digest = commands_digest(application_id, guild_id, command_payloads(tree, guild_id))
    if await state.get(STATE_COMMANDS_HASH) == digest:
        log.info("slash commands unchanged; not syncing")
        return False
    try:
        await tree.sync()
        if guild_id:
            await tree.sync(guild=discord.Object(guild_id))
    except discord.HTTPException as exc:
        log.error("could not sync slash commands (will retry on next start): %s", exc)
        return False
    await state.set(STATE_COMMANDS_HASH, digest)
    log.info("slash commands synced")
    return True


def commands_digest(application_id: int | None, guild_id: int, payloads: Any) -> str:
    """What a sync is remembered by. The application is part of it: a database moved to
    another application must sync there, not find the old application's digest."""
    data = json.dumps([application_id, guild_id, payloads], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def _name(command: dict[str, Any]) -> str:
    return str(command.get("name", ""))
