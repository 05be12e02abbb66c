"""Answering an interaction: the one home for every cog's reply.

Discord's rule: an interaction is answered (or deferred) once, within 3 s; after that, every
further message is a follow-up and the clicked message is changed through the original
response. `in_time` (bot/discord/app.py) may have deferred while the work ran, so every
helper here looks at `interaction.response.is_done()` instead of trusting the caller.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.discord.sender import payload_kwargs

log = logging.getLogger("amabot.discord.replies")


async def reply(
    interaction: discord.Interaction,
    payload: dict[str, Any],
    *,
    ephemeral: bool = True,
    file: discord.File | None = None,
) -> None:
    """Send our message payload (`bot/render`'s dict) as the answer, or as a follow-up when
    the interaction was already answered or deferred."""
    kwargs = payload_kwargs(payload)
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=ephemeral, **kwargs)
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **kwargs)


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short private text, pinging nobody, whatever state the interaction is in; never
    raises (it is also how errors are told, so it must not raise one of its own)."""
    none = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


async def edit_clicked(interaction: discord.Interaction, **kwargs: Any) -> None:
    """Change the message whose button was clicked: as the answer, or through the original
    response once the click was deferred."""
    if interaction.response.is_done():
        await interaction.edit_original_response(**kwargs)
    else:
        await interaction.response.edit_message(**kwargs)


async def defer_private(interaction: discord.Interaction) -> bool:
    """Acknowledge a command or a click at once, then work, for work that may wait (a role
    change, the store, the reconcile lock). True when the answer will replace the clicked
    private message (a deferred update), else a private "thinking…". Answer with `finish`."""
    message = interaction.message
    in_place = message is not None and message.flags.ephemeral
    if in_place:
        await interaction.response.defer()
    else:
        await interaction.response.defer(ephemeral=True, thinking=True)
    return in_place


async def finish(interaction: discord.Interaction, in_place: bool, **kwargs: Any) -> None:
    """The answer after `defer_private`: the clicked private message edited, or the
    "thinking…" followed up."""
    kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
    if in_place:
        await interaction.edit_original_response(**kwargs)
    else:
        if kwargs.get("view") is None:
            kwargs.pop("view", None)  # a follow-up takes no "remove the buttons"
        await interaction.followup.send(ephemeral=True, **kwargs)
