"""`amabot doctor` against the stand-in: a healthy set-up passes, and each misconfiguration
is found with its fix (one test each). REST only: the bot is never started here."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import pytest

from bot.cli.doctor import diagnose, run_doctor
from bot.config import load_settings
from bot.plan.doctor import Finding, format_table
from testkit import storeview
from testkit.harness import Harness, git
from testkit.sandbox.state import (
    BOT_DEFAULT,
    CONNECT,
    EMBED_LINKS,
    MANAGE_CHANNELS,
    MANAGE_EVENTS,
    MANAGE_ROLES,
    READ_MESSAGE_HISTORY,
    VIEW_CHANNEL,
    Overwrite,
)

MUTE_MEMBERS, MOVE_MEMBERS = 1 << 22, 1 << 24


def reconfigure(h: Harness, **sections: dict[str, Any]) -> None:
    merged = {k: dict(v) for k, v in h.overrides.items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    h.overrides = merged
    h.settings = load_settings(h.write_config(), environ=h.environ)


async def findings(h: Harness) -> list[Finding]:
    return await diagnose(h.settings, h.environ)


def problems(found: list[Finding]) -> list[Finding]:
    return [f for f in found if not f.ok]


def only_problem(found: list[Finding]) -> Finding:
    bad = problems(found)
    assert len(bad) == 1, format_table(found)
    return bad[0]


def full_setup(h: Harness) -> None:
    """Every feature on: alerts channel, stage AMA events, opt-in roles."""
    sb = h.sandbox
    h.alerts = sb.add_channel(h.guild, "organisers", "text")
    h.optin_role = sb.add_role(h.guild, "Livestream pings", mentionable=True)
    sb.set_bot_permissions(h.guild, BOT_DEFAULT | MANAGE_CHANNELS | MUTE_MEMBERS | MOVE_MEMBERS)
    reconfigure(
        h,
        organisers={"alerts_channel_id": h.alerts.id},
        events={"enabled": True, "ama_stage_channel_id": h.stage.id},
        optin={"livestream_role_id": h.optin_role.id},
    )


async def test_a_healthy_setup_passes_every_check(harness, capsys):
    full_setup(harness)
    found = await findings(harness)
    assert problems(found) == [], format_table(found)
    checks = " ".join(f.check for f in found)
    for word in ("application", "server", "#announcements", "#reminders", "#organisers",
                 "#ama-stage", "role Livestream pings", "events", "webhook", "content",
                 "database"):  # fmt: skip
        assert word in checks
    # The same through the CLI entry (its own event loop): a table and exit 0.
    assert await asyncio.to_thread(run_doctor, harness.settings, harness.environ) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out
    if os.environ.get("AMABOT_PRINT_DOCTOR"):  # for the README's sample
        print(out, file=sys.__stderr__)


async def test_refused_token(harness):
    harness.environ["DISCORD_TOKEN"] = "not-the-token"
    bad = only_problem(await findings(harness))
    assert bad.check == "token"
    assert "DISCORD_TOKEN" in bad.fix


async def test_bot_not_in_the_server(harness):
    reconfigure(harness, discord={"guild_id": 123456789012345678})
    bad = only_problem(await findings(harness))
    assert "cannot read this server" in bad.problem
    assert "amabot invite" in bad.fix


async def test_deleted_channel(harness):
    del harness.guild.channels[harness.reminders.id]
    del harness.sandbox.world.channels[harness.reminders.id]
    bad = only_problem(await findings(harness))
    assert "no such channel" in bad.problem
    assert "reminders.channel_id" in bad.fix


async def test_channel_of_the_wrong_type(harness):
    voice = harness.sandbox.add_channel(harness.guild, "lounge", "voice")
    reconfigure(harness, reminders={"channel_id": voice.id})
    bad = only_problem(await findings(harness))
    assert "voice channel, not text or announcement" in bad.problem
    assert "reminders.channel_id" in bad.fix


async def test_send_denied_by_a_member_overwrite(harness):
    await harness.sandbox.deny_channel(harness.announcements)
    bad = only_problem(await findings(harness))
    assert bad.channel_id == harness.announcements.id
    assert "lacks Send Messages" in bad.problem
    assert "the bot itself" in bad.problem
    assert "allow Send Messages" in bad.fix and "#announcements" in bad.fix


async def test_history_denied_to_everyone(harness):
    guild = harness.guild
    harness.reminders.overwrites.append(Overwrite(guild.id, 0, deny=READ_MESSAGE_HISTORY))
    bad = only_problem(await findings(harness))
    assert "lacks Read Message History" in bad.problem
    assert "@everyone" in bad.problem


async def test_embed_links_missing_in_the_server(harness):
    sb = harness.sandbox
    sb.set_bot_permissions(harness.guild, BOT_DEFAULT & ~EMBED_LINKS)
    harness.guild.everyone.permissions &= ~EMBED_LINKS
    bad = problems(await findings(harness))
    assert {f.channel_id for f in bad} == {harness.announcements.id, harness.reminders.id}
    assert all("Embed Links" in f.problem for f in bad)


async def test_hidden_channel_asks_for_view_channel_first(harness):
    harness.reminders.overwrites.append(Overwrite(harness.guild.id, 0, deny=VIEW_CHANNEL))
    bad = only_problem(await findings(harness))
    assert "lacks View Channel" in bad.problem
    assert "Send Messages" not in bad.problem


async def test_pinged_role_not_mentionable(harness):
    harness.guild.roles[harness.members_role.id].mentionable = False
    bad = only_problem(await findings(harness))
    assert bad.check == f"role {harness.members_role.name}"
    assert "not mentionable" in bad.problem
    assert "Allow anyone to @mention this role" in bad.fix


async def test_missing_role(harness):
    reconfigure(harness, organisers={"role_ids": [987654321098765432]})
    bad = only_problem(await findings(harness))
    assert "no such role" in bad.problem
    assert "organisers.role_ids" in bad.fix


async def test_optin_role_above_the_bots_role(harness):
    role = harness.sandbox.add_role(harness.guild, "AMA pings")
    role.position = 50
    reconfigure(harness, optin={"ama_role_id": role.id})
    bad = only_problem(await findings(harness))
    assert "not below the bot's role" in bad.problem
    assert "drag amabot above AMA pings" in bad.fix


async def test_optin_role_managed_by_an_integration(harness):
    role = harness.sandbox.add_role(harness.guild, "Booster")
    role.managed = True
    role.position = 0
    reconfigure(harness, optin={"recaps_role_id": role.id})
    bad = only_problem(await findings(harness))
    assert "managed by an integration" in bad.problem


async def test_optin_role_without_manage_roles(harness):
    role = harness.sandbox.add_role(harness.guild, "Recap pings")
    harness.sandbox.set_bot_permissions(harness.guild, BOT_DEFAULT & ~MANAGE_ROLES)
    reconfigure(harness, optin={"recaps_role_id": role.id})
    bad = only_problem(await findings(harness))
    assert "lacks Manage Roles" in bad.problem


async def test_events_without_manage_events(harness):
    harness.sandbox.set_bot_permissions(harness.guild, BOT_DEFAULT & ~MANAGE_EVENTS & ~(1 << 44))
    reconfigure(harness, events={"enabled": True})
    bad = only_problem(await findings(harness))
    assert bad.check.startswith("events (external AMA")
    assert "Manage Events" in bad.fix


async def test_stage_event_without_the_stage_permissions(harness):
    harness.stage.overwrites.clear()  # the admin never granted them on the stage
    reconfigure(harness, events={"enabled": True, "ama_stage_channel_id": harness.stage.id})
    bad = only_problem(await findings(harness))
    assert bad.channel_id == harness.stage.id
    for name in ("Manage Channels", "Mute Members", "Move Members"):
        assert name in bad.problem


async def test_voice_event_without_connect(harness):
    voice = harness.sandbox.add_channel(harness.guild, "ama-voice", "voice")
    voice.overwrites.append(Overwrite(harness.guild.id, 0, deny=CONNECT))
    reconfigure(harness, events={"enabled": True, "ama_voice_channel_id": voice.id})
    bad = only_problem(await findings(harness))
    assert "lacks Connect" in bad.problem


async def test_webhook_secret_missing(harness):
    del harness.environ["GITHUB_WEBHOOK_SECRET"]
    bad = only_problem(await findings(harness))
    assert "GITHUB_WEBHOOK_SECRET is not set" in bad.problem


async def test_webhook_port_in_use(harness):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        reconfigure(harness, webhook={"listen": f"127.0.0.1:{taken.getsockname()[1]}"})
        bad = only_problem(await findings(harness))
    assert "cannot listen there" in bad.problem


async def test_content_remote_unreachable(harness):
    git("remote", "set-url", "origin", str(harness.base / "gone.git"), cwd=harness.repo.checkout)
    bad = only_problem(await findings(harness))
    assert "git remote origin is not reachable" in bad.problem
    assert "fetch origin" in bad.fix


async def test_content_branch_not_on_the_remote(harness):
    reconfigure(harness, content={"branch": "release"})
    bad = only_problem(await findings(harness))
    assert "branch release is not on origin" in bad.problem


async def test_database_path_under_a_file(harness):
    (harness.base / "data").write_text("a file, not a folder")
    reconfigure(harness, storage={"database": str(harness.base / "data" / "amabot.sqlite3")})
    bad = only_problem(await findings(harness))
    assert "is not a folder" in bad.problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
async def test_database_folder_not_writable(harness):
    folder = harness.base / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        reconfigure(harness, storage={"database": str(folder / "amabot.sqlite3")})
        bad = only_problem(await findings(harness))
    finally:
        folder.chmod(0o700)
    assert "not writable" in bad.problem


async def test_database_from_a_newer_amabot(harness):
    path = harness.settings.storage.database
    storeview.set_schema_version(path, 99)
    bad = only_problem(await findings(harness))
    assert "newer than this amabot" in bad.problem
