"""Who counts as an organiser: the one check every staff command and button uses.

Decided on the bot's side, on every invocation and every click (Discord's default
permissions are only a hint in the client, and a forwarded preview or a lost role must not
grant anything): a member of the community's server holding a role whose *id* is in
`[organisers] role_ids`, or, when that list is empty, a member with the Manage Events
permission. Role names never count, so a look-alike role grants nothing.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.config import Settings


def is_organiser(user: discord.abc.User, settings: Settings) -> bool:
    """Whether this member holds an organiser role (or Manage Events when none is named)."""
    if not isinstance(user, discord.Member):
        return False  # in a DM there is no guild role to hold
    if settings.organisers.role_ids:
        wanted = set(settings.organisers.role_ids)
        return any(role.id in wanted for role in user.roles)
    return user.guild_permissions.manage_events


class NotOrganiser(app_commands.CheckFailure):
    """A staff command refused; its text is told to the member (bot/discord/app.py)."""


def organiser_refusal(interaction: discord.Interaction) -> str | None:
    """Why this interaction may not use organiser features, or None when it may."""
    client: Any = interaction.client
    settings: Settings = client.settings
    if interaction.guild is None:
        return "Organiser commands work in the server, not in direct messages."
    if settings.discord.guild_id and interaction.guild_id != settings.discord.guild_id:
        return "Organiser commands work only in the community's server."
    if not is_organiser(interaction.user, settings):
        return "Only organisers can do that."
    return None


def require_organiser(interaction: discord.Interaction) -> bool:
    """For a command group's `interaction_check`: True, or `NotOrganiser` with the reason."""
    refusal = organiser_refusal(interaction)
    if refusal is not None:
        raise NotOrganiser(refusal)
    return True
