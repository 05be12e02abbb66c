"""`amabot doctor` and `amabot invite`.

doctor: with the configured token, over REST only (no gateway, so no IDENTIFY is spent),
checks the application, the server, each configured channel and role, the events
permissions, then the webhook address and secret, the content checkout and the database. It
prints a table, each problem with its exact fix, and exits 0 when everything is fine, else 1.

invite: the OAuth2 URL with the scopes and the permission integer the configured features
need; `--markdown` prints the README's permission section from the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping

from bot.config import Settings, discord_token
from bot.plan.doctor import Finding, check_discord, check_local, format_table
from bot.plan.permissions import invite_permissions, invite_url, readme_section
from bot.services.selfcheck import local_facts


async def diagnose(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    from bot.discord.inspect import read_facts_with_token

    token = discord_token(settings, environ)  # no token: a config error, exit 2
    facts = await read_facts_with_token(settings, token)
    return [
        *check_discord(settings, facts),
        *check_local(settings, await local_facts(settings, environ)),
    ]


def run_doctor(settings: Settings, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    with contextlib.suppress(AttributeError):
        import discord

        # Voice is never used; discord.py would warn about its missing libraries.
        discord.VoiceClient.warn_nacl = False
    findings = asyncio.run(diagnose(settings, environ))
    print(format_table(findings))
    return 0 if all(f.ok for f in findings) else 1


def run_invite(settings: Settings, *, application_id: int | None, markdown: bool) -> int:
    if markdown:
        print(readme_section())
        return 0
    if not application_id:
        from bot.discord.inspect import application_id_with_token

        # No id given: the token says which application it belongs to (REST, no gateway).
        token = discord_token(settings, os.environ)
        application_id = asyncio.run(application_id_with_token(settings, token))
    print(invite_url(application_id, invite_permissions(settings)))
    return 0
