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
import socket
from collections.abc import Mapping

from bot.config import ConfigError, Settings, discord_token, parse_listen, webhook_secret
from bot.plan.doctor import Finding, LocalFacts, check_discord, check_local, format_table
from bot.plan.permissions import invite_permissions, invite_url, readme_section
from bot.services.gitsync import GitContent
from bot.store.inspect import inspect_database


def _bind_error(listen: str) -> str | None:
    host, port = parse_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


async def local_facts(
    settings: Settings, environ: Mapping[str, str], *, bind: bool = True
) -> LocalFacts:
    """The webhook receiver, the content checkout and the database, as the doctor sees them.
    `bind=False` at run time: the bot's own receiver holds the port."""
    listen = settings.webhook.listen
    secret_set = True
    if listen:
        try:
            webhook_secret(settings, environ)
        except ConfigError:
            secret_set = False
    bind_error = await asyncio.to_thread(_bind_error, listen) if listen and bind else None
    content = settings.content
    git = GitContent(
        content.path, remote=content.remote, branch=content.branch, timeout=content.git_timeout
    )
    exists = content.path.is_dir()
    is_checkout = exists and await git.is_checkout()
    branch = content.branch or (await git.current_branch() if is_checkout else None)
    on_remote: bool | None = None
    remote_error: str | None = None
    if is_checkout:
        if branch is None:
            remote_error = "the checkout is on no branch (detached HEAD); set content.branch"
        else:
            on_remote, remote_error = await git.remote_branch(branch)
    db = await asyncio.to_thread(inspect_database, settings.storage.database)
    return LocalFacts(
        webhook_listen=listen,
        webhook_secret_set=secret_set,
        webhook_bind_error=bind_error,
        content_path=str(content.path),
        content_exists=exists,
        is_checkout=is_checkout,
        remote=content.remote,
        remote_error=remote_error,
        branch=branch,
        branch_on_remote=on_remote,
        database=str(settings.storage.database),
        database_error=db.error,
        schema=db.schema,
        schema_latest=db.latest,
        lease=db.lease,
    )


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
